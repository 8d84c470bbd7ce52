"""run_bounded: the one runner behind batches, copies and batched deletes."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from session_storage.concurrency.bounded import run_bounded


async def test_at_most_limit_calls_run_at_once_and_all_run() -> None:
    running = 0
    peak = 0
    done: list[int] = []

    async def call(i: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        for _ in range(3):  # yield to the loop: the other workers get their turn
            await anyio.lowlevel.checkpoint()
        running -= 1
        done.append(i)

    await run_bounded(call, range(10), 3)
    assert peak == 3
    assert sorted(done) == list(range(10))


async def test_the_first_failure_is_raised_unwrapped_and_stops_the_rest() -> None:
    started: list[int] = []
    cancelled: list[int] = []
    never = anyio.Event()

    async def call(i: int) -> None:
        started.append(i)
        if i == 1:
            raise KeyError("one")
        try:
            await never.wait()  # only cancellation ends this
        except anyio.get_cancelled_exc_class():
            cancelled.append(i)
            raise

    with pytest.raises(KeyError, match="one"):
        await run_bounded(call, range(10), 3)
    assert started == [0, 1, 2]  # the failure came before a fourth call was taken
    assert sorted(cancelled) == [0, 2]


async def test_one_at_a_time_runs_in_order_and_raises_at_once() -> None:
    seen: list[int] = []

    async def call(i: int) -> None:
        seen.append(i)
        if i == 2:
            raise ValueError(i)

    with pytest.raises(ValueError):
        await run_bounded(call, range(5), 1)
    assert seen == [0, 1, 2]
    await run_bounded(call, [], 4)  # nothing to run is no error
