"""One event loop at a time per storage: a clear error instead of broken connections.

A network filesystem's connections belong to the event loop that opened them; a
storage used under a new loop opens new ones and closes the old (see
:attr:`Driver.filesystem`). That is right for successive loops (``asyncio.run``
twice), but if two loops in two threads use one storage at the same moment, each
switch closes the connections the other is still using, and the caller sees an
unrelated client error. :class:`LoopGuard` tells the two cases apart: it counts the
operations in flight and refuses an operation from a second loop while the first
loop still runs one. In a forked child the parent's operations do not exist: the
count starts afresh there.
"""

from __future__ import annotations

import asyncio
import threading

from . import fork

__all__ = ["LoopGuard"]


class LoopGuard:
    """Which event loop has operations in flight on a storage, and how many."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # loops in other threads update the count too
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight = 0
        fork.track(self)

    def enter(self) -> bool:
        """Count an operation of the running loop; False if another loop that is still
        running has operations in flight (nothing is counted then)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            owner = self._loop
            if owner is not loop and self._in_flight and owner is not None:
                if owner.is_running():
                    return False
                self._in_flight = 0  # that loop ended without finishing: nothing runs
            self._loop = loop
            self._in_flight += 1
            return True

    def leave(self) -> None:
        """Uncount an operation that :meth:`enter` counted."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def after_fork_in_child(self) -> None:
        """In a forked child: the parent's operations run there, not here."""
        self._lock = threading.Lock()  # a thread that is gone here may have held it
        self._loop = None
        self._in_flight = 0
