"""Reading a stream: its tail, and the chain of sealed segments below it.

A read GETs the tail and walks the chain down as far as its range needs. Sealed
segments never change, so each is cached once fetched; more than two missing ones
are found with one LIST and fetched concurrently (see :mod:`.log` for the costs).
"""

from __future__ import annotations

from typing import Any

from ..backends.base import Driver
from ..core.arguments import check_int
from ..core.errors import CorruptDataError, InvalidArgumentError, NotSupportedError
from .cache import Known, StreamCache
from .documents import EMPTY, Doc
from .failures import StreamFailures
from .layout import MAX_EVENTS, SEGMENT_SIZE, TAIL_NAME, Link, StreamRef, parse_segment_name

__all__ = ["CONCURRENCY", "Reader", "Stale"]

CONCURRENCY = 16
"""Segments fetched (or written) at once."""
_PREFETCH_FROM = 3  # segments left to walk, one uncached, from which one LIST finds them
_READ_ATTEMPTS = 20  # a read racing truncations starts over at most this often


class Stale(Exception):
    """A segment on the chain is gone: the tail that named it was replaced."""


class Reader:
    """Reads the streams on ``driver``, remembering what it saw in ``cache``."""

    def __init__(self, driver: Driver, cache: StreamCache, failures: StreamFailures) -> None:
        self.driver = driver
        self.cache = cache
        self.failures = failures

    async def fetch(self, ref: StreamRef) -> Known:
        """The stream's current tail, from one GET; remembered for the next write."""
        return (await self.fetch_parsed(ref))[0]

    async def fetch_parsed(self, ref: StreamRef) -> tuple[Known, list[Any]]:
        """The tail as :meth:`fetch` gives it, and its events parsed (not cached)."""
        return self._tail(ref, await self.driver.get(ref.tail_path))

    async def fetch_whole(
        self, ref: StreamRef, fresh: dict[str, list[Any]]
    ) -> tuple[Known, list[Any]]:
        """As :meth:`fetch_parsed`, reading every file of the stream in one driver call:
        the sealed segments found go into the cache (their parsed events into
        ``fresh``), so a read from the start needs no other call. For drivers whose
        listing is cheap (local disk: one worker-thread hop instead of three)."""
        found = await self.driver.get_folder(ref.folder)
        cut = len(ref.folder) + 1
        for path, (raw, _) in found.items():
            link = parse_segment_name(path[cut:])
            if link is not None and self.cache.segments.get(path) is None:
                self._keep_segment(ref, link, path, raw, fresh)
        return self._tail(ref, found.get(ref.tail_path))

    def _tail(
        self, ref: StreamRef, found: tuple[bytes, str | None] | None
    ) -> tuple[Known, list[Any]]:
        events: list[Any] = []
        if found is None:
            known = Known(None, EMPTY)
        else:
            raw, version = found
            if version is None:
                why = "the backend returned no version, so the stream cannot be written safely"
                raise self.failures.error(NotSupportedError, ref, "read events of", why)
            doc, events = self.failures.decode(ref, TAIL_NAME, raw)
            known = Known(version, doc)
        self.cache.tails.put(ref.folder, known)
        return known, events

    async def read(self, ref: StreamRef, start: int, limit: int | None, records: bool) -> list[Any]:
        """The items (or records) of events from ``start``, at most ``limit``; see
        :meth:`.log.EventLogs.read`."""
        try:
            check_int("start", start, -MAX_EVENTS)
        except InvalidArgumentError as exc:
            raise self.failures.invalid(ref, str(exc)) from None
        if limit is not None and self.failures.check_count(ref, "limit", limit) == 0:
            return []
        seen: str | None = None
        fresh: dict[str, list[Any]] = {}
        # A cold read from the start on local disk reads the stream folder whole.
        whole = (
            start >= 0 and self.driver.cheap_listing and self.cache.tails.get(ref.folder) is None
        )
        for _ in range(_READ_ATTEMPTS):
            if whole:
                known, tail_events = await self.fetch_whole(ref, fresh)
                whole = False
            else:
                known, tail_events = await self.fetch_parsed(ref)
            doc = known.doc
            begin = max(0, doc.count + start) if start < 0 else start
            stop = doc.count if limit is None else min(doc.count, begin + limit)
            if begin >= stop:
                return []
            try:
                events = await self._events(ref, doc, tail_events, begin, stop, fresh)
            except Stale:
                if known.version == seen:  # the same tail twice: the segment is lost
                    why = "a segment the tail names is missing"
                    raise self.failures.error(
                        CorruptDataError, ref, "read events of", why
                    ) from None
                seen = known.version
                continue
            if records:
                return self.failures.records(ref, begin, events)
            return self.failures.items(ref, begin, events)
        why = f"the stream kept changing under {_READ_ATTEMPTS} reads in a row"
        raise self.failures.error(CorruptDataError, ref, "read events of", why)

    async def _events(
        self,
        ref: StreamRef,
        tail: Doc,
        tail_events: list[Any],
        begin: int,
        stop: int,
        fresh: dict[str, list[Any]],
    ) -> list[Any]:
        """Events ``begin .. stop`` parsed, given the tail and its parsed events, and
        the parsed events of segments fetched by this read (``fresh``, by path)."""
        chain = await self.chain(ref, tail, begin, fresh) if begin < tail.first else []
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

    async def chain(
        self, ref: StreamRef, tail: Doc, down_to: int, fresh: dict[str, list[Any]] | None = None
    ) -> list[Doc]:
        """The sealed segments from the tail's ``prev`` down to the one holding index
        ``down_to``, top first, each checked against the link that named it. The
        parsed events of those fetched here go into ``fresh``, by path.

        Raises Stale if one is gone (a truncate replaced the tail meanwhile).
        """
        low = down_to - down_to % SEGMENT_SIZE
        chain: list[Doc] = []
        link, above, listed = tail.prev, tail.first, False
        while above > low:
            if link is None or link.first != above - SEGMENT_SIZE:
                why = f"the segment chain breaks below index {above}"
                raise self.failures.error(CorruptDataError, ref, "read events of", why)
            path = ref.segment_path(link)
            segment = self.cache.segments.get(path)
            left = (link.first - low) // SEGMENT_SIZE + 1  # segments still to walk
            if segment is None and not listed and left >= _PREFETCH_FROM:
                listed = True
                await self._prefetch(ref, low, link.first, fresh)
                segment = self.cache.segments.get(path)
            if segment is None:
                segment = await self._fetch_segment(ref, link, fresh)
                if segment is None:
                    raise Stale
            if (
                segment.first != link.first
                or segment.id != link.id
                or len(segment.events) != SEGMENT_SIZE
            ):
                why = "it is not the sealed segment its name and link say"
                raise self.failures.corrupt(ref, link.name, why)
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
        return self._keep_segment(ref, link, path, found[0], fresh)

    def _keep_segment(
        self, ref: StreamRef, link: Link, path: str, raw: bytes, fresh: dict[str, list[Any]] | None
    ) -> Doc:
        """Decode a fetched segment and cache it; its parsed events go into ``fresh``."""
        segment, events = self.failures.decode(ref, link.name, raw)
        self.cache.segments.put(path, segment)
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
                if self.cache.segments.get(ref.segment_path(link)) is None:
                    wanted.append(link)
        # One batch: concurrent GETs on object stores, one worker-thread hop on local disk.
        paths = [ref.segment_path(link) for link in wanted]
        found = await self.driver.get_many(paths, CONCURRENCY)
        for link, path, got in zip(wanted, paths, found, strict=True):
            if got is not None:  # gone: the walk finds it missing and starts over
                self._keep_segment(ref, link, path, got[0], fresh)
