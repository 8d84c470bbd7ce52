"""Background saves: accept a write now, perform it soon, never drop it silently.

A :class:`BackgroundSaver` belongs to one storage and is shared by every storage
narrowed from it, so one ``flush()`` or ``aclose()`` of the owner covers them all. It
keeps, per file path, at most one write in progress and one state waiting; a newer
state for a waiting path replaces the older one (the older handles then resolve with
the newer write). Writes of different paths run concurrently, at most ``concurrency``
at a time; writes of one path never overlap, so they land in the order accepted.

The states arrive already encoded: a bad state raised in the caller and nothing was
queued. A failed write is recorded on its handles and kept until a ``flush`` reports
it. Nothing here is bound to one event loop for good: saves left over when a loop
ended (``asyncio.run`` cancels its tasks on exit) are written by the next loop that
uses the storage, or at interpreter exit (:mod:`session_storage.concurrency.exit_drain`); a warning
says so when the loop ends. A saver garbage-collected with saves never written warns
with a ``ResourceWarning``, and failures no flush reported are logged at ERROR then.
In a forked child the saves accepted before the fork stay the parent's: the child
forgets them, and their handles fail there (see :meth:`BackgroundSaver.after_fork_in_child`).
"""

from __future__ import annotations

import asyncio
import logging
import warnings
import weakref
from collections.abc import Awaitable, Callable, Generator
from functools import partial
from typing import Any

from ..core.arguments import check_int
from ..core.errors import BackgroundSaveError
from . import exit_drain as shutdown
from . import fork

__all__ = ["DEFAULT_CONCURRENCY", "BackgroundSaver", "SaveHandle"]

DEFAULT_CONCURRENCY = 8
"""Background writes in progress at once, per storage and its narrowed views."""

Write = Callable[[], Awaitable[str]]
"""Performs one store and returns the new version; called when the write starts."""

_log = logging.getLogger(__name__)


class SaveHandle:
    """A background save the storage has accepted.

    ``await handle`` returns the version token of the write that stored this state, or
    a newer state of the same file that replaced it before it was written (then
    :attr:`superseded` is true). If that write fails, awaiting raises its error, which
    ``flush()`` reports as well. Awaiting is optional: ``flush()`` and ``aclose()``
    wait for every accepted save whether or not anyone awaits its handle.
    """

    __slots__ = ("_future", "_superseded", "filename", "session_id")

    def __init__(self, future: asyncio.Future[str], session_id: str, filename: str) -> None:
        self._future = future
        self._superseded = False
        self.session_id = session_id
        self.filename = filename

    @property
    def superseded(self) -> bool:
        """Whether a newer state for the same file replaced this one before it was written."""
        return self._superseded

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
        if not self._future.done():
            state = "pending"
        elif self._future.exception() is not None:
            state = "failed"
        else:
            state = "stored"
        extra = ", superseded" if self._superseded else ""
        return f"<SaveHandle {self.session_id!r} {self.filename!r} {state}{extra}>"

    def _resolve(self, version: str) -> None:
        if not self._future.done():
            self._future.set_result(version)

    def _fail(self, exc: Exception) -> None:
        if not self._future.done():
            self._future.set_exception(exc)
            # flush() reports every failure, so asyncio need not log it as unretrieved.
            self._future.exception()


class _Entry:
    """The newest accepted state of one path, and every handle waiting for it."""

    __slots__ = ("handles", "path", "write")

    def __init__(self, path: str, write: Write, handle: SaveHandle) -> None:
        self.path = path
        self.write = write
        self.handles = [handle]

    def absorb_older(self, older: _Entry) -> None:
        """Take over the handles of an older state of the same path."""
        for handle in older.handles:
            handle._superseded = True
        self.handles[:0] = older.handles


