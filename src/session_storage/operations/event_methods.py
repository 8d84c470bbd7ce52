"""The event-log methods of :class:`~session_storage.storage.SessionStorage`.

A part of the facade kept in its own module so that the storage's table of contents
stays short: each method checks nothing itself and hands the call, in the storage's
:class:`~.scope.Scope`, to the function of :mod:`.events` its docstring names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from . import events, listing
from .scope import Scope

__all__ = ["EventLogMethods"]


class EventLogMethods:
    """Append-only event streams of a session (see README "Event logs")."""

    _scope: Scope

    async def append_event(
        self,
        session_id: str,
        stream: str,
        item: Any,
        idempotency_key: str | None = None,
        *,
        if_count: int | None = None,
        if_count_at_least: int | None = None,
    ) -> int:
        """Append ``item`` (any JSON value) to the session's event ``stream`` (a missing one
        is created); its index. A repeated ``idempotency_key`` returns the first index and
        writes nothing. Only if the stream holds exactly ``if_count`` / at least
        ``if_count_at_least`` events, else ConflictError. See :func:`events.append`."""
        return await events.append(
            self._scope, session_id, stream, item, idempotency_key, if_count_at_least, if_count
        )

    async def append_events(
        self,
        session_id: str,
        stream: str,
        items: Sequence[Any],
        idempotency_key: str | None = None,
        *,
        if_count: int | None = None,
        if_count_at_least: int | None = None,
    ) -> int:
        """Append ``items`` (a list of JSON values) as one unit, as :meth:`append_event`
        does; the index of the first (``[]``: the length). See :func:`events.append_many`."""
        return await events.append_many(
            self._scope, session_id, stream, items, idempotency_key, if_count_at_least, if_count
        )

    async def read_events(
        self,
        session_id: str,
        stream: str,
        start: int = 0,
        limit: int | None = None,
        *,
        with_records: bool = False,
    ) -> list[Any]:
        """The items (or EventRecords) of events ``start, start+1, ...``, at most ``limit``;
        a negative ``start`` counts from the end. ``[]`` for a missing stream or a
        ``start`` past the end. See :func:`events.read`."""
        return await events.read(self._scope, session_id, stream, start, limit, with_records)

    def iter_events(
        self,
        session_id: str,
        stream: str,
        start: int = 0,
        *,
        page_size: int = 100,
        with_records: bool = False,
    ) -> AsyncIterator[Any]:
        """The items (or EventRecords) of the stream from ``start`` on, a page at a time;
        nothing for a missing stream. See :func:`events.iter_items`."""
        return events.iter_items(self._scope, session_id, stream, start, page_size, with_records)

    async def pop_events(self, session_id: str, stream: str, count: int = 1) -> list[Any]:
        """Remove the last ``count`` events atomically and return their items in order
        (fewer if the stream is shorter, ``[]`` if missing). See :func:`events.pop`."""
        return await events.pop(self._scope, session_id, stream, count)

    async def list_streams(self, session_id: str) -> list[str]:
        """Sorted names of the session's event streams (``[]`` if none), from the one
        listing :meth:`list_files` makes; no stream is read. See
        :func:`listing.list_streams`."""
        return await listing.list_streams(self._scope, session_id)

    async def event_count(self, session_id: str, stream: str) -> int:
        """How many events the stream holds (0 if missing). See :func:`events.count`."""
        return await events.count(self._scope, session_id, stream)

    async def truncate_events(self, session_id: str, stream: str, length: int) -> int:
        """Drop every event from index ``length`` on, atomically; how many (0 if missing).
        See :func:`events.truncate`."""
        return await events.truncate(self._scope, session_id, stream, length)
