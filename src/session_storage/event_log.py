"""Append-only event logs: every event is its own object, written create-only.

Where events and markers live, and how they are named: :mod:`.event_paths`.

Appends. An appender writes its event create-only at the index it believes is next;
if another appender got there first the write fails (nothing is overwritten) and it
tries the next index. So indices are contiguous from 0, and appenders never lose or
reorder each other's events. The next index is cached per stream in the storage (an
LRU of :data:`HINT_CACHE_SIZE` streams): a single writer appends with one request.
A cold cache tries index 0 and, if taken, finds the end by galloping and bisection
over existence checks, O(log n) requests; the stream is never listed to append. An
appender that keeps losing races gallops forward in the same way.

The cache assumes the stream only grows, except through this storage's own
``truncate_events`` and ``delete_session``, which update it. If another process
truncates a stream or deletes its session while this storage holds a hint for it, the
next append here may land past the new end (a gap that readers stop at); rewind a
stream from the process that appends to it.

Idempotency keys are the business of :mod:`session_storage.idempotency`.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from datetime import datetime
from typing import Any, TypeVar

import anyio
import orjson

from .arguments import check_int
from .backends.base import Driver
from .bounded import run_bounded
from .codec import METADATA_KEY, encode_json, utc_now_iso
from .errors import (
    CorruptDataError,
    InvalidArgumentError,
    SerializationError,
    SessionStorageError,
    describe,
)
from .event_paths import MAX_EVENTS, StreamRef, event_name, is_stream_file
from .keyed_locks import KeyedLocks

__all__ = ["HINT_CACHE_SIZE", "JSON", "READ_CHUNK", "EventLogs"]

E = TypeVar("E", bound=SessionStorageError)

HINT_CACHE_SIZE = 4096
"""Streams whose next index a storage remembers (least recently used ones are dropped)."""

JSON = "application/json"
_LINEAR_PROBES = 8  # lost races in a row before galloping to the end instead
_CONTENTION_PAUSE = 0.002  # seconds; doubles with every race lost in a row
_READ_CONCURRENCY = 16
READ_CHUNK = 256
"""Events read concurrently in one go."""


class EventLogs:
    """The event logs of one storage (shared with its narrowed views).

    Knows each stream's next index (a hint), writes events create-only at the next
    free index, finds the end, reads ranges and truncates.
    """

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self._hints: OrderedDict[str, int] = OrderedDict()
        self._appending = KeyedLocks()

    # -- the next-index cache ----------------------------------------------------------

    def hint(self, ref: StreamRef) -> int | None:
        """The next index this storage expects in the stream, or None if it does not know."""
        hint = self._hints.get(ref.folder)
        if hint is not None:
            self._hints.move_to_end(ref.folder)
        return hint

    def _remember(self, ref: StreamRef, next_index: int, *, exact: bool = False) -> None:
        old = self._hints.get(ref.folder)
        if not exact and old is not None:
            next_index = max(old, next_index)
        self._hints[ref.folder] = next_index
        self._hints.move_to_end(ref.folder)
        while len(self._hints) > HINT_CACHE_SIZE:
            self._hints.popitem(last=False)

    def forget(self, folder: str) -> None:
        """Drop the hints of every stream at or below ``folder`` (after a delete)."""
        head = folder.rstrip("/") + "/"
        for name in list(self._hints):
            if name == folder or name.startswith(head):
                self._hints.pop(name, None)

    # -- operations --------------------------------------------------------------------

    async def append(self, ref: StreamRef, data: bytes) -> int:
        """Write an encoded event at the end of the stream; its index."""
        hint = self.hint(ref)
        return await self.write_next(ref, data, hint, cold=hint is None)

    async def read_records(
        self, ref: StreamRef, start: int, limit: int | None
    ) -> list[tuple[int, datetime, Any]]:
        """Events from ``start`` (negative: from the end) as (index, appended_at, item)."""
        try:
            check_int("start", start, -MAX_EVENTS)
        except InvalidArgumentError as exc:
            raise self.invalid(ref, str(exc)) from None
        if limit is not None and self._check_count(ref, "limit", limit) == 0:
            return []
        hint = self.hint(ref)
        if start >= 0 and limit is not None and hint is not None and start + limit <= hint:
            stop = start + limit  # known to exist: no need to find the end
        else:
            count = await self.count(ref)
            if start < 0:
                start = max(0, count + start)
            stop = count if limit is None else min(count, start + limit)
        return [self._record(ref, i, raw) for i, raw in await self.read_range(ref, start, stop)]

    async def count(self, ref: StreamRef) -> int:
        hint = self.hint(ref)
        count = await self.find_end(ref, hint if hint is not None else 0)
        self._remember(ref, count, exact=True)
        return count

    async def truncate(self, ref: StreamRef, length: int) -> int:
        self._check_count(ref, "length", length)
        count = await self.count(ref)
        if length >= count:
            return 0
        if length == 0:
            paths = await self._stream_files(ref)
        else:
            # Markers are named by key; the dropped events say which keys they carry.
            dropped = await self.read_range(ref, length, count)
            keys = (self.key_of(ref, i, raw) for i, raw in dropped)
            paths = [ref.marker_path(k) for k in keys if k is not None]
            paths += [ref.event_path(i) for i in range(count - 1, length - 1, -1)]
        await ref.scope.delete_files(paths)
        self._remember(ref, length, exact=True)
        return count - length

    # -- appending ---------------------------------------------------------------------

    async def write_next(self, ref: StreamRef, data: bytes, start: int | None, cold: bool) -> int:
        """Write ``data`` create-only at the first free index from ``start``.

        ``cold`` says that ``start`` is a guess, not a hint from this storage. Appends
        to one stream through this storage take turns: they would only collide on the
        same cached index. Between storages or processes, a lost race costs a short
        random pause, so writers stop colliding in lock step.
        """
        async with self._appending.hold(ref.folder):
            hint = self.hint(ref)
            if hint is not None and (start is None or hint > start):
                start, cold = hint, False  # the tasks before us moved the end on
            return await self._race_for_next(ref, data, start, cold)

    async def _race_for_next(
        self, ref: StreamRef, data: bytes, start: int | None, cold: bool
    ) -> int:
        index = start or 0
        lost = streak = 0  # races lost in this append, and since the last gallop
        while True:
            if index >= MAX_EVENTS:
                raise self.invalid(ref, f"the stream is full ({MAX_EVENTS} events)")
            try:
                await self.driver.put(ref.event_path(index), data, JSON, if_absent=True)
            except FileExistsError:
                if cold:  # not a race: the stream existed before this storage saw it
                    index = await self.find_end(ref, index + 1, below_exists=True)
                    cold = False
                    continue
                lost += 1
                streak += 1
                await anyio.sleep(random.uniform(0, _CONTENTION_PAUSE * 2 ** min(lost, 6)))
                if streak >= _LINEAR_PROBES:
                    # Far behind: find the end instead of knocking on every index.
                    index = await self.find_end(ref, index + 1, below_exists=True)
                    streak = 0
                else:
                    index += 1
                continue
            self._remember(ref, index + 1)
            return index

    # -- finding the end ---------------------------------------------------------------

    async def _exists(self, ref: StreamRef, index: int) -> bool:
        if index >= MAX_EVENTS:
            return False
        return await self.driver.info(ref.event_path(index)) is not None

    async def find_end(self, ref: StreamRef, guess: int, *, below_exists: bool = False) -> int:
        """The number of events, found from ``guess`` by galloping and bisection.

        Events exist exactly at indices ``0 .. n-1``, so existence is monotone. A right
        guess costs two existence checks (``guess - 1`` and ``guess``), a wrong one
        O(log distance).
        """
        if guess > 0 and not below_exists and not await self._exists(ref, guess - 1):
            low, high = -1, guess - 1  # low exists (-1: nothing), high does not
        else:
            low, step = guess - 1, 1
            high = guess
            while await self._exists(ref, high):
                low, high = high, min(high + step, MAX_EVENTS)
                step *= 2
        while high - low > 1:
            middle = (low + high) // 2
            if await self._exists(ref, middle):
                low = middle
            else:
                high = middle
        return high

    # -- reading -----------------------------------------------------------------------

    async def read_range(self, ref: StreamRef, start: int, stop: int) -> list[tuple[int, bytes]]:
        """Events ``start .. stop-1`` as (index, bytes), up to the first missing one."""
        out: list[tuple[int, bytes]] = []
        got: dict[int, bytes | None] = {}

        async def fetch(index: int) -> None:
            found = await self.driver.get(ref.event_path(index))
            got[index] = None if found is None else found[0]

        for chunk in range(start, stop, READ_CHUNK):
            indices = range(chunk, min(chunk + READ_CHUNK, stop))
            got.clear()
            await run_bounded(fetch, indices, _READ_CONCURRENCY)
            for index in indices:
                raw = got[index]
                if raw is None:
                    return out  # the end (or a concurrent truncation)
                out.append((index, raw))
        return out

    async def _stream_files(self, ref: StreamRef) -> list[str]:
        """Every event and marker of the stream (not those of nested streams)."""
        cut = len(ref.folder) + 1
        return [
            path for path in await self.driver.list_files(ref.folder) if is_stream_file(path[cut:])
        ]

    # -- encoding ----------------------------------------------------------------------

    def where(self, ref: StreamRef, action: str, index: int | None = None) -> str:
        name = ref.stream if index is None else f"{ref.stream}/{event_name(index)}"
        path = ref.folder if index is None else ref.event_path(index)
        return describe(self.driver.name, action, ref.session_id, name, self.driver.url(path))

    def encode_event(self, ref: StreamRef, item: Any, key: str | None) -> bytes:
        meta: dict[str, Any] = {
            "session_id": ref.session_id,
            "stream": ref.stream,
            "appended_at": utc_now_iso(),
            "backend": self.driver.name,
        }
        if key is not None:
            meta["idempotency_key"] = key
        try:
            return encode_json({"item": item, METADATA_KEY: meta}, item)
        except ValueError as exc:
            why = f"the event is not JSON-serializable: {exc}"
            raise self.error(SerializationError, ref, "append an event to", why) from exc

    def _decode_event(self, ref: StreamRef, index: int, raw: bytes) -> dict[str, Any]:
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise self._corrupt(ref, index, f"not valid JSON: {exc}") from exc
        if not isinstance(record, dict) or "item" not in record:
            raise self._corrupt(ref, index, "not an event record (no 'item')")
        return record

    def _record(self, ref: StreamRef, index: int, raw: bytes) -> tuple[int, datetime, Any]:
        record = self._decode_event(ref, index, raw)
        meta = record.get(METADATA_KEY)
        stamp = meta.get("appended_at") if isinstance(meta, dict) else None
        try:
            appended_at = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
        except ValueError:
            appended_at = None
        if appended_at is None:
            raise self._corrupt(ref, index, "missing its append time")
        return index, appended_at, record["item"]

    def key_of(self, ref: StreamRef, index: int, raw: bytes) -> str | None:
        meta = self._decode_event(ref, index, raw).get(METADATA_KEY)
        key = meta.get("idempotency_key") if isinstance(meta, dict) else None
        return key if isinstance(key, str) else None

    def error(
        self, cls: type[E], ref: StreamRef, action: str, why: str, index: int | None = None
    ) -> E:
        """A ``cls`` error about the stream (or one of its events) naming where it happened."""
        name = ref.stream if index is None else f"{ref.stream}/{event_name(index)}"
        return cls(
            f"{self.where(ref, action, index)}: {why}",
            backend=self.driver.name,
            session_id=ref.session_id,
            filename=name,
        )

    def _corrupt(self, ref: StreamRef, index: int, why: str) -> CorruptDataError:
        return self.error(CorruptDataError, ref, "read", f"stored event is {why}", index)

    def invalid(self, ref: StreamRef, why: str) -> InvalidArgumentError:
        """The error for an unusable argument of a call on ``ref``."""
        return self.error(InvalidArgumentError, ref, "use event stream of", why)

    def _check_count(self, ref: StreamRef, name: str, value: object) -> int:
        try:
            return check_int(name, value, 0)
        except InvalidArgumentError as exc:
            raise self.invalid(ref, str(exc)) from None
