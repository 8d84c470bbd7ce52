"""Event logs on object stores: a tail rewritten by conditional writes, sealed segments.

Layout and names: :mod:`.layout`; the documents: :mod:`.documents`.

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
sealed. A worker that has not seen the stream first GETs the tail (1). A refused
write costs the GET of the fresh tail and the retry. ``event_count``: 1 GET. A read
GETs the tail and walks the chain down as far as its range needs; sealed segments
never change, so each is cached once fetched; more than two missing ones are found
with one LIST and fetched concurrently. Reading 2,000 events cold: tail, LIST, 15
segments; the latest 50: tail, and the segment below it if the tail holds fewer.

Lost replies: see :mod:`.idempotency` (commit ids in the tail).
"""

from __future__ import annotations

import os
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

import anyio

from ..backends.base import Driver
from ..concurrency.bounded import run_bounded
from ..concurrency.keyed_locks import KeyedLocks
from ..core.arguments import check_int
from ..core.errors import (
    ConflictError,
    CorruptDataError,
    InvalidArgumentError,
    NotSupportedError,
    SessionStorageError,
    describe,
)
from .documents import (
    EMPTY,
    Doc,
    EventError,
    Events,
    decode_doc,
    encode_doc,
    items_of,
    records_of,
)
from .idempotency import KEY_WINDOW, OPS_WINDOW, digest, find, keep_below, remember
from .layout import (
    MAX_EVENTS,
    SEGMENT_SIZE,
    TAIL_NAME,
    Link,
    StreamRef,
    parse_segment_name,
)

__all__ = ["CACHE_BYTES", "JSON", "EventLogs", "Known", "Record"]

E = TypeVar("E", bound=SessionStorageError)
T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

JSON = "application/json"
CACHE_BYTES = 32 * 1024 * 1024
"""Bytes of events a storage keeps cached, for tails and for sealed segments each."""
_FETCH_CONCURRENCY = 16
_CONTENTION_PAUSE = 0.005  # seconds; doubles with every refused write in a row...
_PAUSE_DOUBLINGS = 4  # ...up to 16 times: more would starve a worker that lost often
_READ_ATTEMPTS = 20  # a read racing truncations starts over at most this often

Record = tuple[int, datetime, Any]
"""``(index, appended_at, item)``."""


@dataclass(frozen=True, slots=True)
class Known:
    """A tail as last seen: its version (``None``: not stored) and document."""

    version: str | None
    doc: Doc


@dataclass(frozen=True, slots=True)
class _Change(Generic[T]):
    """What one attempt of a write decided: its result, and what to write for it."""

    result: T
    tail: Doc | None = None
    """The new tail, or None when nothing needs writing."""
    sealed: tuple[Doc, ...] = ()
    """Segments to write before the tail that names them."""
    obsolete: tuple[Link, ...] = ()
    """Segments no longer on the chain once the tail is written: deleted after."""


class _Stale(Exception):
    """A segment on the chain is gone: the tail that named it was replaced."""


