"""Event logs on object stores: a tail rewritten by conditional writes, sealed segments.

Layout and names: :mod:`.layout`; the documents: :mod:`.documents`; what a storage
remembers: :mod:`.cache`; reading the chain: :mod:`.reading`; the commit loop:
:mod:`.commit`; appends that share a write: :mod:`.group`; errors: :mod:`.failures`.
This module is the log's face, and the changes made through it (append, truncate, pop).

Why this layout. One object per event makes a history cost one GET per event and a
batch N writes that are not atomic; a stream kept in one object makes every append
upload the whole history. Here a stream is a chain of sealed segments of
:data:`SEGMENT_SIZE` events, written once under unique names, below one open segment
of fixed name, the tail (fewer than :data:`SEGMENT_SIZE` events). So an append
uploads at most one segment's worth of events, and a reader needs the tail plus the
segments its range covers.

The commit point. Every change (append, batch append, truncate, pop) is ONE
conditional write of the tail: ``if_version`` = the tail version this storage knows,
or ``if_absent`` when it knows of none. The store checks it atomically, so of two
workers acting on the same tail exactly one wins; the other's write is refused,
having written nothing, and it reads the fresh tail and tries again on top of it.
A worker whose view is stale (another truncated the stream, or deleted the session)
finds out from that refusal, never by writing past the end: no gap, no ghost event.
A condition on the stream's length (``if_count``, ``if_count_at_least``) is checked on
the tail the write is based on, so the same ``if_version`` makes it hold in the store.
An append that fills the tail first writes the sealed segment(s) create-only under
fresh names, then commits the tail naming them; a crash in between leaves an
unreferenced segment (garbage, never read) and the stream as it was. A segment
written for an attempt that lost its race is deleted at once when that is provably
safe, otherwise by the next truncate above it or by ``delete_session``.

Costs (requests). A single writer knows its tail's version (an LRU per storage):
an append is 1 PUT, plus 1 PUT per :data:`SEGMENT_SIZE` events when a segment is
sealed. Appends of one storage to one stream that arrive while a write of it is in
flight go out together in the next write (group commit, :mod:`.group`): ten tasks
appending at once cost one PUT a round, not ten. A worker that has not seen the
stream first GETs the tail (1). A refused write costs the GET of the fresh tail and
the retry. ``event_count``: 1 GET. A read
GETs the tail and walks the chain down as far as its range needs; sealed segments
never change, so each is cached once fetched; more than two missing ones are found
with one LIST and fetched concurrently. Reading 2,000 events cold: tail, LIST, 15
segments; the latest 50: tail, and the segment below it if the tail holds fewer.

Lost replies: see :mod:`.idempotency` (commit ids in the tail).
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from ..backends.base import Driver
from ..core.errors import ConflictError, InvalidArgumentError, SessionStorageError
from .cache import Known, StreamCache
from .commit import Change, Committer
from .documents import Doc, Events
from .failures import StreamFailures
from .group import AppendGroups, Outcome, Pending, Run
from .idempotency import KEY_WINDOW, OPS_WINDOW, Entry, digest, find, keep_below, remember
from .layout import MAX_EVENTS, SEGMENT_SIZE, Link, StreamRef
from .reading import Reader

__all__ = ["EventLogs"]

E = TypeVar("E", bound=SessionStorageError)


def _nonce() -> str:
    return os.urandom(8).hex()


@dataclass(frozen=True, slots=True)
class _Append:
    """One append as it waits in its stream's queue."""

    events: Events
    name: str | None
    """The digest of its idempotency key."""
    at_least: int
    exactly: int | None


def _unmet(count: int, at_least: int, exactly: int | None) -> str | None:
    """Why a stream of ``count`` events fails an append's condition; None if it passes."""
    if count < at_least:
        return (
            f"the stream holds {count} events, fewer than the {at_least} the "
            "write requires (truncated or deleted since)"
        )
    if exactly is not None and count != exactly:
        return f"the stream holds {count} events, not the {exactly} the write requires"
    return None


