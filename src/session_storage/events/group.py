"""Group commit: appends to one stream through one storage share its tail writes.

Every append commits by one conditional write of the stream's tail (see :mod:`.log`),
and writes to one stream through one storage take turns (two of them would only
refuse each other). So while one tail write of a stream is in flight, the appends
that arrive for the same stream wait in a queue, and the next write carries all of
them: ten tasks appending at once cost about one write a round, not ten.

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
  and the others go on. Cancelling one whose write has started cannot take that
  request back: its events may be appended (once), and the others' results are
  unaffected.

An append that finds the stream idle (no write in flight, none queued) writes at
once, alone, in its own task: a single writer pays nothing for grouping, and
cancelling it cancels its own write as before. Appends queued meanwhile are written
by a task of their own per stream and event loop, group after group until the queue
is empty, so that no one caller's cancellation can cut a write others wait for. Each
write is bounded by the storage's timeout (through ``run``), so an append waits at
most for the write in flight and then its own.
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
"""Awaits one write the way every operation of the storage is awaited (its deadline,
its error translation)."""


@dataclass(frozen=True, slots=True)
class Pending(Generic[T]):
    """One append: what it asks for, its number of events, how its write is awaited."""

    request: T
    size: int
    run: Run


_Waiter = tuple[Pending[T], "asyncio.Future[int]"]


@dataclass(eq=False, slots=True)
class _Queue(Generic[T]):
    loop: asyncio.AbstractEventLoop
    waiting: deque[_Waiter[T]] = field(default_factory=deque)
    busy: bool = False
    """A write of the stream is in flight (an idle append's, or a group's)."""
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
        return 0 if queue is None else sum(not answer.done() for _, answer in queue.waiting)

    async def append(self, stream: Hashable, pending: Pending[T]) -> int:
        """Write ``pending`` now if the stream is idle, else with the next group; its
        index once written."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(stream)
        if queue is None or queue.loop is not loop:  # none yet, or a finished loop's
            queue = self._queues[stream] = _Queue(loop)
        if queue.busy or queue.waiting:
            answer: asyncio.Future[int] = loop.create_future()
            queue.waiting.append((pending, answer))
            # Cancelled while queued, the future is cancelled with it: _take skips it.
            return await answer
        queue.busy = True
        try:
            (outcome,) = await pending.run(self._write(stream, [pending.request]))
        finally:
            queue.busy = False
            self._next(stream, queue)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def settle(self) -> None:
        """Wait until the group writes of the running loop are done."""
        loop = asyncio.get_running_loop()
        writers = [q.writer for q in self._queues.values() if q.loop is loop and q.writer]
        if writers:
            await asyncio.wait(writers)

    def _next(self, stream: Hashable, queue: _Queue[T]) -> None:
        """After a write: start writing the queued appends, or forget an idle queue."""
        if queue.writer is not None:
            return
        if queue.waiting:
            queue.writer = queue.loop.create_task(self._drain(stream, queue))
        elif self._queues.get(stream) is queue:
            del self._queues[stream]

    async def _drain(self, stream: Hashable, queue: _Queue[T]) -> None:
        queue.busy = True
        try:
            while group := _take(queue.waiting):
                await self._write_group(stream, group)
                # The appenders just answered run first: those that append again
                # join the next group instead of each writing alone after it.
                await asyncio.sleep(0)
        finally:
            # Only when the loop stops under it (or the process is interrupted) does
            # a writer end with appends still waiting: none of those will be written.
            while queue.waiting:
                queue.waiting.popleft()[1].cancel()
            queue.busy = False
            queue.writer = None
            self._next(stream, queue)

    async def _write_group(self, stream: Hashable, group: list[_Waiter[T]]) -> None:
        run = group[0][0].run
        try:
            outcomes = await run(self._write(stream, [pending.request for pending, _ in group]))
        except Exception as exc:  # noqa: BLE001 - handed to every waiter
            for _, answer in group:
                _answer(answer, _own(exc))
            return
        except BaseException:
            for _, answer in group:
                answer.cancel()
            raise
        for (_, answer), outcome in zip(group, outcomes, strict=True):
            _answer(answer, outcome)


def _take(waiting: deque[_Waiter[T]]) -> list[_Waiter[T]]:
    """The next group: the appends queued first, up to :data:`GROUP_EVENTS` events
    (at least one); cancelled ones are dropped unwritten."""
    group: list[_Waiter[T]] = []
    events = 0
    while waiting:
        pending, answer = waiting[0]
        if answer.done():
            waiting.popleft()
            continue
        if group and events + pending.size > GROUP_EVENTS:
            break
        group.append(waiting.popleft())
        events += pending.size
    return group


def _answer(answer: asyncio.Future[int], outcome: Outcome) -> None:
    """Hand ``outcome`` to a waiter that is still waiting (a cancelled one is not)."""
    if answer.done():
        return
    if isinstance(outcome, Exception):
        answer.set_exception(outcome)
    else:
        answer.set_result(outcome)


def _own(error: Exception) -> Exception:
    """A copy of ``error`` for one waiter, chained to it: one exception raised in
    several tasks would collect all their tracebacks."""
    try:
        mine = copy.copy(error)
    except Exception:  # noqa: BLE001 - an error class that cannot be copied is shared
        return error
    mine.__cause__, mine.__suppress_context__, mine.__traceback__ = error, True, None
    return mine
