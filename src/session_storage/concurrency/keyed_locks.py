"""Per-key locks, so tasks of one process that write the same key queue instead of racing.

Conditional writes make concurrent writers safe, not cheap: each lost race costs a
request. Tasks that share a storage object can see each other coming, so they queue
per file (or per event stream) instead, and only writers in other processes or
storage objects still race. A forked child starts with no locks held: the parent's
holders run in the parent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager

from . import fork

__all__ = ["KeyedLocks"]


class KeyedLocks:
    """One FIFO lock per key (a path, or any hashable such as a tuple of ids) and
    event loop.

    A lock lives only while some task holds or waits for it, so the table stays as
    small as the number of keys in use right now.
    """

    def __init__(self) -> None:
        self._locks: dict[tuple[int, Hashable], tuple[asyncio.Lock, int]] = {}
        fork.track(self)

    def after_fork_in_child(self) -> None:
        """In a forked child: no task of the parent can release its locks here, and a
        new loop could reuse the id of a parent's loop in the keys."""
        self._locks = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        """Wait until no other task holds ``key``; hold it for the ``async with`` body."""
        # asyncio locks belong to one loop, and a storage may serve successive loops.
        slot = (id(asyncio.get_running_loop()), key)
        lock, users = self._locks.get(slot) or (asyncio.Lock(), 0)
        self._locks[slot] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[slot]
            if users == 1:
                del self._locks[slot]
            else:
                self._locks[slot] = (lock, users - 1)
