"""The library's errors, each a subclass of the matching builtin (see README "Errors").

Defined in :mod:`session_storage.core.errors`; this is their public import path."""

from __future__ import annotations

from .core.errors import (
    BackendError,
    BackendUnavailableError,
    BackgroundSaveError,
    BatchError,
    ConfigurationError,
    ConflictError,
    CorruptDataError,
    EncryptionKeyError,
    ErrorKind,
    ForeignRootError,
    InvalidArgumentError,
    InvalidKeyError,
    MissingDependencyError,
    NotSupportedError,
    PermissionDeniedError,
    SerializationError,
    SessionStorageError,
    StorageNotFoundError,
    StorageTimeoutError,
    TooManyPendingSavesError,
    UnsafePathError,
    translate,
)

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "BackgroundSaveError",
    "BatchError",
    "ConfigurationError",
    "ConflictError",
    "CorruptDataError",
    "EncryptionKeyError",
    "ErrorKind",
    "ForeignRootError",
    "InvalidArgumentError",
    "InvalidKeyError",
    "MissingDependencyError",
    "NotSupportedError",
    "PermissionDeniedError",
    "SerializationError",
    "SessionStorageError",
    "StorageNotFoundError",
    "StorageTimeoutError",
    "TooManyPendingSavesError",
    "UnsafePathError",
    "translate",
]
