"""What a saver remembers between calls, and how it keeps each ``latest`` object current.

:class:`SaverCache` is a first guess that saves requests, never the truth: the version
of each namespace's ``latest`` object last seen (so its replacement is one conditional
PUT, not a GET and a PUT), the channel states of recent checkpoints (so a child stores
only what changed, :mod:`.deltas`), and the version of writes objects this process
stored (so a second task's writes are one conditional PUT). Whatever is evicted or
stale costs a request or some bytes, never a wrong value: a stale version loses its
conditional write and is read again; a checkpoint whose parent is not remembered is
stored in full.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Mapping
from typing import NamedTuple

from ...concurrency.keyed_locks import KeyedLocks
from ...core.errors import ConflictError
from ...core.lru import LRU
from ...storage import SessionStorage
from .deltas import ChannelState
from .layout import CHECKPOINT, LATEST, unpack_head

__all__ = ["SaverCache", "Seen", "advance"]

_STATE_BYTES = 64 << 20
"""Bytes of channel values remembered for children's puts, over every thread."""
_RETRIES = 16

Namespace = tuple[str, str]
"""(thread id, checkpoint namespace)."""


class Seen(NamedTuple):
    """A namespace's ``latest`` object as last seen: absent when ``version`` is None."""

    checkpoint_id: str | None
    version: str | None


class _Pending:
    """A put waiting for ``latest``: the newest waiting one is written for all."""

    __slots__ = ("checkpoint_id", "data", "written")

    def __init__(self, checkpoint_id: str, data: bytes) -> None:
        self.checkpoint_id = checkpoint_id
        self.data = data
        self.written = False


class SaverCache:
    """The per-saver memory described in the module docstring; one per saver."""

    def __init__(self) -> None:
        self.locks = KeyedLocks()
        self.heads: LRU[Namespace, Seen] = LRU(4096)
        self.states: LRU[tuple[str, str, str], Mapping[str, ChannelState]] = LRU(
            _STATE_BYTES, lambda state: sum(len(s.typed[1]) for s in state.values())
        )
        self.writes: LRU[tuple[str, str, str], tuple[bytes, str]] = LRU(256)
        """(thread, namespace, folder) -> the writes object this process stored there, and
        its version."""
        self._pending: dict[Namespace, _Pending] = {}

    def forget(self, thread_id: str) -> None:
        """Drop what is remembered of a thread whose checkpoints are being deleted."""
        for head in self.heads.keys():
            if head[0] == thread_id:
                self.heads.pop(head)
        for state in self.states.keys():
            if state[0] == thread_id:
                self.states.pop(state)
        for writes in self.writes.keys():
            if writes[0] == thread_id:
                self.writes.pop(writes)


async def advance(
    cache: SaverCache, namespace: SessionStorage, key: Namespace, checkpoint_id: str, data: bytes
) -> None:
    """Make ``latest`` hold checkpoint ``checkpoint_id`` (``data``, from ``pack_head``)
    unless it holds a newer one: what the newest of concurrent puts leaves there.

    Puts of this process wait their turn, and one write covers every put waiting
    behind it; other processes race through the conditional write, whose loser reads
    the winner's id and writes again only if its own checkpoint is newer.
    """
    mine = _Pending(checkpoint_id, data)
    waiting = cache._pending.get(key)
    if waiting is None or checkpoint_id >= waiting.checkpoint_id:
        cache._pending[key] = mine
    lock: Hashable = ("latest", key)
    async with cache.locks.hold(lock):
        seen = cache.heads.get(key)
        if mine.written or _newer(seen, checkpoint_id):
            return
        best = cache._pending.pop(key, mine)
        if best.checkpoint_id < checkpoint_id:
            best = mine
        await _write(cache, namespace, key, best, seen)
        best.written = True


def _newer(seen: Seen | None, checkpoint_id: str) -> bool:
    return (
        seen is not None and seen.checkpoint_id is not None and seen.checkpoint_id > checkpoint_id
    )


async def _write(
    cache: SaverCache, namespace: SessionStorage, key: Namespace, entry: _Pending, seen: Seen | None
) -> None:
    last: ConflictError | None = None
    for attempt in range(_RETRIES + 1):
        if attempt:
            await asyncio.sleep(0)  # let the winner's other work go first
        try:
            if seen is not None and seen.version is not None:
                version = await namespace.store_bytes(
                    LATEST, CHECKPOINT, entry.data, if_version=seen.version
                )
            else:
                # Never seen, or seen absent: most often a new thread.
                version = await namespace.store_bytes(
                    LATEST, CHECKPOINT, entry.data, if_absent=True
                )
            cache.heads.put(key, Seen(entry.checkpoint_id, version))
            return
        except ConflictError as exc:
            last = exc
        found = await namespace.load_bytes(LATEST, CHECKPOINT, with_version=True)
        seen = Seen(unpack_head(found.data)[0] if found.data is not None else None, found.version)
        cache.heads.put(key, seen)
        if _newer(seen, entry.checkpoint_id):
            return
    assert last is not None
    raise last
