"""Event logs as the facade offers them: append, read, count and truncate a stream.

This module checks the caller's arguments, builds the :class:`StreamRef` of a
session's stream and runs each operation through :meth:`Scope.call`. How a stream is
laid out and written lives in :mod:`session_storage.event_log`; idempotency keys in
:mod:`session_storage.idempotency`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from .arguments import check_int
from .context import Scope
from .errors import InvalidArgumentError
from .event_log import INDEX_WIDTH, MAX_EVENTS, StreamRef, event_name
from .idempotency import CLAIM_LEASE_SECONDS, append_keyed
from .keys import encode_filename, join

__all__ = [
    "CLAIM_LEASE_SECONDS",
    "INDEX_WIDTH",
    "MAX_EVENTS",
    "append",
    "count",
    "event_name",
    "iter_items",
    "read",
    "truncate",
]


def stream_ref(scope: Scope, session_id: str, stream: str) -> StreamRef:
    """The stream ``stream`` of a session; raises InvalidKeyError for unusable names."""
    folder = join(scope.folder(session_id).path, encode_filename(stream, "stream"))
    scope.check_length(session_id, stream, StreamRef.longest_path(folder))
    return StreamRef(session_id, stream, folder, scope)


async def append(scope: Scope, session_id: str, stream: str, item: Any, key: str | None) -> int:
    """See :meth:`SessionStorage.append_event`."""
    ref = stream_ref(scope, session_id, stream)
    action = "append an event to"
    scope.require_conditions(action, ref)
    logs = scope.shared.event_logs
    if key is not None and (not isinstance(key, str) or not key):
        raise logs.invalid(ref, f"idempotency_key must be a non-empty str, got {key!r}")
    data = logs.encode_event(ref, item, key)
    if key is None:
        return await scope.call(ref, action, logs.append(ref, data))
    return await scope.call(ref, action, append_keyed(logs, ref, data, key))


async def read(
    scope: Scope, session_id: str, stream: str, start: int, limit: int | None
) -> list[Any]:
    """See :meth:`SessionStorage.read_events`."""
    ref = stream_ref(scope, session_id, stream)
    return await scope.call(ref, "read events of", scope.shared.event_logs.read(ref, start, limit))


def iter_items(
    scope: Scope, session_id: str, stream: str, start: int, page_size: int
) -> AsyncIterator[Any]:
    """See :meth:`SessionStorage.iter_events`; arguments are checked here, at the call."""
    ref = stream_ref(scope, session_id, stream)
    try:
        check_int("page_size", page_size, 1)
        check_int("start", start, 0)
    except InvalidArgumentError as exc:
        raise scope.shared.event_logs.invalid(ref, str(exc)) from None
    return _pages(scope, session_id, stream, start, page_size)


async def _pages(
    scope: Scope, session_id: str, stream: str, start: int, page_size: int
) -> AsyncIterator[Any]:
    while True:
        page = await read(scope, session_id, stream, start, page_size)
        for item in page:
            yield item
        if len(page) < page_size:
            return
        start += len(page)


async def count(scope: Scope, session_id: str, stream: str) -> int:
    """See :meth:`SessionStorage.event_count`."""
    ref = stream_ref(scope, session_id, stream)
    return await scope.call(ref, "count events of", scope.shared.event_logs.count(ref))


async def truncate(scope: Scope, session_id: str, stream: str, length: int) -> int:
    """See :meth:`SessionStorage.truncate_events`."""
    ref = stream_ref(scope, session_id, stream)
    logs = scope.shared.event_logs
    return await scope.call(ref, "truncate events of", logs.truncate(ref, length))