class EventLogs:
    """The event logs of one storage (shared with its narrowed views).

    Caches each stream's tail (version and document) and the sealed segments it has
    seen; commits every change by a conditional write of the tail.
    """

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self._cache = StreamCache()
        self._failures = StreamFailures(driver)
        self._reader = Reader(driver, self._cache, self._failures)
        self._committer = Committer(self._reader)
        self._groups: AppendGroups[_Append] = AppendGroups(self._append_group)

    def forget(self, folder: str) -> None:
        """Drop what is cached of every stream at or below ``folder`` (after a delete).

        Only a saving: a stale tail's write would be refused anyway.
        """
        self._cache.forget(folder)

    async def settle(self) -> None:
        """Wait until the group writes of the running loop are done (those whose
        callers were cancelled, too: see :mod:`.group`)."""
        await self._groups.settle()

    def waiting(self, ref: StreamRef) -> int:
        """Appends to ``ref`` queued behind the write in flight (not yet taken)."""
        return self._groups.waiting(ref)

    def error(
        self, cls: type[E], ref: StreamRef, action: str, why: str, name: str | None = None
    ) -> E:
        """A ``cls`` error about the stream (or one of its files) naming where it happened."""
        return self._failures.error(cls, ref, action, why, name)

    def invalid(self, ref: StreamRef, why: str) -> InvalidArgumentError:
        """The error for an unusable argument of a call on ``ref``."""
        return self._failures.invalid(ref, why)

    # -- operations --------------------------------------------------------------------

    async def append(
        self,
        ref: StreamRef,
        encoded: tuple[bytes, ...],
        key: str | None,
        at_least: int = 0,
        exactly: int | None = None,
        *,
        run: Run,
    ) -> int:
        """Append encoded events as one unit; the index of the first.

        With ``key``, a key the tail remembers returns its first index and writes
        nothing (see :mod:`.idempotency`). A stream of fewer than ``at_least`` events,
        or of another number than ``exactly``, is not written: ConflictError. (A
        cached tail can pass a condition the stored one fails: then the conditional
        write is refused, and the condition checked again on the fresh tail.)

        Appends to one stream that arrive while its tail is being written go out
        together in the next write (see :mod:`.group`); ``run`` awaits each write.
        """
        name = None if key is None else digest(key)
        request = _Append(Events.of(encoded), name, at_least, exactly)
        return await self._groups.append(ref, Pending(request, len(encoded), run))

    async def _append_group(self, stream: Hashable, group: list[_Append]) -> list[Outcome]:
        """Commit ``group`` in one write, each append planned on the stream the ones
        before it leave; an outcome for each (its index, or its own error)."""
        assert isinstance(stream, StreamRef)
        ref = stream

        async def plan(known: Known) -> Change[list[Outcome]]:
            doc = known.doc
            count, keys, added = doc.count, doc.keys, Events()
            outcomes: list[Outcome] = []
            for request in group:
                if request.name is not None:
                    found = find(keys, request.name)
                    if found is not None:
                        outcomes.append(found)
                        continue
                why = _unmet(count, request.at_least, request.exactly)
                if why is not None:
                    # Final only if this tail is the stored one: the group's write is
                    # refused otherwise (or, writing nothing, the committer reads the
                    # tail again), and the plan runs again on the fresh tail.
                    outcomes.append(self.error(ConflictError, ref, "append to", why))
                    continue
                size = len(request.events)
                if count + size > MAX_EVENTS:
                    outcomes.append(self.invalid(ref, f"the stream is full ({MAX_EVENTS} events)"))
                    continue
                outcomes.append(count)
                if request.name is not None:
                    keys = remember(keys, (request.name, count, size), KEY_WINDOW)
                added += request.events
                count += size
            if not added:
                return Change(outcomes)
            return self._grown(doc, added, keys, outcomes)

        return await self._committer.commit(ref, plan)

    def _grown(
        self, doc: Doc, added: Events, keys: tuple[Entry, ...], outcomes: list[Outcome]
    ) -> Change[list[Outcome]]:
        """The change that appends ``added`` to the tail ``doc``, sealing full segments."""
        start = doc.count
        # A tail read from the store is encoded here, once: the tail this write
        # leaves in the cache then holds encoded events only, embedded unparsed.
        held = doc.events.encoded() + added
        first, prev, sealed = doc.first, doc.prev, []
        while len(held) >= SEGMENT_SIZE:
            segment = Doc(first, held[:SEGMENT_SIZE], prev, _nonce())
            sealed.append(segment)
            prev, first, held = (
                Link(first, segment.id),
                first + SEGMENT_SIZE,
                held[SEGMENT_SIZE:],
            )
        commit = _nonce()
        ops = remember(doc.ops, (commit, start, len(added)), OPS_WINDOW)
        tail = Doc(first, held, prev, commit, keys, ops)
        return Change(outcomes, tail, tuple(sealed))

    async def truncate(self, ref: StreamRef, length: int) -> int:
        """Drop the events from index ``length`` on; how many were dropped."""
        self._failures.check_count(ref, "length", length)

        async def plan(known: Known) -> Change[int]:
            if length >= known.doc.count:
                return Change(0)
            tail, dropped, obsolete = await self._cut(ref, known.doc, length)
            return Change(len(dropped), tail, obsolete=obsolete)

        return await self._committer.commit(ref, plan)

    async def pop(self, ref: StreamRef, how_many: int) -> list[Any]:
        """Remove the last ``how_many`` events (fewer if shorter); their items in order."""

        async def plan(known: Known) -> Change[list[Any]]:
            count = known.doc.count
            if how_many == 0 or count == 0:
                return Change([])
            length = max(0, count - how_many)
            tail, dropped, obsolete = await self._cut(ref, known.doc, length)
            items = self._failures.items(ref, length, dropped.values())
            return Change(items, tail, obsolete=obsolete)

        return await self._committer.commit(ref, plan)

    async def _cut(
        self, ref: StreamRef, doc: Doc, length: int
    ) -> tuple[Doc, Events, tuple[Link, ...]]:
        """The tail after dropping events from ``length`` on, the dropped events, and
        the segments that leave the chain.

        A cut inside a sealed segment makes that segment's kept part the new tail
        (unsealing it), its ``prev`` the new tail's.
        """
        commit = _nonce()
        ops = remember(doc.ops, (commit, length, doc.count - length), OPS_WINDOW)
        keys = keep_below(doc.keys, length)
        if length >= doc.first:
            kept = doc.events[: length - doc.first].encoded()
            dropped = doc.events[length - doc.first :]
            return replace(doc, events=kept, id=commit, keys=keys, ops=ops), dropped, ()
        chain = await self._reader.chain(ref, doc, length)
        base = chain[-1]
        held = Events()
        for segment in reversed(chain):
            held += segment.events
        held += doc.events
        offset = length - base.first
        tail = Doc(base.first, held[:offset].encoded(), base.prev, commit, keys, ops)
        obsolete = tuple(Link(segment.first, segment.id) for segment in chain)
        return tail, held[offset:], obsolete

    async def count(self, ref: StreamRef) -> int:
        """How many events the stream holds: one GET of the tail."""
        return (await self._reader.fetch(ref)).doc.count

    async def read(
        self, ref: StreamRef, start: int, limit: int | None, records: bool = False
    ) -> list[Any]:
        """The items of events from ``start`` (negative: from the end), at most ``limit``
        of them; with ``records``, a :data:`~.failures.Record` for each instead.

        Every stored document read is parsed once and its items handed out as parsed;
        the caches hold documents as bytes, so each read gets objects of its own.
        """
        return await self._reader.read(ref, start, limit, records)
