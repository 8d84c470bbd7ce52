"""Worker threads that keep working while the interpreter exits.

``concurrent.futures`` stops every ``ThreadPoolExecutor`` before any ``atexit``
handler runs: it hooks ``threading._register_atexit``, which runs before the
non-daemon threads are joined, and from then on every ``submit`` raises "cannot
schedule new futures after (interpreter) shutdown". An event loop's default executor
is such a pool, so a loop driven from an ``atexit`` handler cannot hop to a thread:
local file I/O, ``asyncio.to_thread`` (fsspec's wrapper for memory) and DNS lookups
all fail. Writing background saves at exit is exactly such a loop, and whether the
pool was still alive depended on how far the writes had got when the main thread
finished: a race that lost a few saves in some runs.

:class:`WorkerPool` is a minimal executor with threads of its own that no exit hook
stops, and :class:`PrivateLoop` is a loop that runs ``run_in_executor(None, ...)``
on one. The loop's owner shuts the pool down when the loop ends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:  # typing has these from Python 3.11 only; annotations are not evaluated
    from typing_extensions import TypeVarTuple, Unpack

    Ts = TypeVarTuple("Ts")

__all__ = ["PrivateLoop", "WorkerPool"]

P = ParamSpec("P")
T = TypeVar("T")

_Job = tuple["concurrent.futures.Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class WorkerPool(concurrent.futures.Executor):
    """Runs blocking calls on up to ``max_workers`` daemon threads, started on demand.

    Like ``ThreadPoolExecutor`` (an idle thread is reused before a new one starts),
    but stopped only by :meth:`shutdown`, never by the interpreter's exit hooks. The
    threads are daemons so that a call that never returns cannot keep the process
    alive; :meth:`shutdown` with ``wait=True`` joins them.
    """

    def __init__(self, name: str, max_workers: int | None = None) -> None:
        # The same default as ThreadPoolExecutor: enough for I/O-bound hops.
        self._max = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(
        self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> concurrent.futures.Future[T]:
        """Schedule ``fn(*args, **kwargs)``; raises RuntimeError after :meth:`shutdown`."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._name}: cannot run new work after shutdown")
            self._jobs.put((future, fn, args, kwargs))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._max:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name} worker", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new work, let the threads finish what is queued, and join them if ``wait``.

        With ``cancel_futures`` the calls that have not started are cancelled instead.
        """
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job[0].cancel()
        for _ in threads:
            self._jobs.put(None)  # one stop sign per thread, behind the queued work
        if wait:
            for thread in threads:
                thread.join()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args, kwargs = job
            del job
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's future
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            # Drop the references before idling: a finished call's arguments and
            # result must not live on in an idle thread.
            del future, fn, args, kwargs
            self._idle.release()


class PrivateLoop(asyncio.SelectorEventLoop):
    """An event loop whose default executor is a :class:`WorkerPool` of its own.

    Its owner calls ``loop.workers.shutdown()`` after the loop has finished.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.workers = WorkerPool(name)

    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[[Unpack[Ts]], T],
        *args: Unpack[Ts],
    ) -> asyncio.Future[T]:
        return super().run_in_executor(self.workers if executor is None else executor, func, *args)
