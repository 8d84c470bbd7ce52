"""Append-only event logs: every event is its own object, written create-only.

Layout under the session folder (``<stream>`` is encoded like a filename, so ``/``
nests streams the way it nests files)::

    <stream>/000000000000.json          event 0
    <stream>/000000000001.json          event 1, ...
    <stream>/~keys/<sha256(key)>.json   idempotency marker of one key

Event names are the index zero-padded to :data:`INDEX_WIDTH` (12) digits, so key order
is index order and a stream holds up to 10**12 - 1 events (thirty years at a thousand
appends a second). Event files are ordinary files of the session: ``list_files`` shows
``<stream>/000000000000.json`` and ``load_session`` can read one. Markers live in a
folder whose name contains ``~``, which no encoded name does, so no stream or file can
collide with it and listings skip it; ``delete_session`` removes it with the rest.

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

Idempotency. An append with a key first claims the key by creating its marker
(create-only) with the index it will start probing from, then writes the event (which
carries the key), then, only if the event landed elsewhere, rewrites the marker with the
final index (compare-and-swap on the claim). A new key costs two requests. Another
append with the same key fails to claim it, reads the marker and the event it points
at, and returns that index without writing (three requests); if the claim is still in
flight it waits for it. Guarantee: one event per key, as long as
an appender does not stall for more than :data:`CLAIM_LEASE_SECONDS` between claiming a
key and writing its event. An appender that dies after claiming is recovered by the
next append with the key once the lease has passed: it first looks for the dead
appender's event from the claimed index to the end (so an event that was written is
found, not duplicated) and otherwise takes the claim over (compare-and-swap) and
appends. Only an appender that stalls past the lease and then writes can duplicate.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import anyio
import orjson

from .backends.base import Driver
from .codec import METADATA_KEY, utc_now_iso
from .errors import (
    CorruptDataError,
    InvalidArgumentError,
    NotSupportedError,
    SerializationError,
)
from .errors import describe as _describe
from .turns import Turns

__all__ = [
    "CLAIM_LEASE_SECONDS",
    "HINT_CACHE_SIZE",
    "INDEX_WIDTH",
    "KEYS_FOLDER",
    "MAX_EVENTS",
    "EventLogs",
    "StreamRef",
    "event_name",
]

INDEX_WIDTH = 12
"""Digits of an event's name; indices run from 0 to 10**12 - 1."""
MAX_EVENTS = 10**INDEX_WIDTH
KEYS_FOLDER = "~keys"
"""Folder of the idempotency markers inside a stream folder."""
CLAIM_LEASE_SECONDS = 30.0
"""How long a claimed idempotency key waits for its appender before others take over."""
HINT_CACHE_SIZE = 4096
"""Streams whose next index a storage remembers (least recently used ones are dropped)."""

_JSON = "application/json"
_LINEAR_PROBES = 8  # lost races in a row before galloping to the end instead
_CONTENTION_PAUSE = 0.002  # seconds; doubles with every race lost in a row
_READ_CONCURRENCY = 16
_READ_CHUNK = 256
_POLL_FIRST = 0.005
_POLL_MAX = 0.25
_EVENT_NAME = re.compile(rf"\d{{{INDEX_WIDTH}}}\.json")
_MARKER_NAME = re.compile(rf"{re.escape(KEYS_FOLDER)}/[0-9a-f]{{64}}\.json")
_LONGEST_SUFFIX = f"/{KEYS_FOLDER}/{'0' * 64}.json"


def event_name(index: int) -> str:
    """The file name of event ``index`` inside its stream folder."""
    return f"{index:0{INDEX_WIDTH}d}.json"


@dataclass(frozen=True, slots=True)
class StreamRef:
    """One stream of one session, with the backend paths the facade built for it."""

    session_id: str
    stream: str
    folder: str
    """Backend path of the stream folder."""
    root: str
    """The storage root (local disk prunes empty folders up to it)."""

    def event_path(self, index: int) -> str:
        return f"{self.folder}/{event_name(index)}"

    def marker_path(self, key: str) -> str:
        # Hashed: any key, of any length, gives a short fixed-size name.
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{self.folder}/{KEYS_FOLDER}/{digest}.json"

    @staticmethod
    def longest_path(folder: str) -> str:
        """The longest path a stream in ``folder`` writes, for length checks."""
        return folder + _LONGEST_SUFFIX


