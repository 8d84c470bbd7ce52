"""The commit point of every change to a stream: one conditional write of its tail.

See :mod:`.log` for why this is safe. :meth:`Committer.commit` runs a plan on the
tail this storage knows, writes what the plan decides (sealed segments first, then
the tail naming them, ``if_version`` the known tail's) and, when the store refuses
the write, reads the fresh tail and runs the plan again on top of it.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import anyio

from ..backends.write_ids import WriteCondition
from ..concurrency.bounded import run_bounded
from ..concurrency.keyed_locks import KeyedLocks
from ..core.errors import CorruptDataError
from .cache import Known
from .documents import Doc, encode_doc
from .idempotency import find
from .layout import Link, StreamRef
from .reading import CONCURRENCY, Reader, Stale

__all__ = ["JSON", "Change", "Committer"]

T = TypeVar("T")

JSON = "application/json"
_CONTENTION_PAUSE = 0.005  # seconds; doubles with every refused write in a row...
_PAUSE_DOUBLINGS = 4  # ...up to 16 times: more would starve a worker that lost often


@dataclass(frozen=True, slots=True)
class Change(Generic[T]):
    """What one attempt of a write decided: its result, and what to write for it."""

    result: T
    tail: Doc | None = None
    """The new tail, or None when nothing needs writing."""
    sealed: tuple[Doc, ...] = ()
    """Segments to write before the tail that names them."""
    obsolete: tuple[Link, ...] = ()
    """Segments no longer on the chain once the tail is written: deleted after."""


Plan = Callable[[Known], Awaitable[Change[T]]]
"""Decides a change from a tail; may raise Stale from walking the chain."""


class Committer:
    """Commits changes to the streams ``reader`` reads, through its driver and cache."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader
        self._writing = KeyedLocks()

    async def commit(self, ref: StreamRef, plan: Plan[T]) -> T:
        """Run ``plan`` on the tail and write what it decides, until the write holds.

        ``plan`` may run more than once: on a refused write it runs again on the fresh
        tail. A plan that writes nothing is answered from a tail read by this call,
        never from the cache alone (which may be stale). Writes to one stream through
        this storage take turns: they would only refuse each other.
        """
        reader, tails, failures = self._reader, self._reader.cache.tails, self._reader.failures
        async with self._writing.hold(ref.folder):
            known = tails.get(ref.folder)
            fresh = known is None
            if known is None:
                known = await reader.fetch(ref)
            refused = 0
            stale: str | None = None
            while True:
                try:
                    change = await plan(known)
                except Stale:
                    if fresh and known.version == stale:  # the same tail twice
                        why = "a segment the tail names is missing"
                        raise failures.error(CorruptDataError, ref, "write", why) from None
                    stale = known.version if fresh else None
                    known, fresh = await reader.fetch(ref), True
                    continue
                if change.tail is None:
                    if fresh:
                        return change.result
                    known, fresh = await reader.fetch(ref), True
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
                    known, fresh = await reader.fetch(ref), True
                    if find(known.doc.ops, change.tail.id) is not None:
                        await self._delete(ref, change.obsolete)
                        return change.result
                    await self._delete(ref, _unused(change.sealed, known.doc))
                    continue
                except BaseException:
                    tails.pop(ref.folder)  # the outcome is unknown
                    raise
                tails.put(ref.folder, Known(version, change.tail))
                await self._delete(ref, change.obsolete)
                return change.result

    async def _write(self, ref: StreamRef, known: Known, change: Change[Any]) -> str:
        assert change.tail is not None
        driver, segments = self._reader.driver, self._reader.cache.segments
        meta = {"session_id": ref.session_id, "stream": ref.stream, "backend": driver.name}

        async def seal(segment: Doc) -> None:
            # A fresh name per attempt: an unconditional write cannot overwrite anything
            # of another writer, and a resend after a lost reply writes the same bytes.
            link = Link(segment.first, segment.id)
            await driver.put(ref.segment_path(link), encode_doc(segment, meta, tail=False), JSON)
            segments.put(ref.segment_path(link), segment)

        await run_bounded(seal, change.sealed, CONCURRENCY)
        return await driver.put(
            ref.tail_path,
            encode_doc(change.tail, meta, tail=True),
            JSON,
            WriteCondition(
                if_version=known.version,
                if_absent=known.version is None,
                verify_own=False,  # the commit id in the tail tells, see idempotency
            ),
        )

    async def _delete(self, ref: StreamRef, links: Iterable[Link]) -> None:
        """Delete segments off the chain, best effort: garbage is never read anyway."""
        paths = [ref.segment_path(link) for link in links]
        if not paths:
            return
        for path in paths:
            self._reader.cache.segments.pop(path)
        try:
            await self._reader.driver.delete_files(paths)
        except Exception:  # noqa: BLE001, S110 - the stream is committed; this only tidies
            pass


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