class _Unmet(Exception):
    """The stream holds another number of events than the write's condition asks for."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class _Cache(Generic[K, V]):
    """A least-recently-used map bounded by the bytes its values stand for."""

    def __init__(self, max_bytes: int, size: Callable[[V], int]) -> None:
        self._items: OrderedDict[K, V] = OrderedDict()
        self._size = size
        self._bytes = 0
        self._max = max_bytes

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self.pop(key)
        self._items[key] = value
        self._bytes += self._size(value)
        while self._bytes > self._max and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._bytes -= self._size(old)

    def pop(self, key: K) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= self._size(old)

    def keys(self) -> list[K]:
        return list(self._items)


def _doc_size(doc: Doc) -> int:
    return 256 + doc.events.nbytes


def _nonce() -> str:
    return os.urandom(8).hex()


class EventLogs:
    """The event logs of one storage (shared with its narrowed views).

    Caches each stream's tail (version and document) and the sealed segments it has
    seen; commits every change by a conditional write of the tail.
    """

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self._tails: _Cache[str, Known] = _Cache(CACHE_BYTES, lambda k: _doc_size(k.doc))
        self._segments: _Cache[str, Doc] = _Cache(CACHE_BYTES, _doc_size)
        self._writing = KeyedLocks()

    def forget(self, folder: str) -> None:
        """Drop what is cached of every stream at or below ``folder`` (after a delete).

        Only a saving: a stale tail's write would be refused anyway.
        """
        head = folder.rstrip("/") + "/"
        for cache in (self._tails, self._segments):
            for name in cache.keys():
                if name == folder or name.startswith(head):
                    cache.pop(name)

    # -- the tail ----------------------------------------------------------------------

    async def fetch(self, ref: StreamRef) -> Known:
        """The stream's current tail, from one GET; remembered for the next write."""
        return (await self._fetch(ref))[0]

    async def _fetch(self, ref: StreamRef) -> tuple[Known, list[Any]]:
        """The tail as :meth:`fetch` gives it, and its events parsed (not cached)."""
        found = await self.driver.get(ref.tail_path)
        events: list[Any] = []
        if found is None:
            known = Known(None, EMPTY)
        else:
            raw, version = found
            if version is None:
                why = "the backend returned no version, so the stream cannot be written safely"
                raise self.error(NotSupportedError, ref, "read events of", why)
            doc, events = self._decode(ref, TAIL_NAME, raw)
            known = Known(version, doc)
        self._tails.put(ref.folder, known)
        return known, events

    async def commit(self, ref: StreamRef, plan: Callable[[Known], Awaitable[_Change[T]]]) -> T:
        """Run ``plan`` on the tail and write what it decides, until the write holds.

        ``plan`` may run more than once: on a refused write it runs again on the fresh
        tail. A plan that writes nothing is answered from a tail read by this call,
        never from the cache alone (which may be stale). Writes to one stream through
        this storage take turns: they would only refuse each other.
        """
        async with self._writing.hold(ref.folder):
            known = self._tails.get(ref.folder)
            fresh = known is None
            if known is None:
                known = await self.fetch(ref)
            refused = 0
            stale: str | None = None
            while True:
                try:
                    change = await plan(known)
                except _Unmet as unmet:
                    if not fresh:  # the cached tail may be behind the stored one
                        known, fresh = await self.fetch(ref), True
                        continue
                    raise self.error(ConflictError, ref, "append to", unmet.why) from None
                except _Stale:
                    if fresh and known.version == stale:  # the same tail twice
                        why = "a segment the tail names is missing"
                        raise self.error(CorruptDataError, ref, "write", why) from None
                    stale = known.version if fresh else None
                    known, fresh = await self.fetch(ref), True
                    continue
                if change.tail is None:
                    if fresh:
                        return change.result
                    known, fresh = await self.fetch(ref), True
                    continue
                try:
                    version = await self._write(ref, known, change)
                except FileExistsError:
                    # Refused: another worker changed the tail, or this write landed
                    # and its reply was lost (the client's resend was refused). Wait
                    # a random moment before reading the tail again: workers that
                    # collided then come back one after another, each on a fresh tail.
                    refused += 1
                    pause = _CONTENTION_PAUSE * 2 ** min(refused - 1, _PAUSE_DOUBLINGS)
                    await anyio.sleep(random.uniform(0, pause))
                    known, fresh = await self.fetch(ref), True
                    if find(known.doc.ops, change.tail.id) is not None:
                        await self._delete(ref, change.obsolete)
                        return change.result
                    await self._delete(ref, _unused(change.sealed, known.doc))
                    continue
                except BaseException:
                    self._tails.pop(ref.folder)  # the outcome is unknown
                    raise
                self._tails.put(ref.folder, Known(version, change.tail))
                await self._delete(ref, change.obsolete)
                return change.result

    async def _write(self, ref: StreamRef, known: Known, change: _Change[Any]) -> str:
        assert change.tail is not None
        meta = {"session_id": ref.session_id, "stream": ref.stream, "backend": self.driver.name}

        async def seal(segment: Doc) -> None:
            # A fresh name per attempt: an unconditional write cannot overwrite anything
            # of another writer, and a resend after a lost reply writes the same bytes.
            link = Link(segment.first, segment.id)
            await self.driver.put(
                ref.segment_path(link), encode_doc(segment, meta, tail=False), JSON
            )
            self._segments.put(ref.segment_path(link), segment)

        await run_bounded(seal, change.sealed, _FETCH_CONCURRENCY)
        return await self.driver.put(
            ref.tail_path,
            encode_doc(change.tail, meta, tail=True),
            JSON,
            if_version=known.version,
            if_absent=known.version is None,
            verify_own=False,  # the commit id in the tail tells, see idempotency
        )

    async def _delete(self, ref: StreamRef, links: Iterable[Link]) -> None:
        """Delete segments off the chain, best effort: garbage is never read anyway."""
        paths = [ref.segment_path(link) for link in links]
        if not paths:
            return
        for path in paths:
            self._segments.pop(path)
        try:
            await self.driver.delete_files(paths)
        except Exception:  # noqa: BLE001, S110 - the stream is committed; this only tidies
            pass

    # -- operations --------------------------------------------------------------------

    async def append(
        self,
        ref: StreamRef,
        encoded: tuple[bytes, ...],
        key: str | None,
        at_least: int = 0,
        exactly: int | None = None,
    ) -> int:
        """Append encoded events as one unit; the index of the first.

        With ``key``, a key the tail remembers returns its first index and writes
        nothing (see :mod:`.idempotency`). A stream of fewer than ``at_least`` events,
        or of another number than ``exactly``, is not written: ConflictError. (A
        cached tail can pass a condition the stored one fails: then the conditional
        write is refused, and the condition checked again on the fresh tail.)
        """
        name = None if key is None else digest(key)
        events = Events.of(encoded)

        async def plan(known: Known) -> _Change[int]:
            doc = known.doc
            if name is not None:
                found = find(doc.keys, name)
                if found is not None:
                    return _Change(found)
            start = doc.count
            if start < at_least:
                raise _Unmet(
                    f"the stream holds {start} events, fewer than the {at_least} the "
                    "write requires (truncated or deleted since)"
                )
            if exactly is not None and start != exactly:
                raise _Unmet(
                    f"the stream holds {start} events, not the {exactly} the write requires"
                )
            if start + len(events) > MAX_EVENTS:
                raise self.invalid(ref, f"the stream is full ({MAX_EVENTS} events)")
            # A tail read from the store is encoded here, once: the tail this write
            # leaves in the cache then holds encoded events only, embedded unparsed.
            held = doc.events.encoded() + events
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
            entry = (commit, start, len(events))
            keys = doc.keys
            if name is not None:
                keys = remember(keys, (name, start, len(events)), KEY_WINDOW)
            tail = Doc(first, held, prev, commit, keys, remember(doc.ops, entry, OPS_WINDOW))
            return _Change(start, tail, tuple(sealed))

        return await self.commit(ref, plan)

    async def truncate(self, ref: StreamRef, length: int) -> int:
        """Drop the events from index ``length`` on; how many were dropped."""
        self._check_count(ref, "length", length)

        async def plan(known: Known) -> _Change[int]:
            if length >= known.doc.count:
                return _Change(0)
            tail, dropped, obsolete = await self._cut(ref, known.doc, length)
            return _Change(len(dropped), tail, obsolete=obsolete)

        return await self.commit(ref, plan)

    async def pop(self, ref: StreamRef, how_many: int) -> list[Any]:
        """Remove the last ``how_many`` events (fewer if shorter); their items in order."""

        async def plan(known: Known) -> _Change[list[Any]]:
            count = known.doc.count
            if how_many == 0 or count == 0:
                return _Change([])
            length = max(0, count - how_many)
            tail, dropped, obsolete = await self._cut(ref, known.doc, length)
            items = self._items(ref, length, dropped.values())
            return _Change(items, tail, obsolete=obsolete)

        return await self.commit(ref, plan)

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
        chain = await self._chain(ref, doc, length)
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
        return (await self.fetch(ref)).doc.count

    async def read(
        self, ref: StreamRef, start: int, limit: int | None, records: bool = False
    ) -> list[Any]:
        """The items of events from ``start`` (negative: from the end), at most ``limit``
        of them; with ``records``, a :data:`Record` for each instead.

        Every stored document read is parsed once and its items handed out as parsed;
        the caches hold documents as bytes, so each read gets objects of its own.
        """
        try:
            check_int("start", start, -MAX_EVENTS)
        except InvalidArgumentError as exc:
            raise self.invalid(ref, str(exc)) from None
        if limit is not None and self._check_count(ref, "limit", limit) == 0:
            return []
        seen: str | None = None
        for _ in range(_READ_ATTEMPTS):
            known, tail_events = await self._fetch(ref)
            doc = known.doc
            begin = max(0, doc.count + start) if start < 0 else start
            stop = doc.count if limit is None else min(doc.count, begin + limit)
            if begin >= stop:
                return []
            try:
                events = await self._events(ref, doc, tail_events, begin, stop)
            except _Stale:
                if known.version == seen:  # the same tail twice: the segment is lost
                    why = "a segment the tail names is missing"
                    raise self.error(CorruptDataError, ref, "read events of", why) from None
                seen = known.version
                continue
            if records:
                return self._records(ref, begin, events)
            return self._items(ref, begin, events)
        why = f"the stream kept changing under {_READ_ATTEMPTS} reads in a row"
        raise self.error(CorruptDataError, ref, "read events of", why)

    async def _events(
        self, ref: StreamRef, tail: Doc, tail_events: list[Any], begin: int, stop: int
    ) -> list[Any]:
        """Events ``begin .. stop`` parsed, given the tail and its parsed events."""
        fresh: dict[str, list[Any]] = {}
        chain = await self._chain(ref, tail, begin, fresh) if begin < tail.first else []
        out: list[Any] = []
        for segment in reversed(chain):
            if segment.first < stop and begin < segment.first + SEGMENT_SIZE:
                path = ref.segment_path(Link(segment.first, segment.id))
                events = fresh.get(path)
                if events is None:  # cached: parse its bytes again, for objects of our own
                    events = segment.events.values()
                out += events[max(0, begin - segment.first) : stop - segment.first]
        if stop > tail.first:
            out += tail_events[max(0, begin - tail.first) : stop - tail.first]
        return out

    # -- the chain of sealed segments --------------------------------------------------

    async def _chain(
        self, ref: StreamRef, tail: Doc, down_to: int, fresh: dict[str, list[Any]] | None = None
    ) -> list[Doc]:
        """The sealed segments from the tail's ``prev`` down to the one holding index
        ``down_to``, top first, each checked against the link that named it. The
        parsed events of those fetched here go into ``fresh``, by path.

        Raises _Stale if one is gone (a truncate replaced the tail meanwhile).
        """
        low = down_to - down_to % SEGMENT_SIZE
        chain: list[Doc] = []
        link, above, listed = tail.prev, tail.first, False
        while above > low:
            if link is None or link.first != above - SEGMENT_SIZE:
                why = f"the segment chain breaks below index {above}"
                raise self.error(CorruptDataError, ref, "read events of", why)
            path = ref.segment_path(link)
            segment = self._segments.get(path)
            if segment is None and not listed and (link.first - low) // SEGMENT_SIZE >= 2:
                listed = True
                await self._prefetch(ref, low, link.first, fresh)
                segment = self._segments.get(path)
            if segment is None:
                segment = await self._fetch_segment(ref, link, fresh)
                if segment is None:
                    raise _Stale
            if (
                segment.first != link.first
                or segment.id != link.id
                or len(segment.events) != SEGMENT_SIZE
            ):
                why = "it is not the sealed segment its name and link say"
                raise self._corrupt(ref, link.name, why)
            chain.append(segment)
            link, above = segment.prev, segment.first
        return chain

    async def _fetch_segment(
        self, ref: StreamRef, link: Link, fresh: dict[str, list[Any]] | None
    ) -> Doc | None:
        path = ref.segment_path(link)
        found = await self.driver.get(path)
        if found is None:
            return None
        segment, events = self._decode(ref, link.name, found[0])
        self._segments.put(path, segment)
        if fresh is not None:
            fresh[path] = events
        return segment

    async def _prefetch(
        self, ref: StreamRef, low: int, high: int, fresh: dict[str, list[Any]] | None
    ) -> None:
        """Fetch, concurrently, every segment file starting in ``low .. high`` that is
        not cached: one LIST finds their names (garbage ones too, rarely)."""
        cut = len(ref.folder) + 1
        wanted = []
        for path in await self.driver.list_files(ref.folder):
            link = parse_segment_name(path[cut:])
            if link is not None and low <= link.first <= high:
                if self._segments.get(ref.segment_path(link)) is None:
                    wanted.append(link)
        await run_bounded(
            lambda link: self._fetch_segment(ref, link, fresh), wanted, _FETCH_CONCURRENCY
        )

    # -- decoding and errors -----------------------------------------------------------

    def _decode(self, ref: StreamRef, name: str, raw: bytes) -> tuple[Doc, list[Any]]:
        try:
            return decode_doc(raw)
        except ValueError as exc:
            raise self._corrupt(ref, name, str(exc)) from exc

    def _items(self, ref: StreamRef, first: int, events: list[Any]) -> list[Any]:
        try:
            return items_of(events)
        except EventError as exc:
            raise self._unreadable(ref, first, exc) from exc

    def _records(self, ref: StreamRef, first: int, events: list[Any]) -> list[Record]:
        try:
            return records_of(events, first)
        except EventError as exc:
            raise self._unreadable(ref, first, exc) from exc

    def _unreadable(self, ref: StreamRef, first: int, exc: EventError) -> CorruptDataError:
        why = f"event {first + exc.position} is unreadable: {exc}"
        return self.error(CorruptDataError, ref, "read events of", why)

    def where(self, ref: StreamRef, action: str, name: str | None = None) -> str:
        shown = ref.stream if name is None else ref.file_of(name)
        path = ref.folder if name is None else f"{ref.folder}/{name}"
        return describe(self.driver.name, action, ref.session_id, shown, self.driver.url(path))

    def error(
        self, cls: type[E], ref: StreamRef, action: str, why: str, name: str | None = None
    ) -> E:
        """A ``cls`` error about the stream (or one of its files) naming where it happened."""
        return cls(
            f"{self.where(ref, action, name)}: {why}",
            backend=self.driver.name,
            session_id=ref.session_id,
            filename=ref.stream if name is None else ref.file_of(name),
        )

    def _corrupt(self, ref: StreamRef, name: str, why: str) -> CorruptDataError:
        return self.error(CorruptDataError, ref, "read", f"stored file is {why}", name)

    def invalid(self, ref: StreamRef, why: str) -> InvalidArgumentError:
        """The error for an unusable argument of a call on ``ref``."""
        return self.error(InvalidArgumentError, ref, "use event stream of", why)

    def _check_count(self, ref: StreamRef, name: str, value: object) -> int:
        try:
            return check_int(name, value, 0)
        except InvalidArgumentError as exc:
            raise self.invalid(ref, str(exc)) from None


def _unused(sealed: Iterable[Doc], fresh: Doc) -> list[Link]:
    """Segments written for a refused attempt that can never be on the chain.

    One at or above the fresh tail's first index is not on it, and one whose place the
    chain fills with another segment is not either; names are never reused, so
    neither ever will be. Any other is kept (the refused attempt may have landed
    after all, if its reply was lost and the ops window has moved on), for
    ``delete_session`` to remove.
    """
    out = []
    for segment in sealed:
        below = fresh.prev
        if segment.first >= fresh.first or (
            below is not None and below.first == segment.first and below.id != segment.id
        ):
            out.append(Link(segment.first, segment.id))
    return out