class BackgroundSaver:
    """Queues, coalesces and performs background writes; see the module docstring.

    ``label`` names the storage in warnings and logs; ``release`` (the driver's
    ``aclose``) frees the connections that writing at interpreter exit opened.
    """

    def __init__(
        self,
        concurrency: int = DEFAULT_CONCURRENCY,
        *,
        label: str = "a storage",
        release: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._limit = check_int("background_concurrency", concurrency, 1)
        self.label = label
        self._release = release
        self._tracked = False
        self._warned_generation = -1  # the loop whose end was already warned about
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._generation = 0  # bumped when a new loop takes over; old tasks then stand down
        self._queued: dict[str, _Entry] = {}  # waiting to be written, oldest first
        self._writing: dict[str, _Entry] = {}  # being written now
        self._tasks: dict[str, asyncio.Task[None]] = {}  # one per path being or about to be written
        self._failures: list[tuple[str, Exception]] = []  # not yet reported by a flush
        fork.track(self)

    # -- accepting -----------------------------------------------------------------

    def submit(self, path: str, write: Write, session_id: str, filename: str) -> SaveHandle:
        """Queue ``write`` for ``path``, replacing a state that still waits there."""
        loop = self._bind()
        if not self._tracked:
            shutdown.track(self)
            self._tracked = True
        handle = SaveHandle(loop.create_future(), session_id, filename)
        entry = _Entry(path, write, handle)
        older = self._queued.get(path)
        if older is not None:
            entry.absorb_older(older)
        # Assigning to an existing key keeps its place in line.
        self._queued[path] = entry
        self._pump()
        return handle

    # -- waiting -------------------------------------------------------------------

    async def flush(self, prefix: str | None = None) -> None:
        """Wait for every save accepted before this call, then raise unreported failures.

        With ``prefix`` only paths starting with it count (a narrowed storage's saves);
        without, every save of the storage and its narrowed views. Saves accepted
        while flushing are not waited for, so a steady stream of saves cannot keep a
        flush from returning. Raises BackgroundSaveError carrying every failure since
        the last flush.
        """
        if not (self._queued or self._tasks or self._writing or self._failures):
            return  # nothing to do, and no need to touch the event loop
        loop = self._bind()
        self._pump()
        entries = [*self._queued.values(), *self._writing.values()]
        waiting = [
            h._future
            for e in entries
            if prefix is None or e.path.startswith(prefix)
            for h in e.handles
            if not h._future.done()
        ]
        if waiting:
            await self._wait_all(loop, waiting)
        failures = self._take_failures(prefix)
        if failures:
            raise BackgroundSaveError(failures) from failures[0]

    async def _wait_all(
        self, loop: asyncio.AbstractEventLoop, futures: list[asyncio.Future[str]]
    ) -> None:
        # A counter, not a re-scan of the futures per finished write: linear in saves.
        remaining = len(futures)
        all_done: asyncio.Future[None] = loop.create_future()

        def one_done(_: asyncio.Future[str]) -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0 and not all_done.done():
                all_done.set_result(None)

        for future in futures:
            future.add_done_callback(one_done)
        while not all_done.done():
            # Waking on every finished write too restarts a write whose task someone
            # cancelled while the loop lives on (its done callback does not restart it).
            await asyncio.wait(
                [all_done, *self._tasks.values()], return_when=asyncio.FIRST_COMPLETED
            )
            self._pump()
            if not self._tasks and not all_done.done():
                raise RuntimeError("background saves stalled with nothing left to write")

    # -- leftovers: interpreter exit and garbage collection --------------------------

    @property
    def pending(self) -> int:
        """How many files have a save waiting or being written."""
        return len(self._queued.keys() | self._writing.keys())

    def loop_running_elsewhere(self) -> bool:
        """Whether the saves belong to an event loop that runs (in another thread)."""
        loop = self._loop() if self._loop is not None else None
        return loop is not None and loop.is_running()

    async def drain(self) -> None:
        """Write every pending save in the running loop, then release its connections.

        Raises BackgroundSaveError as :meth:`flush` does.
        """
        try:
            await self.flush()
        finally:
            if self._release is not None:
                await self._release()

    def after_fork_in_child(self) -> None:
        """In a forked child: the parent writes (and reports) what it accepted, so the
        child forgets it, and a handle of it fails here instead of never resolving."""
        entries = [*self._queued.values(), *self._writing.values()]
        self._queued, self._writing, self._tasks, self._failures = {}, {}, {}, []
        self._loop, self._generation = None, self._generation + 1
        shutdown.let_go(self)
        for handle in (h for entry in entries for h in entry.handles):
            what = f"session {handle.session_id!r} file {handle.filename!r}: its background save"
            error = fork.parent_owns(what, session_id=handle.session_id, filename=handle.filename)
            fork.fail_inherited(handle._future, error)

    def take_failures(self) -> list[Exception]:
        """Every failure no flush reported yet; they count as reported from now on."""
        return self._take_failures(None)

    def __del__(self) -> None:
        # Reached only when no loop holds a write of ours and no loop ended with saves
        # pending (shutdown holds those savers): a loop closed without cancelling its
        # tasks, say. Nothing can be written any more; say what is lost.
        try:
            pending = self.pending
            if pending:
                warnings.warn(
                    f"{self.label} was garbage collected with {pending} background saves "
                    "never written; flush() or close the storage before dropping it",
                    ResourceWarning,
                    # Raised from __del__: no caller frame to point at.
                    stacklevel=1,
                    source=self,
                )
                for path in self._queued.keys() | self._writing.keys():
                    _log.error("background save of %s lost: never written", path)
            for _path, exc in self._failures:
                _log.error("background save failed and no flush reported it: %s", exc)
        except Exception:  # noqa: BLE001, S110 - interpreter teardown: modules may be gone
            pass

    def _take_failures(self, prefix: str | None) -> list[Exception]:
        if prefix is None:
            taken, self._failures = self._failures, []
        else:
            taken = [f for f in self._failures if f[0].startswith(prefix)]
            self._failures = [f for f in self._failures if not f[0].startswith(prefix)]
        return [exc for _, exc in taken]

    # -- writing -------------------------------------------------------------------

    def _pump(self) -> None:
        """Start writes for waiting paths while there is room."""
        if len(self._tasks) >= self._limit:
            return
        loop = self._loop() if self._loop is not None else None
        assert loop is not None, "_pump runs after _bind"
        for path in self._queued:
            if path in self._tasks:  # its previous write is still running
                continue
            task = loop.create_task(self._write(path, self._generation))
            task.add_done_callback(partial(self._finished, path, self._generation))
            self._tasks[path] = task
            if len(self._tasks) >= self._limit:
                return

    async def _write(self, path: str, generation: int) -> None:
        if generation != self._generation:
            return  # a newer event loop has taken the saves over
        # The entry is taken when the write starts, not when it was scheduled, so every
        # state accepted until then is coalesced into this one write.
        entry = self._queued.pop(path, None)
        if entry is None:
            return
        self._writing[path] = entry
        try:
            version = await entry.write()
        except asyncio.CancelledError:
            # Our loop is shutting down (or someone cancelled every task): keep the
            # state so that the next flush, in this loop or another, writes it.
            self._writing.pop(path, None)
            self._requeue(entry)
            raise
        except Exception as exc:  # noqa: BLE001 - every failure goes to the handles and flush
            self._writing.pop(path, None)
            self._failures.append((path, exc))
            for handle in entry.handles:
                handle._fail(exc)
        else:
            self._writing.pop(path, None)
            for handle in entry.handles:
                handle._resolve(version)

    def _finished(self, path: str, generation: int, task: asyncio.Task[None]) -> None:
        if generation != self._generation:
            return
        if self._tasks.get(path) is task:
            del self._tasks[path]
        if not task.cancelled():
            # Not after a cancellation: the loop may be closing, and tasks started now
            # would be destroyed pending. The next submit or flush starts them.
            self._pump()
            if not self._queued and not self._writing:
                shutdown.let_go(self)
        elif self._queued or self._writing:
            self._orphaned()

    def _orphaned(self) -> None:
        """Our writes were cancelled with saves pending: most likely the loop is ending."""
        # Held, so that a storage dropped together with its loop still gets its saves
        # written, by the next loop that uses it or at interpreter exit.
        shutdown.hold(self)
        if self._warned_generation != self._generation:
            self._warned_generation = self._generation
            _log.warning(
                "the event loop cancelled the background saves of %s with %d pending (did "
                "asyncio.run return without flush() or aclose()?); they are kept and written "
                "by the next flush(), aclose() or save in another loop, or at interpreter exit",
                self.label,
                self.pending,
            )

    def _requeue(self, entry: _Entry) -> None:
        newer = self._queued.get(entry.path)
        if newer is None:
            self._queued[entry.path] = entry
        else:
            newer.absorb_older(entry)

    # -- event loops ---------------------------------------------------------------

    def _bind(self) -> asyncio.AbstractEventLoop:
        """The running loop, taking over saves left by a loop that has ended."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "background saves need a running event loop; call store_session_nowait "
                "from async code, or use SyncSessionStorage"
            ) from None
        old = self._loop() if self._loop is not None else None
        if old is loop:
            return loop
        if old is not None and old.is_running():
            raise RuntimeError(
                "this storage's background saves belong to an event loop that is still "
                "running in another thread; use one storage per event loop"
            )
        self._adopt(loop)
        return loop

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        # Handles of the old loop cannot be awaited any more; the states they carry
        # are kept and written here, each with a handle of this loop that flush waits
        # for. Tasks of the old loop see the new generation and do nothing should that
        # loop ever run again.
        self._generation += 1
        self._loop = weakref.ref(loop)
        self._tasks.clear()
        for entry in list(self._writing.values()):
            self._requeue(entry)
        self._writing.clear()
        for entry in self._queued.values():
            if entry.handles:
                newest = entry.handles[-1]
                entry.handles = [
                    SaveHandle(loop.create_future(), newest.session_id, newest.filename)
                ]
