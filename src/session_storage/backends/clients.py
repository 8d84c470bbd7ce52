"""What the cloud drivers need around their client libraries.

Importing an optional client with an error that names the extra to install, and
closing an aiohttp session whose event loop is gone.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from ..core.errors import import_optional
from .registry import Backend

__all__ = ["close_aiohttp_session", "require"]


def require(module: str, backend: Backend) -> ModuleType:
    """Import ``module`` for ``backend``.

    Raises MissingDependencyError naming the backend's extra if it is not installed.
    """
    message = f"the {backend.name} backend needs {module}"
    if backend.extra is not None:
        message += f': pip install "session-storage[{backend.extra}]"'
    return import_optional(module, message, backend=backend.name)


def close_aiohttp_session(session: Any) -> None:
    """Close an aiohttp ClientSession whose event loop is not running any more.

    ``await session.close()`` needs that loop, and aiohttp's own synchronous close
    does nothing once the loop is closed, which leaves every pooled socket open until
    the garbage collector finds it. No loop is using these sockets, so they are
    closed here directly, and the session is marked closed.
    """
    connector = getattr(session, "_connector", None)
    if connector is None:
        return
    protocols = [proto for conns in getattr(connector, "_conns", {}).values() for proto, _ in conns]
    protocols.extend(getattr(connector, "_acquired", ()))
    for proto in protocols:
        transport: Any = getattr(proto, "transport", None)
        sock = getattr(transport, "_sock", None)
        if sock is not None:
            sock.close()
            transport._sock = None  # the transport would warn about a socket it still held
    try:
        connector._close()
    except RuntimeError:  # a transport callback scheduled on the dead loop
        pass
    session._connector = None