@dataclass(frozen=True, slots=True)
class _Marker:
    key: str
    index: int | None  # final index, once known
    start: int  # where the claiming appender began probing
    claimed_at: float


class EventLogs:
    """The event logs of one storage (shared with its narrowed views)."""

    def __init__(self, driver: Driver) -> None:
        self._driver = driver
        self._hints: OrderedDict[str, int] = OrderedDict()
        self._turns = Turns()

    # -- the next-index cache ----------------------------------------------------------

    def _hint(self, ref: StreamRef) -> int | None:
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

    # -- public operations -------------------------------------------------------------

    async def append(self, ref: StreamRef, item: Any, key: str | None) -> int:
        if key is not None and (not isinstance(key, str) or not key):
            raise self._invalid(ref, f"idempotency_key must be a non-empty str, got {key!r}")
        data = self._encode_event(ref, item, key)
        if key is None:
            hint = self._hint(ref)
            return await self._write_next(ref, data, hint, cold=hint is None)
        return await self._append_keyed(ref, data, key)

    async def read(self, ref: StreamRef, start: int, limit: int | None) -> list[Any]:
        self._check_count(ref, "start", start)
        if limit is not None:
            self._check_count(ref, "limit", limit)
            if limit == 0:
                return []
        hint = self._hint(ref)
        if limit is not None and hint is not None and start + limit <= hint:
            stop = start + limit  # known to exist: no need to find the end
        else:
            count = await self.count(ref)
            stop = count if limit is None else min(count, start + limit)
        return [self._item(ref, i, raw) for i, raw in await self._read_range(ref, start, stop)]

    async def count(self, ref: StreamRef) -> int:
        hint = self._hint(ref)
        count = await self._find_end(ref, hint if hint is not None else 0)
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
            dropped = await self._read_range(ref, length, count)
            keys = (self._key_of(ref, i, raw) for i, raw in dropped)
            paths = [ref.marker_path(k) for k in keys if k is not None]
            paths += [ref.event_path(i) for i in range(count - 1, length - 1, -1)]
        await self._driver.delete_files(paths, ref.root)
        self._remember(ref, length, exact=True)
        return count - length

    # -- appending ---------------------------------------------------------------------

    async def _write_next(self, ref: StreamRef, data: bytes, start: int | None, cold: bool) -> int:
        """Write ``data`` create-only at the first free index from ``start``.

        Appends to one stream through this storage take turns: they would only
        collide on the same cached index. Between storages or processes, a lost race
        costs a short random pause, so writers stop colliding in lock step.
        """
        async with self._turns.turn(ref.folder):
            hint = self._hint(ref)
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
                raise self._invalid(ref, f"the stream is full ({MAX_EVENTS} events)")
            try:
                await self._driver.put(ref.event_path(index), data, _JSON, if_absent=True)
            except FileExistsError:
                if cold:  # not a race: the stream existed before this storage saw it
                    index = await self._find_end(ref, index + 1, below_exists=True)
                    cold = False
                    continue
                lost += 1
                streak += 1
                await anyio.sleep(random.uniform(0, _CONTENTION_PAUSE * 2 ** min(lost, 6)))
                if streak >= _LINEAR_PROBES:
                    # Far behind: find the end instead of knocking on every index.
                    index = await self._find_end(ref, index + 1, below_exists=True)
                    streak = 0
                else:
                    index += 1
                continue
            self._remember(ref, index + 1)
            return index

    async def _append_keyed(self, ref: StreamRef, data: bytes, key: str) -> int:
        marker_path = ref.marker_path(key)
        while True:
            # Claim first: a new key, the common case, then costs two requests.
            hint = self._hint(ref)
            start = hint or 0
            try:
                claim = await self._driver.put(
                    marker_path, self._claim(key, start), _JSON, if_absent=True
                )
            except FileExistsError:
                index = await self._resolve_claim(ref, data, key)
                if index is not None:
                    return index
                continue  # the marker went away (a truncation): claim again
            return await self._write_claimed(ref, data, key, start, hint is None, claim)

    async def _resolve_claim(self, ref: StreamRef, data: bytes, key: str) -> int | None:
        """The index of an event whose key another append claimed; writes nothing unless
        that claim outlived its lease. ``None`` if the marker is gone."""
        marker_path = ref.marker_path(key)
        pause = _POLL_FIRST
        while True:
            found = await self._driver.get(marker_path)
            if found is None:
                return None
            marker = self._decode_marker(ref, key, found[0])
            version = self._need_version(ref, found[1])
            if marker.index is not None:
                return marker.index
            if await self._event_key(ref, marker.start) == key:
                return marker.start  # written where the claim said; never finalized
            if time.time() - marker.claimed_at < CLAIM_LEASE_SECONDS:
                # The claiming appender is still at work: wait for its event.
                await anyio.sleep(pause)
                pause = min(pause * 2, _POLL_MAX)
                continue
            # The claim outlived its lease: its appender died (or stalls). It may have
            # written its event before dying; look before writing another.
            index = await self._scan_for_key(ref, key, marker.start + 1)
            if index is not None:
                await self._finalize(marker_path, key, index, version)
                return index
            hint = self._hint(ref)
            start = hint or 0
            try:
                claim = await self._driver.put(
                    marker_path, self._claim(key, start), _JSON, if_version=version
                )
            except FileExistsError:
                continue  # someone else took it over, or the appender woke up
            return await self._write_claimed(ref, data, key, start, hint is None, claim)

    async def _write_claimed(
        self, ref: StreamRef, data: bytes, key: str, start: int, cold: bool, claim: str
    ) -> int:
        marker_path = ref.marker_path(key)
        try:
            index = await self._write_next(ref, data, start, cold)
        except Exception:
            # Let the next append with this key recover at once instead of waiting
            # for the lease: mark the claim expired (it still looks for our event,
            # which may have been written even though the request failed).
            # Best effort, whatever fails here: the lease covers what this cannot.
            with contextlib.suppress(Exception):
                await self._driver.put(
                    marker_path, self._claim(key, start, claimed_at=0.0), _JSON, if_version=claim
                )
            raise
        if index != start:
            await self._finalize(marker_path, key, index, claim)
        return index

    async def _finalize(self, marker_path: str, key: str, index: int, version: str) -> None:
        data = orjson.dumps({"key": key, "index": index})
        try:
            await self._driver.put(marker_path, data, _JSON, if_version=version)
        except FileExistsError:
            pass  # the claim was taken over after its lease; nothing left to record

    async def _scan_for_key(self, ref: StreamRef, key: str, begin: int) -> int | None:
        while True:
            stop = begin + _READ_CHUNK
            found = await self._read_range(ref, begin, stop)
            for index, raw in found:
                if self._key_of(ref, index, raw) == key:
                    return index
            if len(found) < stop - begin:
                return None
            begin = stop

    async def _event_key(self, ref: StreamRef, index: int) -> str | None:
        found = await self._driver.get(ref.event_path(index))
        return None if found is None else self._key_of(ref, index, found[0])

    # -- finding the end ---------------------------------------------------------------

    async def _exists(self, ref: StreamRef, index: int) -> bool:
        if index >= MAX_EVENTS:
            return False
        return await self._driver.info(ref.event_path(index)) is not None

    async def _find_end(self, ref: StreamRef, guess: int, *, below_exists: bool = False) -> int:
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

    async def _read_range(self, ref: StreamRef, start: int, stop: int) -> list[tuple[int, bytes]]:
        """Events ``start .. stop-1`` as (index, bytes), up to the first missing one."""
        out: list[tuple[int, bytes]] = []
        limiter = anyio.Semaphore(_READ_CONCURRENCY)

        async def fetch(got: list[bytes | None], slot: int, index: int) -> None:
            async with limiter:
                found = await self._driver.get(ref.event_path(index))
            got[slot] = None if found is None else found[0]

        for chunk in range(start, stop, _READ_CHUNK):
            indices = range(chunk, min(chunk + _READ_CHUNK, stop))
            got: list[bytes | None] = [None] * len(indices)
            async with anyio.create_task_group() as tg:
                for slot, index in enumerate(indices):
                    tg.start_soon(fetch, got, slot, index)
            for index, raw in zip(indices, got, strict=True):
                if raw is None:
                    return out  # the end (or a concurrent truncation)
                out.append((index, raw))
        return out

    async def _stream_files(self, ref: StreamRef) -> list[str]:
        """Every event and marker of the stream (not those of nested streams)."""
        cut = len(ref.folder) + 1
        return [
            path
            for path in await self._driver.list_files(ref.folder)
            if _EVENT_NAME.fullmatch(path[cut:]) or _MARKER_NAME.fullmatch(path[cut:])
        ]

    # -- encoding ----------------------------------------------------------------------

    def _where(self, ref: StreamRef, action: str, index: int | None = None) -> str:
        name = ref.stream if index is None else f"{ref.stream}/{event_name(index)}"
        path = ref.folder if index is None else ref.event_path(index)
        return _describe(self._driver.name, action, ref.session_id, name, self._driver.url(path))

    def _encode_event(self, ref: StreamRef, item: Any, key: str | None) -> bytes:
        meta: dict[str, Any] = {
            "session_id": ref.session_id,
            "stream": ref.stream,
            "appended_at": utc_now_iso(),
            "backend": self._driver.name,
        }
        if key is not None:
            meta["idempotency_key"] = key
        try:
            return orjson.dumps({"item": item, METADATA_KEY: meta})
        except TypeError as exc:  # orjson.JSONEncodeError subclasses TypeError
            raise SerializationError(
                f"{self._where(ref, 'append an event to')}: the event is not "
                f"JSON-serializable: {exc}",
                backend=self._driver.name,
                session_id=ref.session_id,
                filename=ref.stream,
            ) from exc

    def _decode_event(self, ref: StreamRef, index: int, raw: bytes) -> dict[str, Any]:
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise self._corrupt(ref, index, f"not valid JSON: {exc}") from exc
        if not isinstance(record, dict) or "item" not in record:
            raise self._corrupt(ref, index, "not an event record (no 'item')")
        return record

    def _item(self, ref: StreamRef, index: int, raw: bytes) -> Any:
        return self._decode_event(ref, index, raw)["item"]

    def _key_of(self, ref: StreamRef, index: int, raw: bytes) -> str | None:
        meta = self._decode_event(ref, index, raw).get(METADATA_KEY)
        key = meta.get("idempotency_key") if isinstance(meta, dict) else None
        return key if isinstance(key, str) else None

    @staticmethod
    def _claim(key: str, start: int, claimed_at: float | None = None) -> bytes:
        at = time.time() if claimed_at is None else claimed_at
        return orjson.dumps({"key": key, "start": start, "claimed_at": at})

    def _decode_marker(self, ref: StreamRef, key: str, raw: bytes) -> _Marker:
        try:
            value = orjson.loads(raw)
            if value["key"] != key:
                raise ValueError("marker of another key")  # a SHA-256 collision
            if "index" in value:
                return _Marker(key, int(value["index"]), int(value["index"]), 0.0)
            return _Marker(key, None, int(value["start"]), float(value["claimed_at"]))
        except (ValueError, TypeError, KeyError) as exc:
            raise CorruptDataError(
                f"{self._where(ref, 'append an event to')}: the idempotency marker of key "
                f"{key!r} is unreadable: {exc}",
                backend=self._driver.name,
                session_id=ref.session_id,
                filename=ref.stream,
            ) from exc

    def _need_version(self, ref: StreamRef, version: str | None) -> str:
        if version is None:
            raise NotSupportedError(
                f"{self._where(ref, 'append an event to')}: the backend returned no "
                "version, so an idempotency key cannot be recovered safely",
                backend=self._driver.name,
                session_id=ref.session_id,
                filename=ref.stream,
            )
        return version

    def _corrupt(self, ref: StreamRef, index: int, why: str) -> CorruptDataError:
        return CorruptDataError(
            f"{self._where(ref, 'read', index)}: stored event is {why}",
            backend=self._driver.name,
            session_id=ref.session_id,
            filename=f"{ref.stream}/{event_name(index)}",
        )

    def _invalid(self, ref: StreamRef, why: str) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"{self._where(ref, 'use event stream of')}: {why}",
            backend=self._driver.name,
            session_id=ref.session_id,
            filename=ref.stream,
        )

    def _check_count(self, ref: StreamRef, name: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._invalid(ref, f"{name} must be an int >= 0, got {value!r}")
