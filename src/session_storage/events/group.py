"""Group commit: appends to one stream through one storage share its tail writes.

Every append commits by one conditional write of the stream's tail (see :mod:`.log`),
and writes to one stream through one storage take turns (two of them would only
refuse each other). So while one tail write of a stream is in flight, the appends
that arrive for the same stream wait in a queue, and the next write carries all of
them: ten tasks appending at once cost about two writes a round, not ten.

What each append is promised, as if the appends had run one after another in the
order they were queued:

- its own result: the index of its first event, its own idempotency key checked
  against the tail and against the appends queued before it in the group, its own
  ``if_count`` / ``if_count_at_least`` checked on the length those leave (a condition
  that fails, or a full stream, fails that append alone, and writes nothing of it);
- exactly once: the group is one write, with one commit id, so a lost reply is
  recognised for all of its appends at once;
- a failed write (the store unreachable, a timeout) is reported to every append of
  the group, each as an error of its own chained to the write's; like a single
  append's, its outcome is unknown only if its reply was lost and could not be
  checked, and a retry with the same idempotency key is safe;
- cancelling an append that is still queued withdraws it: nothing of it is written
  and the others go on. Once its write has started, cancelling it only stops the
  wait: the write goes on for the whole group (one request cannot be taken back in
  part), so its events may be appended, exactly once, and the others' results are
  unaffected.

The writes run in a task of their own per stream and event loop, so that no one
caller's cancellation can cancel a write that others wait for; the task ends when
the queue is empty. Each write is bounded by the storage's timeout (through
``run``), so an append waits at most for the write in flight and then its own.
"""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..concurrency import fork

__all__ = ["GROUP_EVENTS", "AppendGroups", "Outcome", "Pending", "Run"]

GROUP_EVENTS = 1024
"""Events one group write takes at most (an append larger than that goes alone):
a write uploads at most this many events past the sealed segments."""

T = TypeVar("T")
Outcome = int | Exception
"""An append's index, or the error that failed it alone."""
Run = Callable[[Awaitable[list[Outcome]]], Awaitable[list[Outcome]]]
"""Awaits one group write the way every operation of the storage is awaited (its
deadline, its error translation)."""


@dataclass(eq=False, slots=True)
class Pending(Generic[T]):
    """One append waiting for its write: what it asks for, and where its answer goes."""

    request: T
    size: int
    """Its number of events."""
    run: Run
    answer: asyncio.Future[int] = field(init=False)

    def __post_init__(self) -> None:
        self.answer = asyncio.get_running_loop().create_future()


@dataclass(eq=False, slots=True)
class _Queue(Generic[T]):
    loop: asyncio.AbstractEventLoop
    waiting: deque[Pending[T]] = field(default_factory=deque)
    writer: asyncio.Task[None] | None = None


Write = Callable[[Hashable, list[T]], Awaitable[list[Outcome]]]


class AppendGroups(Generic[T]):
    """The append queues of one storage, one per stream (and event loop)."""

    def __init__(self, write: Write[T]) -> None:
        """``write(stream, requests)`` commits requests in one write and returns an
        outcome for each, in order."""
        self._write = write
        self._queues: dict[Hashable, _Queue[T]] = {}
        fork.track(self)

    def after_fork_in_child(self) -> None:
        """In a forked child: the parent's writers and waiters run in the parent."""
        self._queues = {}

    def waiting(self, stream: Hashable) -> int:
        """Appends of ``stream`` queued behind the write in flight (not yet taken)."""
        queue = self._queues.get(stream)
        return 0 if queue is None else sum(not p.answer.done() for p in queue.waiting)

    async def append(self, stream: Hashable, pending: Pending[T]) -> int:
        """Queue ``pending`` for the next write of ``stream``; its index once written."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(stream)
        if queue is None or queue.loop is not loop:  # none yet, or a finished loop's
            queue = self._queues[stream] = _Queue(loop)
        queue.waiting.append(pending)
        if queue.writer is None:
            queue.writer = loop.create_task(self._drain(stream, queue))
        # Cancelled while queued, the future is cancelled with it and _take skips it.
        return await pending.answer

    async def settle(self) -> None:
        """Wait until every write of the running loop that has started is done."""
        loop = asyncio.get_running_loop()
        writers = [q.writer for q in self._queues.values() if q.loop is loop and q.writer]
        if writers:
            await asyncio.wait(writers)

    async def _drain(self, stream: Hashable, queue: _Queue[T]) -> None:
        try:
            while group := _take(queue.waiting):
                try:
                    outcomes = await group[0].run(self._write(stream, [p.request for p in group]))
                except Exception as exc:  # noqa: BLE001 - handed to every waiter
                    for pending in group:
                        _fail(pending, _own(exc))
                    continue
                except BaseException:
                    for pending in group:
                        pending.answer.cancel()
                    raise
                for pending, outcome in zip(group, outcomes, strict=True):
                    if isinstance(outcome, Exception):
                        _fail(pending, outcome)
                    elif not pending.answer.done():
                        pending.answer.set_result(outcome)
        finally:
            # Only when the loop stops under it (or the process is interrupted) does
            # a writer end with appends still waiting: none of those will be written.
            while queue.waiting:
                queue.waiting.popleft().answer.cancel()
            queue.writer = None
            if self._queues.get(stream) is queue:
                del self._queues[stream]


def _take(waiting: deque[Pending[T]]) -> list[Pending[T]]:
    """The next group: the appends queued first, up to :data:`GROUP_EVENTS` events
    (at least one); cancelled ones are dropped unwritten."""
    group: list[Pending[T]] = []
    events = 0
    while waiting:
        pending = waiting[0]
        if pending.answer.done():
            waiting.popleft()
            continue
        if group and events + pending.size > GROUP_EVENTS:
            break
        group.append(waiting.popleft())
        events += pending.size
    return group


def _fail(pending: Pending[T], error: Exception) -> None:
    if not pending.answer.done():
        pending.answer.set_exception(error)


def _own(error: Exception) -> Exception:
    """A copy of ``error`` for one waiter, chained to it: one exception raised in
    several tasks would collect all their tracebacks."""
    try:
        mine = copy.copy(error)
    except Exception:  # noqa: BLE001 - an error class that cannot be copied is shared
        return error
    mine.__cause__, mine.__traceback__ = error, None
    return mine
