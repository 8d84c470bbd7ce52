"""The handle of one accepted background save, and the pending write it waits for.

One :class:`PendingWrite` per file path holds the newest accepted state and one future
that every handle of that path shares: a newer state replacing a waiting one costs a
small handle and an update of two fields, never a pass over the older handles (40,000
saves to one session are accepted in linear time). A write that gives way to a newer
one of the same path (its write was cancelled, or a delete held it back) *forwards*
to it: its handles then resolve with the newer write. A :class:`Barrier` is a delete
in progress, which holds back the saves accepted after it began.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

__all__ = ["Barrier", "PendingWrite", "SaveHandle", "Write"]

Write = Callable[[], Awaitable[str]]
"""Performs one store and returns the new version; called when the write starts."""


class PendingWrite:
    """The newest accepted state of one path, the future its handles share, and the
    number of the newest save accepted for it."""

    __slots__ = ("filename", "forward", "future", "newest", "path", "session_id", "write")

    def __init__(
        self,
        path: str,
        write: Write,
        future: asyncio.Future[str],
        number: int,
        session_id: str,
        filename: str,
    ) -> None:
        self.path = path
        self.write = write
        self.future = future
        self.newest = number
        self.session_id = session_id
        self.filename = filename
        self.forward: PendingWrite | None = None

    def final(self) -> PendingWrite:
        """The write this one forwarded to (itself if none): it resolves the handles."""
        entry = self
        while entry.forward is not None:
            entry = entry.forward
        return entry

    def forward_to(self, newer: PendingWrite) -> None:
        """Give way to ``newer``, a later state of the same path, and resolve with it."""
        self.forward = newer
        if newer.future is not self.future and not self.future.done():
            # Whoever collected this future (a flush, a delete) learns the outcome too.
            newer.future.add_done_callback(partial(_copy_outcome, self.future))

    def resolve(self, version: str) -> None:
        if not self.future.done():
            self.future.set_result(version)

    def fail(self, exc: Exception) -> None:
        if not self.future.done():
            self.future.set_exception(exc)
            # flush() reports every failure, so asyncio need not log it as unretrieved.
            self.future.exception()

    def describe(self) -> str:
        return f"session {self.session_id!r} file {self.filename!r}"


@dataclass(eq=False)
class Barrier:
    """A delete in progress: the file (``exact``) or folder prefix it covers, and the
    saves of covered paths accepted since it began, held until it is done."""

    match: str
    exact: bool
    held: dict[str, PendingWrite] = field(default_factory=dict)

    def covers(self, path: str) -> bool:
        return path == self.match if self.exact else path.startswith(self.match)


def _copy_outcome(target: asyncio.Future[str], source: asyncio.Future[str]) -> None:
    if target.done() or source.cancelled():
        return
    try:
        exc = source.exception()
        if exc is None:
            target.set_result(source.result())
        else:
            target.set_exception(exc)
            target.exception()
    except RuntimeError:  # the target's event loop has closed: nobody waits there
        pass


class SaveHandle:
    """A background save the storage has accepted.

    ``await handle`` returns the version token of the write that stored this state, or
    a newer state of the same file that replaced it before it was written (then
    :attr:`superseded` is true). If that write fails, awaiting raises its error, which
    ``flush()`` reports as well. Awaiting is optional: ``flush()`` and ``aclose()``
    wait for every accepted save whether or not anyone awaits its handle.
    """

    __slots__ = ("_entry", "_number")

    def __init__(self, entry: PendingWrite, number: int) -> None:
        self._entry = entry
        self._number = number

    @property
    def session_id(self) -> str:
        return self._entry.session_id

    @property
    def filename(self) -> str:
        return self._entry.filename

    @property
    def superseded(self) -> bool:
        """Whether a newer state for the same file replaced this one before it was written."""
        return self._entry.forward is not None or self._entry.newest != self._number

    @property
    def _future(self) -> asyncio.Future[str]:
        return self._entry.final().future

    def done(self) -> bool:
        """Whether the save has landed or failed."""
        return self._future.done()

    def result(self) -> str:
        """The version written; raises the write's error, or InvalidStateError if not done."""
        return self._future.result()

    def exception(self) -> BaseException | None:
        """The write's error, or ``None`` if it succeeded; InvalidStateError if not done."""
        return self._future.exception()

    def __await__(self) -> Generator[Any, None, str]:
        # Shielded: a caller cancelled while awaiting must not cancel the save itself.
        return asyncio.shield(self._future).__await__()

    def __repr__(self) -> str:
        future = self._future
        if not future.done():
            state = "pending"
        elif future.exception() is not None:
            state = "failed"
        else:
            state = "stored"
        extra = ", superseded" if self.superseded else ""
        return f"<SaveHandle {self.session_id!r} {self.filename!r} {state}{extra}>"
