"""Per-session state for applications and agents on any fsspec filesystem."""

from __future__ import annotations

from .adapter import DEFAULT_SESSION_BUCKET, SessionStorageAdapter, get_default_storage_adapter
from .admin.rekey import RekeyResult, rekey
from .admin.transfer import CopyProgress, CopyResult, copy_sessions
from .backends.capabilities import Capabilities
from .concurrency.background import SaveHandle
from .concurrency.exit_budget import set_exit_timeout
from .core.document import METADATA_KEY
from .core.errors import *  # noqa: F403
from .core.errors import __all__ as __all__
from .core.versions import VersionedBytes, VersionedState
from .operations.check import CheckReport, CheckStep
from .operations.events import EventRecord
from .settings import StorageSettings
from .storage import DEFAULT_FILENAME, SessionStorage
from .sync import SyncSessionStorage

# The error classes are listed once, in core.errors.__all__: the star import takes them,
# and importing that list as ``__all__`` makes mypy treat each one as re-exported from
# here (a list built at run time alone would hide them from type checkers).
__all__ = [
    *__all__,
    "DEFAULT_FILENAME",
    "DEFAULT_SESSION_BUCKET",
    "METADATA_KEY",
    "Capabilities",
    "CheckReport",
    "CheckStep",
    "CopyProgress",
    "CopyResult",
    "EventRecord",
    "RekeyResult",
    "SaveHandle",
    "SessionStorage",
    "SessionStorageAdapter",
    "StorageSettings",
    "SyncSessionStorage",
    "VersionedBytes",
    "VersionedState",
    "copy_sessions",
    "get_default_storage_adapter",
    "rekey",
    "set_exit_timeout",
]

__version__ = "0.1.0"
