"""Per-session state for applications and agents on any fsspec filesystem."""

from __future__ import annotations

from .adapter import DEFAULT_SESSION_BUCKET, SessionStorageAdapter, get_default_storage_adapter
from .codec import METADATA_KEY
from .errors import (
    BackendError,
    BackendUnavailableError,
    BatchError,
    ConfigurationError,
    ConflictError,
    CorruptDataError,
    InvalidArgumentError,
    InvalidKeyError,
    MissingDependencyError,
    PermissionDeniedError,
    SerializationError,
    SessionStorageError,
    StorageNotFoundError,
)
from .settings import StorageSettings
from .storage import DEFAULT_FILENAME, SessionStorage

__all__ = [
    "DEFAULT_FILENAME",
    "DEFAULT_SESSION_BUCKET",
    "METADATA_KEY",
    "BackendError",
    "BackendUnavailableError",
    "BatchError",
    "ConfigurationError",
    "ConflictError",
    "CorruptDataError",
    "InvalidArgumentError",
    "InvalidKeyError",
    "MissingDependencyError",
    "PermissionDeniedError",
    "SerializationError",
    "SessionStorage",
    "SessionStorageAdapter",
    "SessionStorageError",
    "StorageNotFoundError",
    "StorageSettings",
    "get_default_storage_adapter",
]

__version__ = "0.1.0"
