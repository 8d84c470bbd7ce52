"""Background saves: accept a write now, perform it soon, never drop it silently.

A :class:`BackgroundSaver` belongs to one storage and is shared by every storage
narrowed from it, so one ``flush()`` or ``aclose()`` of the owner covers them all. It
keeps, per file path, at most one write in progress and one state waiting; a newer
state for a waiting path replaces the older one (the older handles then resolve with
the newer write), in constant time. Writes of different paths run concurrently, at
most ``concurrency`` at a time; writes of one path never overlap, so they land in the
order accepted. At most ``max_pending`` states wait or are being written at once (a
replaced state does not count): past that, a save is refused with
TooManyPendingSavesError, so a hung backend costs bounded memory.

A delete runs inside :meth:`BackgroundSaver.superseding`: it first waits for every
save of what it deletes accepted before it, and holds back saves accepted while it
runs until it is done, so a delete and the saves around it apply in the order called.

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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from functools import partial
from itertools import islice

from ..core.arguments import check_int
from ..core.errors import BackgroundSaveError, TooManyPendingSavesError
from . import exit_budget, fork
from . import exit_drain as shutdown
from .save_handle import Barrier, PendingWrite, SaveHandle, Write

__all__ = ["DEFAULT_CONCURRENCY", "DEFAULT_MAX_PENDING", "BackgroundSaver", "SaveHandle"]

DEFAULT_CONCURRENCY = 8
"""Background writes in progress at once, per storage and its narrowed views."""

DEFAULT_MAX_PENDING = 10_000
"""Background saves a storage (with its narrowed views) holds unwritten at most. A
pending save of a small state costs about 1 KiB besides the state's encoded bytes, so
a backend that stops answering holds some 10-20 MB of small states, not gigabytes."""

_log = logging.getLogger(__name__)


class BackgroundSaver:
    """Queues, coalesces and performs background writes; see the module docstring.

    ``label`` names the storage in warnings and logs; ``release`` (the driver's
    ``aclose``) frees the connections that writing at interpreter exit opened.
    """

    def __init__(
        self,
        concurrency: int = DEFAULT_CONCURRENCY,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        label: str = "a storage",
        release: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._limit = check_int("background_concurrency", concurrency, 1)
        self._max_pending = check_int("max_pending", max_pending, 1)
        self.label = label
        self._release = release
        self._tracked = False
        self._warned_generation = -1  # the loop whose end was already warned about
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._generation = 0  # bumped when a new loop takes over; old tasks then stand down
        self._accepted = 0  # saves accepted so far: numbers each handle
        self._queued: dict[str, PendingWrite] = {}  # waiting to be written, oldest first
        self._writing: dict[str, PendingWrite] = {}  # being written now
        self._barriers: list[Barrier] = []  # deletes in progress, oldest first
        self._tasks: dict[str, asyncio.Task[None]] = {}  # one per path being or about to be written
        self._failures: list[tuple[str, Exception]] = []  # not yet reported by a flush
        fork.track(self)

    # -- accepting -----------------------------------------------------------------

    def submit(self, path: str, write: Write, session_id: str, filename: str) -> SaveHandle:
        """Queue ``write`` for ``path``, replacing a state that still waits there.

        Raises TooManyPendingSavesError, queueing nothing, when ``max_pending`` states
        are pending already and this one would not replace one of them.
        """
        loop = self._bind()
        queue = self._queue_for(path)
        entry = queue.get(path)
        if entry is None and self.pending >= self._max_pending:
            raise TooManyPendingSavesError(
                f"{self.label}: {self.pending} background saves are pending (max_pending="
                f"{self._max_pending}); the backend is not keeping up. Save of session "
                f"{session_id!r} file {filename!r} refused, nothing queued: flush() first",
                session_id=session_id,
                filename=filename,
            )
        if not self._tracked:
            shutdown.track(self)
            self._tracked = True
        self._accepted += 1
        if entry is None:
            entry = PendingWrite(
                path, write, loop.create_future(), self._accepted, session_id, filename
            )
            queue[path] = entry
        else:
            entry.write, entry.newest = write, self._accepted
        if queue is self._queued:
            self._pump()
        return SaveHandle(entry, self._accepted)

    # -- waiting -------------------------------------------------------------------

    async def flush(self, prefix: str | None = None) -> None:
        """Wait for every save accepted before this call, then raise unreported failures.

        With ``prefix`` only paths starting with it count (a narrowed storage's saves);
        without, every save of the storage and its narrowed views. Saves accepted
        while flushing are not waited for, so a steady stream of saves cannot keep a
        flush from returning. Raises BackgroundSaveError carrying every failure since
        the last flush.
        """
        if not (self._queued or self._tasks or self._writing or self._failures or self._held()):
            return  # nothing to do, and no need to touch the event loop
        await self._wait_for(lambda path: prefix is None or path.startswith(prefix))
        failures = self._take_failures(prefix)
        if failures:
            raise BackgroundSaveError(failures) from failures[0]

    @asynccontextmanager
    async def superseding(self, match: str, *, exact: bool) -> AsyncIterator[None]:
        """Run a delete of ``match`` (a file path if ``exact``, else a folder prefix ending
        in ``/``) after the saves of it accepted so far, and before those accepted while
        it runs.

        Entering waits for every earlier save of a covered path to land or fail (a
        failure stays for ``flush`` to report); saves accepted from then on are held
        back until the block is left, then written as usual.
        """
        barrier = Barrier(match, exact)
        self._barriers.append(barrier)
        try:
            await self._wait_for(barrier.covers, before=barrier)
            yield
        finally:
            # Saves held here go on to wait for an older delete still running, if one
            # covers them; never for a newer one (they came before it, and it waits).
            older = self._barriers[: self._barriers.index(barrier)]
            self._barriers.remove(barrier)
            for entry in barrier.held.values():
                self._place(entry, older)
            if barrier.held:
                self._pump()

    async def _wait_for(self, covers: Callable[[str], bool], before: Barrier | None = None) -> None:
        """Wait for the pending saves of every path ``covers`` accepts (those held by
        barriers older than ``before`` included)."""
        if not any(covers(e.path) for e in self._entries(before)):
            return  # nothing to wait for, and no need to touch the event loop
        loop = self._bind()  # first: saves a loop left behind get futures of this one
        self._pump()
        waiting = [
            e.future for e in self._entries(before) if covers(e.path) and not e.future.done()
        ]
        if not waiting:
            return
        # A counter, not a re-scan of the futures per finished write: linear in saves.
        remaining = len(waiting)
        all_done: asyncio.Future[None] = loop.create_future()

        def one_done(_: asyncio.Future[str]) -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0 and not all_done.done():
                all_done.set_result(None)

        for future in waiting:
            future.add_done_callback(one_done)
        while not all_done.done():
            # Waking on every finished write too restarts a write whose task someone
            # cancelled while the loop lives on (its done callback does not restart it).
            await asyncio.wait(
                [all_done, *self._tasks.values()], return_when=asyncio.FIRST_COMPLETED
            )
            self._pump()
            if not self._tasks and not self._barriers and not all_done.done():
                raise RuntimeError("background saves stalled with nothing left to write")

    # -- leftovers: interpreter exit and garbage collection --------------------------

    @property
    def pending(self) -> int:
        """How many states wait or are being written (a replaced state does not count)."""
        return len(self._queued) + len(self._writing) + self._held()

    def unwritten(self, limit: int) -> list[str]:
        """The session and file of up to ``limit`` pending saves, for reports."""
        return [entry.describe() for entry in islice(self._entries(None), limit)]

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
        held = (write for barrier in self._barriers for write in barrier.held.values())
        writes = [*self._queued.values(), *self._writing.values(), *held]
        self._queued, self._writing, self._tasks, self._failures = {}, {}, {}, []
        self._barriers = []
        self._loop, self._generation = None, self._generation + 1
        shutdown.let_go(self)
        for write in writes:  # handles of one write share its future
            error = fork.parent_owns(
                f"{write.describe()}: its background save",
                session_id=write.session_id,
                filename=write.filename,
            )
            fork.fail_inherited(write.future, error)

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
                for entry in self._entries(None):
                    _log.error("background save of %s lost: never written", entry.path)
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

    # -- where a state waits ---------------------------------------------------------

    def _queue_for(
        self, path: str, barriers: list[Barrier] | None = None
    ) -> dict[str, PendingWrite]:
        """The queue a save of ``path`` joins: held by the newest delete covering it."""
        for barrier in reversed(self._barriers if barriers is None else barriers):
            if barrier.covers(path):
                return barrier.held
        return self._queued

    def _place(self, entry: PendingWrite, barriers: list[Barrier]) -> None:
        """Queue ``entry``, released by a delete, behind ``barriers``; of two states of
        one path the newer is written, the older resolves with it."""
        queue = self._queue_for(entry.path, barriers)
        other = queue.get(entry.path)
        if other is not None and other.newest > entry.newest:
            entry.forward_to(other)
            return
        queue[entry.path] = entry  # an existing key keeps its place in line
        if other is not None:
            other.forward_to(entry)

    def _held(self) -> int:
        return sum(len(barrier.held) for barrier in self._barriers)

    def _entries(self, before: Barrier | None) -> Iterator[PendingWrite]:
        """Every pending state: being written, queued, then held by deletes older than
        ``before`` (by every delete if None)."""
        yield from self._writing.values()
        yield from self._queued.values()
        for barrier in self._barriers:
            if barrier is before:
                return
            yield from barrier.held.values()

    # -- writing -------------------------------------------------------------------

    def _pump(self) -> None:
        """Start writes for waiting paths while there is room."""
        if len(self._tasks) >= self._limit:
            return
        loop = self._loop() if self._loop is not None else None
        if loop is None:
            return  # nothing was ever accepted in a loop
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
            entry.fail(exc)
        else:
            self._writing.pop(path, None)
            entry.resolve(version)

    def _finished(self, path: str, generation: int, task: asyncio.Task[None]) -> None:
        if generation != self._generation:
            return
        if self._tasks.get(path) is task:
            del self._tasks[path]
        if not task.cancelled():
            # Not after a cancellation: the loop may be closing, and tasks started now
            # would be destroyed pending. The next submit or flush starts them.
            self._pump()
            if not self.pending:
                shutdown.let_go(self)
        elif self.pending:
            self._orphaned()

    def _orphaned(self) -> None:
        """Our writes were cancelled with saves pending: most likely the loop is ending."""
        # Held, so that a storage dropped together with its loop still gets its saves
        # written, by the next loop that uses it or at interpreter exit.
        shutdown.hold(self)
        if exit_budget.started():
            return  # the exit deadline cut the writes short: the exit drain reports them
        if self._warned_generation != self._generation:
            self._warned_generation = self._generation
            _log.warning(
                "the event loop cancelled the background saves of %s with %d pending (did "
                "asyncio.run return without flush() or aclose()?); they are kept and written "
                "by the next flush(), aclose() or save in another loop, or at interpreter exit",
                self.label,
                self.pending,
            )

    def _requeue(self, entry: PendingWrite) -> None:
        """Put back a write that was cancelled; a newer state waiting replaces it."""
        newer = self._queued.get(entry.path)
        if newer is None:
            self._queued[entry.path] = entry
        else:
            entry.forward_to(newer)

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
        # Futures of the old loop cannot be awaited any more; the states they carry are
        # kept and written here, each with a future of this loop that flush waits for
        # (handles follow their write, so they see it too). Tasks of the old loop see
        # the new generation and do nothing should that loop ever run again.
        self._generation += 1
        self._loop = weakref.ref(loop)
        self._tasks.clear()
        for entry in list(self._writing.values()):
            self._requeue(entry)
        self._writing.clear()
        for entry in self._entries(None):
            if not entry.future.done():
                entry.future = loop.create_future()
