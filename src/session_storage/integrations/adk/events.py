"""A session's ADK events: how each is stored, and reading the committed ones back.

Each event is one item of the session's stream :data:`EVENTS_STREAM`, its JSON form
with ADK's camelCase aliases; which indices are committed is the record's to say
(:mod:`.records`).
"""

from __future__ import annotations

from typing import Any

from ...storage import SessionStorage
from .errors import corrupt
from .framework import Event, GetSessionConfig, ValidationError
from .records import SessionRecord

__all__ = ["EVENTS_STREAM", "dump", "read_events"]

EVENTS_STREAM = "events"
"""The name of each session's event stream."""
_PAGE = 100  # events read at a time when walking back for after_timestamp


def dump(event: Event) -> dict[str, Any]:
    """An event as stored: its JSON form with ADK's camelCase aliases, unset fields out."""
    dumped: dict[str, Any] = event.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


async def read_events(
    store: SessionStorage,
    session_id: str,
    record: SessionRecord,
    config: GetSessionConfig | None,
) -> list[Event]:
    """The committed events ``config`` asks for (all of them without one), oldest first.

    ``config.num_recent_events`` keeps the latest n (0: none); ``config.after_timestamp``
    then keeps those after the newest event older than it. Only those are read.
    """
    latest = config.num_recent_events if config else None
    after = config.after_timestamp if config else None
    if latest == 0:
        return []
    if latest is None and after is not None:
        return await _events_since(store, session_id, record, after)
    events = await _load_events(store, session_id, record.committed(latest))
    return events if after is None else _since(events, after)


async def _events_since(
    store: SessionStorage, session_id: str, record: SessionRecord, after: float
) -> list[Event]:
    """The events after the newest one older than ``after``, read a page at a time
    from the end, so a recent ``after`` reads only the tail."""
    kept: list[Event] = []
    stop = record.end
    while indices := record.committed_before(stop, _PAGE):
        page = await _load_events(store, session_id, indices)
        older = _since(page, after)
        if len(older) < len(page):
            return older + kept
        kept = page + kept
        stop = indices[0]
    return kept


async def _load_events(store: SessionStorage, session_id: str, indices: list[int]) -> list[Event]:
    """The events at ``indices`` (ascending), read as one range of the stream."""
    if not indices:
        return []
    start, stop = indices[0], indices[-1] + 1
    items = await store.read_events(session_id, EVENTS_STREAM, start, stop - start)
    if len(items) < stop - start:
        why = f"its event stream ends at {start + len(items)}, the record says {stop}"
        raise corrupt(store, session_id, why)
    events = []
    for index in indices:
        try:
            events.append(Event.model_validate(items[index - start]))
        except ValidationError as exc:
            why = f"event {index} of stream {EVENTS_STREAM!r} is not an ADK event: {exc}"
            raise corrupt(store, session_id, why) from exc
    return events


def _since(events: list[Event], after: float) -> list[Event]:
    """The events after the newest one older than ``after`` (InMemorySessionService's
    ``after_timestamp``); all of them if none is older."""
    for position in range(len(events) - 1, -1, -1):
        if events[position].timestamp < after:
            return events[position + 1 :]
    return events
