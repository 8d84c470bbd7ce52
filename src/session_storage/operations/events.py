"""Event logs as the facade offers them: append, read, count and truncate a stream.

This module checks the caller's arguments, builds the :class:`StreamRef` of a
session's stream and runs each operation through :meth:`Scope.call`. How a stream is
laid out lives in :mod:`session_storage.events.layout`, how it is written and read in
:mod:`session_storage.events.log`; idempotency keys in :mod:`session_storage.events.idempotency`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from ..core.arguments import check_int
from ..core.document import utc_now_iso
from ..core.errors import InvalidArgumentError, SerializationError
from ..core.keys import encode_filename, join
from ..events.documents import encode_event
from ..events.group import Outcome
from ..events.idempotency import KEY_WINDOW
from ..events.layout import INDEX_WIDTH, MAX_EVENTS, SEGMENT_SIZE, StreamRef
from .scope import Scope

__all__ = [
    "INDEX_WIDTH",
    "KEY_WINDOW",
    "MAX_EVENTS",
    "SEGMENT_SIZE",
    "EventRecord",
    "append",
    "append_many",
    "count",
    "iter_items",
    "pop",
    "read",
    "truncate",
]


class EventRecord(NamedTuple):
    """One event as readers see it with ``with_records=True``: a named tuple, so
    ``index, appended_at, item = record`` unpacks it and ``record.item`` names it."""

    # The field hides tuple.index(), which no caller of a record needs; the name is
    # the one the records have always had.
    index: int  # type: ignore[assignment]
    """Its position in the stream, from 0."""
    appended_at: datetime
    """When it was appended (UTC, timezone-aware)."""
    item: Any
    """The JSON value that was appended."""


def stream_ref(scope: Scope, session_id: str, stream: str) -> StreamRef:
    """The stream ``stream`` of a session; raises InvalidKeyError for unusable names."""
    folder = join(scope.folder(session_id).path, encode_filename(stream, "stream"))
    scope.check_length(session_id, stream, StreamRef.longest_path(folder))
    return StreamRef(session_id, stream, folder)


async def append(
    scope: Scope,
    session_id: str,
    stream: str,
    item: Any,
    key: str | None,
    at_least: int | None = None,
    exactly: int | None = None,
) -> int:
    """Append ``item`` (any JSON value) to the session's event ``stream``; its index.

    The one-item case of :func:`append_many`.
    """
    return await _append(scope, session_id, stream, (item,), key, at_least, exactly)


async def append_many(
    scope: Scope,
    session_id: str,
    stream: str,
    items: Sequence[Any],
    key: str | None,
    at_least: int | None = None,
    exactly: int | None = None,
) -> int:
    """Append ``items`` in order as one unit; the index of the first.

    One conditional write of the stream's tail commits them all: readers see all of
    them or none, a crash leaves all or none, and of several workers appending at
    once each gets its own contiguous run of indices (see
    :mod:`session_storage.events.log`). A single writer needs one request (two when
    the batch fills a segment). With ``key`` (an idempotency key) a repeated call
    returns the first index of the first call and writes nothing, as long as the key
    is among the stream's last :data:`KEY_WINDOW` keys (see
    :mod:`session_storage.events.idempotency`). An empty ``items`` writes nothing and
    returns the stream's length. A missing stream is created by its first append; a
    stream name nests with ``/`` like a filename.

    With ``at_least``, the stream must hold at least that many events: one that holds
    fewer (another worker truncated it, or deleted the session, since the caller saw
    it) raises ConflictError and nothing is written. With ``exactly``, it must hold
    that many: the optimistic check of an event store (another worker appended,
    truncated or deleted since: ConflictError, nothing written). The store enforces
    both with the same conditional write, at no extra request.
    """
    ref = stream_ref(scope, session_id, stream)
    logs = scope.shared.event_logs
    if isinstance(items, (str, bytes, bytearray, dict)) or not isinstance(items, Sequence):
        raise logs.invalid(ref, f"items must be a list of JSON values, got {type(items).__name__}")
    if not items:
        return await count(scope, session_id, stream)
    return await _append(scope, session_id, stream, tuple(items), key, at_least, exactly)


async def _append(
    scope: Scope,
    session_id: str,
    stream: str,
    items: tuple[Any, ...],
    key: str | None,
    at_least: int | None,
    exactly: int | None,
) -> int:
    ref = stream_ref(scope, session_id, stream)
    action = "append an event to"
    scope.require_conditions(action, ref)
    logs = scope.shared.event_logs
    if key is not None and (not isinstance(key, str) or not key):
        raise logs.invalid(ref, f"idempotency_key must be a non-empty str, got {key!r}")
    for name, value in (("if_count_at_least", at_least), ("if_count", exactly)):
        if value is not None:
            try:
                check_int(name, value, 0)
            except InvalidArgumentError as exc:
                raise logs.invalid(ref, str(exc)) from None
    now = utc_now_iso()
    events = []
    for position, item in enumerate(items):
        try:
            events.append(encode_event(item, now))
        except ValueError as exc:
            which = "the event" if len(items) == 1 else f"item {position}"
            why = f"{which} is not JSON-serializable: {exc}"
            raise logs.error(SerializationError, ref, action, why) from exc

    def run(write: Awaitable[list[Outcome]]) -> Awaitable[list[Outcome]]:
        return scope.call(ref, action, write)

    # Not through scope.call: the append may wait for a write already in flight, and
    # its own write is awaited (bounded, translated) by ``run``.
    return await logs.append(ref, tuple(events), key, at_least or 0, exactly, run=run)


async def pop(scope: Scope, session_id: str, stream: str, how_many: int) -> list[Any]:
    """Remove the last ``how_many`` events and return their items in index order.

    Fewer if the stream is shorter; ``[]`` for a missing or empty stream. Atomic: one
    conditional write of the tail, so of two workers popping the last item exactly
    one gets it.
    """
    ref = stream_ref(scope, session_id, stream)
    logs = scope.shared.event_logs
    try:
        check_int("count", how_many, 0)
    except InvalidArgumentError as exc:
        raise logs.invalid(ref, str(exc)) from None
    scope.require_conditions("pop events of", ref)
    return await scope.call(ref, "pop events of", logs.pop(ref, how_many))


async def read(
    scope: Scope,
    session_id: str,
    stream: str,
    start: int,
    limit: int | None,
    with_records: bool = False,
) -> list[Any]:
    """The items of events ``start, start+1, ...`` (at most ``limit``), in order.

    A negative ``start`` counts from the end, as in slicing: ``-20`` is the latest 20
    (fewer if the stream is shorter). The item at position ``i`` has index
    ``start + i``. A missing stream, or a ``start`` past the end, gives ``[]``. With
    ``with_records`` each element is an :class:`EventRecord` instead of the bare item.
    """
    ref = stream_ref(scope, session_id, stream)
    logs = scope.shared.event_logs
    if not isinstance(with_records, bool):
        raise logs.invalid(ref, f"with_records must be a bool, got {with_records!r}")
    got = await scope.call(ref, "read events of", logs.read(ref, start, limit, with_records))
    if with_records:
        return [EventRecord._make(record) for record in got]
    return got


def iter_items(
    scope: Scope,
    session_id: str,
    stream: str,
    start: int,
    page_size: int,
    with_records: bool = False,
) -> AsyncIterator[Any]:
    """Yield the items of the stream from ``start`` in index order, ``page_size`` at a time.

    A negative ``start`` counts from the end (found when iteration begins). Stops at
    the end as found when the last page is read; a missing stream yields nothing.
    Arguments are checked here, at the call, not at the first step.
    """
    ref = stream_ref(scope, session_id, stream)
    try:
        check_int("page_size", page_size, 1)
        check_int("start", start, -MAX_EVENTS)
        if not isinstance(with_records, bool):
            raise InvalidArgumentError(f"with_records must be a bool, got {with_records!r}")
    except InvalidArgumentError as exc:
        raise scope.shared.event_logs.invalid(ref, str(exc)) from None
    return _pages(scope, session_id, stream, start, page_size, with_records)


async def _pages(
    scope: Scope, session_id: str, stream: str, start: int, page_size: int, with_records: bool
) -> AsyncIterator[Any]:
    if start < 0:
        start = max(0, await count(scope, session_id, stream) + start)
    while True:
        page = await read(scope, session_id, stream, start, page_size, with_records)
        for event in page:
            yield event
        if len(page) < page_size:
            return
        start += len(page)


async def count(scope: Scope, session_id: str, stream: str) -> int:
    """How many events the stream holds (0 if missing): one read of its tail."""
    ref = stream_ref(scope, session_id, stream)
    return await scope.call(ref, "count events of", scope.shared.event_logs.count(ref))


async def truncate(scope: Scope, session_id: str, stream: str, length: int) -> int:
    """Drop every event from index ``length`` on (a rewind); returns how many.

    Atomic, like an append: one conditional write of the tail. An appender that has
    not seen the truncation finds out (its write is refused) and appends after the
    new end. Idempotency keys of dropped events are forgotten, so appending one again
    writes a new event. A ``length`` at or past the end, or a missing stream, drops
    nothing.
    """
    ref = stream_ref(scope, session_id, stream)
    logs = scope.shared.event_logs
    scope.require_conditions("truncate events of", ref)
    return await scope.call(ref, "truncate events of", logs.truncate(ref, length))
