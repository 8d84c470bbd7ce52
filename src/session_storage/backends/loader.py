"""Helpers for backends' client libraries: optional imports and orphaned sessions."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from ..errors import MissingDependencyError

__all__ = ["close_aiohttp_session", "require"]


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``; raise MissingDependencyError naming the extra if absent."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f'the {extra} backend needs {module}: pip install "session-storage[{extra}]"',
            backend=extra,
        ) from exc


def close_aiohttp_session(session: Any) -> None:
    """Close an aiohttp ClientSession whose event loop has already ended.

    ``await session.close()`` needs that loop. Closing the connector's transports
    directly releases the sockets; a transport that insists on its dead loop is left
    to the garbage collector. Either way the session counts as closed afterwards, so
    aiohttp does not report it as leaked.
    """
    connector = getattr(session, "_connector", None)
    if connector is None:
        return
    try:
        connector._close()
    except RuntimeError:  # "Event loop is closed" from a transport's callback
        pass
    session._connector = None
