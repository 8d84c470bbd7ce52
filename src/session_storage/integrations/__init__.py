"""Drop-in session backends for agent frameworks, one module per framework.

Each module sits on the public API of :class:`~session_storage.SessionStorage` and
:class:`~session_storage.SyncSessionStorage`, and is the only place its framework is
imported: this package imports none, so the core never needs a framework installed.
Importing a module whose framework is missing raises
:class:`~session_storage.core.errors.MissingDependencyError` naming the extra to install
(``pip install 'session-storage[langgraph]'``, say).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from types import ModuleType
from typing import Any, Protocol, TypeVar

from ..core.errors import CorruptDataError, InvalidArgumentError, import_optional
from ..storage import SessionStorage
from ..sync import SyncSessionStorage

__all__ = ["check_name", "check_storage", "corrupt", "on_storage", "require"]

T = TypeVar("T")


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


def check_storage(storage: object) -> SessionStorage | SyncSessionStorage:
    """``storage`` if it is a SessionStorage or a SyncSessionStorage, else
    InvalidArgumentError naming what it got."""
    if not isinstance(storage, (SessionStorage, SyncSessionStorage)):
        raise InvalidArgumentError(
            "storage must be a SessionStorage or a SyncSessionStorage, "
            f"got {type(storage).__name__}"
        )
    return storage


def check_name(what: str, value: object) -> str:
    """``value`` if it is a non-empty str (a session id, a stream), else
    InvalidArgumentError naming ``what``."""
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{what} must be a non-empty str, got {value!r}")
    return value


async def on_storage(
    storage: SessionStorage | SyncSessionStorage,
    call: Callable[[SessionStorage], Coroutine[Any, Any, T]],
) -> T:
    """Await ``call(storage)`` on the loop the storage runs on: a SyncSessionStorage runs
    its own loop in a thread, where the coroutine goes while this loop waits for it
    without blocking."""
    if isinstance(storage, SyncSessionStorage):
        return await asyncio.wrap_future(storage.submit(call(storage.async_storage)))
    return await call(storage)
