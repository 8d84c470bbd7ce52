"""A private event loop in a daemon thread, for calling async code from blocking code.

Any number of threads may call :meth:`LoopThread.call` at once; the coroutines run
interleaved on the one loop. The thread starts on first use. :meth:`LoopThread.close`
runs a final coroutine (the owner's clean-up), cancels what is left as ``asyncio.run``
does, and joins the thread; the next call starts a new one. A thread still running at
interpreter exit is closed by an ``atexit`` hook, so its final coroutine (flushing
background saves) runs even in a script that forgot to close. The loop hops to threads
through a :class:`~session_storage.concurrency.workers.WorkerPool` of its own, which, unlike the
default executor, still works in ``atexit`` handlers; an error of the final coroutine
at exit is logged, not printed as an ignored exception, and the wait at exit is
bounded by the exit deadline (:mod:`session_storage.concurrency.exit_budget`).

In a child forked from a process whose loop thread was running (see :mod:`.fork`),
the thread is gone: the child forgets it (the next call starts one of its own), and
every call the parent had in flight fails at once in the child with a
SessionStorageError, instead of waiting forever for a loop nothing runs; the parent
still runs those calls.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from ..core.errors import BackgroundSaveError
from . import exit_budget, fork
from .workers import PrivateLoop

__all__ = ["LoopThread"]

T = TypeVar("T")

_log = logging.getLogger(__name__)

_STOP_GRACE = 5.0
"""Seconds a closing thread gets to stop after a timed-out final coroutine (a daemon
thread: at exit, one still running is left behind)."""

_ITER_BATCH = 256
"""Items fetched per round trip to the loop when iterating an async iterator."""


class LoopThread:
    """Runs coroutines on a private event loop in a background thread."""

    def __init__(self, name: str, final: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._name = name
        self._final = final
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # Futures handed out and not yet done, with what each is for: in a forked
        # child they fail at once, saying so.
        self._pending: dict[Future[Any], str | None] = {}
        fork.track(self)

    @property
    def running(self) -> bool:
        """Whether the thread has been started and not closed."""
        return self._loop is not None

    def submit(self, coro: Coroutine[Any, Any, T], what: str | None = None) -> Future[T]:
        """Schedule ``coro`` on the loop (starting it if needed); a future of its result.

        ``what`` names the call in the error its future gets in a forked child.
        """
        with self._lock:
            # Scheduling under the lock orders every call before a concurrent close's
            # stop, so a call racing with close is cancelled rather than left hanging.
            loop = self._start()
            if threading.current_thread() is self._thread:
                coro.close()
                raise RuntimeError(
                    "a SyncSessionStorage was called from inside its own event loop "
                    "(for example from an update function); use the async storage there"
                )
            future = asyncio.run_coroutine_threadsafe(coro, loop)
            pending = self._pending
            pending[future] = what
        future.add_done_callback(lambda done: pending.pop(done, None))
        return future

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and block until it is done; its result or error."""
        future = self.submit(coro)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C in the caller stops the work too
            raise

    def iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        """Iterate an async iterator from this thread, a batch per round trip."""
        exhausted = False
        try:
            while not exhausted:
                batch, exhausted = self.call(_take(iterator, _ITER_BATCH))
                yield from batch
        finally:
            aclose = getattr(iterator, "aclose", None)
            if not exhausted and aclose is not None and self.running:
                self.call(aclose())

    def close(self, timeout: float | None = None) -> None:
        """Run the final coroutine, stop the loop and join the thread (if started).

        The final coroutine's error, if any, is raised after the thread has stopped.
        With ``timeout``, the final coroutine gets that many seconds: then it is
        cancelled, TimeoutError is raised, and the thread gets a few seconds more to
        stop (the tasks still running are cancelled, as ``asyncio.run`` does).
        """
        if not self.running:
            return
        try:
            if timeout is None:
                self.call(self._final())
            elif timeout > 0:
                future = self.submit(self._final())
                try:
                    future.result(timeout)
                except BaseException:  # the deadline, or Ctrl-C
                    future.cancel()
                    raise
            else:
                raise TimeoutError("no time left to run the final coroutine")
        finally:
            with self._lock:
                loop, thread = self._loop, self._thread
                self._loop = self._thread = None
                atexit.unregister(self._close_at_exit)
            if loop is not None and thread is not None:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(None if timeout is None else _STOP_GRACE)

    def after_fork_in_child(self) -> None:
        """In a forked child: forget the parent's thread and loop, fail its calls."""
        self._lock = threading.Lock()  # a thread that is gone here may have held it
        loop, self._loop, self._thread = self._loop, None, None
        pending, self._pending = self._pending, {}
        if loop is None:
            return
        atexit.unregister(self._close_at_exit)
        fork.disown_loop(loop)
        for future, what in list(pending.items()):  # failing one removes it from ``pending``
            fork.fail_inherited(future, fork.parent_owns(what or f"a call on {self._name}"))

    def _close_at_exit(self) -> None:
        # Nobody can catch an error raised here: the interpreter would print it as an
        # ignored exception and exit 0. Log each failed save with its session and file.
        # The exit budget bounds the wait; what is left unwritten stays with its saver
        # and the exit drain reports it.
        exit_budget.begin()
        try:
            self.close(exit_budget.remaining())
        except BackgroundSaveError as exc:
            for failure in exc.failures:
                _log.error("background save failed at interpreter exit: %s", failure)
        except (TimeoutError, FutureTimeout):  # distinct classes before Python 3.11
            pass  # the exit drain, which runs next, reports the saves left
        except KeyboardInterrupt:
            exit_budget.interrupt()
        except Exception:  # noqa: BLE001 - the last chance to say it: log, never raise
            _log.exception("closing %s at interpreter exit failed", self._name)

    def _start(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        loop = PrivateLoop(self._name)
        thread = threading.Thread(target=_run, args=(loop,), name=self._name, daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        atexit.register(self._close_at_exit)
        return loop


def _run(loop: PrivateLoop) -> None:
    """The thread's body: run the loop until stopped, then shut it down as asyncio.run."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
            loop.workers.shutdown()


async def _take(iterator: AsyncIterator[T], n: int) -> tuple[list[T], bool]:
    """Up to ``n`` items, and whether the iterator is exhausted."""
    batch: list[T] = []
    while len(batch) < n:
        try:
            batch.append(await iterator.__anext__())
        except StopAsyncIteration:
            return batch, True
    return batch, False
