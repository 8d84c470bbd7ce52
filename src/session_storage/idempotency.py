"""Idempotent appends: at most one event per idempotency key.

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

Lost replies. A claim carries a random token of its append. If the reply to the claim
is lost and the cloud client's resend fails as "exists", the marker read next shows
the append its own token: it goes on to write its event instead of waiting out its
own lease. (The driver's write-id check would cost one more request here; the marker
is read anyway, so the claim is written with ``verify_own=False``.)
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass

import anyio
import orjson

from .errors import CorruptDataError, NotSupportedError
from .event_log import JSON, READ_CHUNK, EventLogs
from .event_paths import StreamRef

__all__ = ["CLAIM_LEASE_SECONDS", "append_keyed"]

CLAIM_LEASE_SECONDS = 30.0
"""How long a claimed idempotency key waits for its appender before others take over."""

_POLL_FIRST = 0.005
_POLL_MAX = 0.25
_APPEND = "append an event to"


@dataclass(frozen=True, slots=True)
class _Marker:
    key: str
    index: int | None  # final index, once known
    start: int  # where the claiming appender began probing
    claimed_at: float
    token: str | None = None  # the claiming append's own mark


async def append_keyed(logs: EventLogs, ref: StreamRef, data: bytes, key: str) -> int:
    """Append the encoded event ``data`` carrying ``key`` unless an event has it already;
    the index of the one event with that key."""
    marker_path = ref.marker_path(key)
    token = uuid.uuid4().hex
    while True:
        # Claim first: a new key, the common case, then costs two requests.
        hint = logs.hint(ref)
        start = hint or 0
        try:
            claim = await logs.driver.put(
                marker_path,
                _claim(key, start, token=token),
                JSON,
                if_absent=True,
                verify_own=False,  # the marker is read next anyway; see the module doc
            )
        except FileExistsError:
            index = await _resolve_claim(logs, ref, data, key, token)
            if index is not None:
                return index
            continue  # the marker went away (a truncation): claim again
        return await _write_claimed(logs, ref, data, key, start, hint is None, claim)


async def _resolve_claim(
    logs: EventLogs, ref: StreamRef, data: bytes, key: str, token: str
) -> int | None:
    """The index of an event whose key another append claimed; writes nothing unless
    that claim outlived its lease. ``None`` if the marker is gone.

    A claim carrying ``token`` is this append's own whose reply was lost: it goes on
    to write its event."""
    marker_path = ref.marker_path(key)
    pause = _POLL_FIRST
    while True:
        found = await logs.driver.get(marker_path)
        if found is None:
            return None
        marker = _decode_marker(logs, ref, key, found[0])
        version = _need_version(logs, ref, found[1])
        if marker.index is None and marker.token == token:
            cold = logs.hint(ref) is None
            return await _write_claimed(logs, ref, data, key, marker.start, cold, version)
        if marker.index is not None:
            return marker.index
        if await _event_key(logs, ref, marker.start) == key:
            return marker.start  # written where the claim said; never finalized
        if time.time() - marker.claimed_at < CLAIM_LEASE_SECONDS:
            # The claiming appender is still at work: wait for its event.
            await anyio.sleep(pause)
            pause = min(pause * 2, _POLL_MAX)
            continue
        # The claim outlived its lease: its appender died (or stalls). It may have
        # written its event before dying; look before writing another.
        index = await _scan_for_key(logs, ref, key, marker.start + 1)
        if index is not None:
            await _finalize(logs, marker_path, key, index, version)
            return index
        hint = logs.hint(ref)
        start = hint or 0
        try:
            claim = await logs.driver.put(marker_path, _claim(key, start), JSON, if_version=version)
        except FileExistsError:
            continue  # someone else took it over, or the appender woke up
        return await _write_claimed(logs, ref, data, key, start, hint is None, claim)


async def _write_claimed(
    logs: EventLogs, ref: StreamRef, data: bytes, key: str, start: int, cold: bool, claim: str
) -> int:
    marker_path = ref.marker_path(key)
    try:
        index = await logs.write_next(ref, data, start, cold)
    except Exception:
        # Let the next append with this key recover at once instead of waiting
        # for the lease: mark the claim expired (it still looks for our event,
        # which may have been written even though the request failed).
        # Best effort, whatever fails here: the lease covers what this cannot.
        with contextlib.suppress(Exception):
            await logs.driver.put(
                marker_path, _claim(key, start, claimed_at=0.0), JSON, if_version=claim
            )
        raise
    if index != start:
        await _finalize(logs, marker_path, key, index, claim)
    return index


async def _finalize(logs: EventLogs, marker_path: str, key: str, index: int, version: str) -> None:
    data = orjson.dumps({"key": key, "index": index})
    try:
        await logs.driver.put(marker_path, data, JSON, if_version=version)
    except FileExistsError:
        pass  # the claim was taken over after its lease; nothing left to record


async def _scan_for_key(logs: EventLogs, ref: StreamRef, key: str, begin: int) -> int | None:
    while True:
        stop = begin + READ_CHUNK
        found = await logs.read_range(ref, begin, stop)
        for index, raw in found:
            if logs.key_of(ref, index, raw) == key:
                return index
        if len(found) < stop - begin:
            return None
        begin = stop


async def _event_key(logs: EventLogs, ref: StreamRef, index: int) -> str | None:
    found = await logs.driver.get(ref.event_path(index))
    return None if found is None else logs.key_of(ref, index, found[0])


def _claim(
    key: str, start: int, claimed_at: float | None = None, token: str | None = None
) -> bytes:
    at = time.time() if claimed_at is None else claimed_at
    claim: dict[str, object] = {"key": key, "start": start, "claimed_at": at}
    if token is not None:
        claim["token"] = token
    return orjson.dumps(claim)


def _decode_marker(logs: EventLogs, ref: StreamRef, key: str, raw: bytes) -> _Marker:
    try:
        value = orjson.loads(raw)
        if value["key"] != key:
            raise ValueError("marker of another key")  # a SHA-256 collision
        if "index" in value:
            return _Marker(key, int(value["index"]), int(value["index"]), 0.0)
        token = value.get("token")
        return _Marker(
            key,
            None,
            int(value["start"]),
            float(value["claimed_at"]),
            token if isinstance(token, str) else None,
        )
    except (ValueError, TypeError, KeyError) as exc:
        why = f"the idempotency marker of key {key!r} is unreadable: {exc}"
        raise logs.error(CorruptDataError, ref, _APPEND, why) from exc


def _need_version(logs: EventLogs, ref: StreamRef, version: str | None) -> str:
    if version is None:
        why = "the backend returned no version, so an idempotency key cannot be recovered safely"
        raise logs.error(NotSupportedError, ref, _APPEND, why)
    return version
