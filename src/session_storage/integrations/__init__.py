"""Drop-in session backends for agent frameworks, one module per framework.

Each module sits on the public API of :class:`~session_storage.SessionStorage` and
:class:`~session_storage.SyncSessionStorage`, and is the only place its framework is
imported: this package imports none, so the core never needs a framework installed.
Importing a module whose framework is missing raises
:class:`~session_storage.core.errors.MissingDependencyError` naming the extra to install
(``pip install 'session-storage[langgraph]'``, say).
"""

from __future__ import annotations

from types import ModuleType
from typing import Protocol

from ..core.errors import CorruptDataError, import_optional

__all__ = ["corrupt", "require"]


class _Named(Protocol):
    @property
    def backend(self) -> str: ...


def corrupt(storage: _Named, session_id: str, filename: str, what: str) -> CorruptDataError:
    """The error for a stored file (or event stream) that does not hold ``what``: a
    framework's object that is damaged or was written by something else."""
    return CorruptDataError(
        f"{storage.backend}: session {session_id!r} file {filename!r} does not hold {what}",
        backend=storage.backend,
        session_id=session_id,
        filename=filename,
    )


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` of a framework, or raise MissingDependencyError naming ``extra``."""
    return import_optional(
        module,
        f"session_storage.integrations.{extra.replace('-', '_')} needs {module!r}, "
        f"which is not installed: pip install 'session-storage[{extra}]'",
    )
