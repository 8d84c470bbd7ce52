"""What a forked child inherits from its parent, and how it is made usable there.

``os.fork`` (multiprocessing's "fork" start method, pre-fork servers such as
gunicorn) copies the whole memory of a process but only the thread that called it.
A storage created in the parent arrives in the child holding what only the parent can
use: a loop thread that does not exist any more (a call would be scheduled on a loop
that nothing runs, and wait forever), connection pools whose sockets the parent is
still using, locks that a vanished thread may have held, background saves the parent
is about to write, an event loop whose kernel objects (its epoll instance, its wake-up
pipe) are shared with the parent's.

So each object that holds such state registers here (:func:`track`), and a hook
registered with ``os.register_at_fork(after_in_child=...)``, as fsspec does for its
own loop and lock, tells each of them in the child to drop it
(:meth:`Forkable.after_fork_in_child`): the storage then opens afresh on first use, as
it does after ``aclose()``. The hook runs in the child right after the fork, while it
has a single thread.

Every event loop inherited from the parent is dead in the child (no thread runs it;
asyncio itself forgets the running loop there). :func:`disown_loop` closes such a
loop without touching what the parent still uses: calling its ``close()`` directly
would unregister the wake-up pipe from the epoll instance both processes share, and
the parent's loop would stop waking up.

Like :mod:`.exit_drain`, this is process-wide state; it exists because forking is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import selectors
import threading
import weakref
from asyncio.selector_events import BaseSelectorEventLoop
from concurrent.futures import Future
from typing import Any, Protocol

from ..core.errors import SessionStorageError

__all__ = ["Forkable", "disown_loop", "fail_inherited", "parent_owns", "track"]

_log = logging.getLogger(__name__)


class Forkable(Protocol):
    """An object that drops, in a forked child, what only the parent can use."""

    def after_fork_in_child(self) -> None:
        """Called once in each forked child, before any other code of the child runs."""


_tracked: weakref.WeakSet[Any] = weakref.WeakSet()
_inherited_tasks: list[asyncio.Task[Any]] = []
"""Tasks of disowned loops, kept so that they are never collected here: collecting
one would close its coroutine and run the parent's ``finally`` blocks in the child."""


def track(obj: Forkable) -> None:
    """Have ``obj.after_fork_in_child()`` called in every child forked from now on.

    Held weakly: tracking never keeps an object alive.
    """
    _tracked.add(obj)


def disown_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Close, in a forked child, an event loop inherited from the parent.

    Nothing runs it here any more. Its tasks are kept, never run and never
    collected (the parent runs them; collecting one would run its ``finally`` blocks
    here); its descriptors (epoll or kqueue, the
    wake-up socket pair) are closed in this process only, leaving every registration
    in place for the parent. Afterwards the loop is closed: a transport or client
    bound to it closes without touching the kernel objects, as after ``asyncio.run``.
    A loop that is not a selector loop is left as it is.
    """
    if loop.is_closed() or not isinstance(loop, BaseSelectorEventLoop):
        return
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        # Should the interpreter's exit collect it after all, asyncio would log it as
        # "Task was destroyed but it is pending!": it is not, it runs in the parent.
        task._log_destroy_pending = False  # type: ignore[attr-defined]
    _inherited_tasks.extend(tasks)
    state: Any = loop  # the private attributes asyncio's own close() uses
    inherited = state._selector
    # An empty selector of our own in its place: close() unregisters the wake-up pipe
    # from it (a no-op) instead of from the epoll instance the parent still uses.
    state._selector = selectors.DefaultSelector()
    state._thread_id = None  # no thread of this process runs it
    state._default_executor = None  # its threads were the parent's
    with contextlib.suppress(Exception):
        inherited.close()  # closes our descriptor only; the parent's stays open
    with contextlib.suppress(Exception):
        loop.close()


def parent_owns(
    what: str, *, session_id: str | None = None, filename: str | None = None
) -> SessionStorageError:
    """The error for ``what`` (a call, a background save) that the parent started
    before it forked this process: the parent runs it, the child does not."""
    return SessionStorageError(
        f"{what} was started in process {os.getppid()} before it forked this one; "
        "that process runs it, this one does not",
        session_id=session_id,
        filename=filename,
    )


def fail_inherited(future: asyncio.Future[Any] | Future[Any], error: Exception) -> None:
    """Fail, in a forked child, a future that the parent's work would have resolved.

    Whoever waits for it here gets ``error`` at once instead of waiting forever.
    """
    if isinstance(future, Future):
        # Its condition's lock may have been held by a thread of the parent.
        future._condition = threading.Condition()
    if future.done():
        return
    # An asyncio future schedules its callbacks on its loop, closed here: that fails
    # after the future is set, and nothing of the parent's may run here anyway.
    with contextlib.suppress(RuntimeError):
        future.set_exception(error)
    if isinstance(future, asyncio.Future):
        future.exception()  # retrieved: asyncio need not log it as never retrieved


def _after_fork_in_child() -> None:
    for obj in list(_tracked):
        try:
            obj.after_fork_in_child()
        except Exception:  # noqa: BLE001 - one object's failure must not skip the others
            _log.exception("resetting %r after fork failed", obj)


if hasattr(os, "register_at_fork"):  # Windows has no fork, hence nothing to reset
    os.register_at_fork(after_in_child=_after_fork_in_child)
