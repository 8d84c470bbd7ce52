"""Per-session state for applications and agents on any fsspec filesystem."""

from __future__ import annotations

from .adapter import DEFAULT_SESSION_BUCKET, SessionStorageAdapter, get_default_storage_adapter
from .admin.rekey import RekeyResult, rekey
from .admin.transfer import CopyProgress, CopyResult, copy_sessions
from .concurrency.background import SaveHandle
from .concurrency.exit_budget import set_exit_timeout
from .core.document import METADATA_KEY
from .core.errors import (
    BackendError,
    BackendUnavailableError,
    BackgroundSaveError,
    BatchError,
    ConfigurationError,
    ConflictError,
    CorruptDataError,
    EncryptionKeyError,
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
)
from .core.versions import VersionedBytes, VersionedState
from .operations.events import EventRecord
from .settings import StorageSettings
from .storage import DEFAULT_FILENAME, SessionStorage
from .sync import SyncSessionStorage

__all__ = [
    "DEFAULT_FILENAME",
    "DEFAULT_SESSION_BUCKET",
    "METADATA_KEY",
    "BackendError",
    "BackendUnavailableError",
    "BackgroundSaveError",
    "BatchError",
    "ConfigurationError",
    "ConflictError",
    "CopyProgress",
    "CopyResult",
    "CorruptDataError",
    "EncryptionKeyError",
    "EventRecord",
    "ForeignRootError",
    "InvalidArgumentError",
    "InvalidKeyError",
    "MissingDependencyError",
    "NotSupportedError",
    "PermissionDeniedError",
    "RekeyResult",
    "SaveHandle",
    "SerializationError",
    "SessionStorage",
    "SessionStorageAdapter",
    "SessionStorageError",
    "StorageNotFoundError",
    "StorageSettings",
    "StorageTimeoutError",
    "SyncSessionStorage",
    "TooManyPendingSavesError",
    "UnsafePathError",
    "VersionedBytes",
    "VersionedState",
    "copy_sessions",
    "get_default_storage_adapter",
    "rekey",
    "set_exit_timeout",
]

__version__ = "0.1.0"
