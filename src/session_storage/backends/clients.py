"""What the cloud drivers need around their client libraries.

Importing an optional client with an error that names the extra to install, closing
an aiohttp session whose event loop is gone, and botocore sessions that share the
data files botocore has already parsed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from ..core.errors import import_optional
from .registry import Backend

__all__ = ["botocore_session", "close_aiohttp_session", "require"]

# One botocore data loader per data path (AWS_DATA_PATH), for every session of the
# process: what it holds is botocore's own read-only data files, parsed once.
_LOADERS: dict[Any, Any] = {}
_LOADERS_LOCK = threading.Lock()


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


def botocore_session(kwargs: Mapping[str, Any]) -> Any:
    """A new aiobotocore session (``kwargs`` as s3fs would give it: ``profile``, ...)
    whose data loader is shared with every other session of the process.

    botocore parses its JSON data files (the endpoint list, the S3 service model and
    its endpoint rules: megabytes of JSON) once per *session*, and s3fs makes a session
    per filesystem: every new storage paid 50-150 ms of parsing before its first
    request, far more than the request. Those files do not change while the process
    runs, and botocore only reads what it loaded (it shares it among the clients of
    one session the same way), so one loader serves every session. Credentials,
    configuration and event handlers stay the session's own.
    """
    from aiobotocore.session import AioSession
    from botocore.loaders import create_loader

    session = AioSession(**kwargs)
    data_path = session.get_config_variable("data_path")
    with _LOADERS_LOCK:
        loader = _LOADERS.get(data_path)
        if loader is None:
            loader = _LOADERS[data_path] = create_loader(data_path)
    session.register_component("data_loader", loader)
    return session
