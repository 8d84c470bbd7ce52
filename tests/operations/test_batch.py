"""The batch runner on its own: bounded concurrency, order, per-id failures, cancellation."""

from __future__ import annotations

import pickle
from functools import partial

import anyio
import anyio.lowlevel
import pytest

from session_storage import BatchError, InvalidArgumentError, InvalidKeyError
from session_storage.operations.batch import Operation, check_concurrency, prepare, run

WHERE = {"action": "load_sessions", "backend": "memory", "url": "memory://t"}


class Gauge:
    """Counts operations in flight and remembers the most seen at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.started: list[str] = []

    def op(self, name: str, steps: int, fail: bool = False, hang: bool = False) -> Operation[str]:
        async def call() -> str:
            self.started.append(name)
            self.now += 1
            self.peak = max(self.peak, self.now)
            try:
                for _ in range(steps):
                    await anyio.lowlevel.checkpoint()  # let the other workers run
                if hang:
                    await anyio.sleep(3600)
                if fail:
                    raise OSError(f"{name} broke")
                return name.upper()
            finally:
                self.now -= 1

        return call


@pytest.mark.parametrize("limit", [1, 3, 7, 100])
async def test_concurrency_is_bounded_and_results_keep_input_order(limit: int) -> None:
    gauge = Gauge()
    # Uneven durations, so operations finish in another order than they started.
    ops = {f"id{i:02d}": gauge.op(f"id{i:02d}", steps=1 + (i * 7) % 5) for i in range(40)}
    results = await run(ops, limit, **WHERE)
    assert list(results) == list(ops)
    assert results["id05"] == "ID05"
    assert gauge.peak == min(limit, 40)
    assert sorted(gauge.started) == sorted(ops)


async def test_every_id_is_attempted_and_failures_are_reported_per_id() -> None:
    gauge = Gauge()
    ops = {f"id{i}": gauge.op(f"id{i}", steps=1, fail=i in (0, 4)) for i in range(8)}
    with pytest.raises(BatchError) as info:
        await run(ops, 2, **WHERE)
    err = info.value
    assert sorted(gauge.started) == sorted(ops)
    assert list(err.errors) == ["id0", "id4"]
    assert all(isinstance(e, OSError) for e in err.errors.values())
    assert err.results == {f"id{i}": f"ID{i}" for i in range(8) if i not in (0, 4)}
    assert err.__cause__ is err.errors["id0"]
    assert str(err).startswith("memory: load_sessions: 2 of 8 sessions failed (memory://t)")
    assert "'id0': id0 broke" in str(err)
    assert err.backend == "memory" and err.url == "memory://t"


async def test_long_error_lists_are_shortened_in_the_message() -> None:
    gauge = Gauge()
    ops = {f"id{i}": gauge.op(f"id{i}", steps=0, fail=True) for i in range(10)}
    with pytest.raises(BatchError) as info:
        await run(ops, 4, **WHERE)
    assert len(info.value.errors) == 10
    assert "and 7 more" in str(info.value)


async def test_cancellation_stops_the_whole_batch() -> None:
    gauge = Gauge()
    ops = {f"id{i}": gauge.op(f"id{i}", steps=1, hang=True) for i in range(10)}
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(run, ops, 4, **WHERE))
            while gauge.now < 4:  # every worker is inside an operation
                await anyio.lowlevel.checkpoint()
            scope.cancel()
    assert scope.cancelled_caught
    assert gauge.now == 0 and len(gauge.started) == 4  # no one started after the cancel


def test_prepare_collects_every_bad_id_before_anything_runs() -> None:
    built: list[str] = []

    def build(session_id: str) -> Operation[str]:
        if session_id.startswith("bad"):
            raise InvalidKeyError(f"{session_id} is bad")
        built.append(session_id)
        return Gauge().op(session_id, 0)

    ops = prepare(["a", "b", "a"], build, **WHERE)
    assert list(ops) == ["a", "b"]
    with pytest.raises(BatchError) as info:
        prepare(["a", "bad1", "c", "bad2", "bad1"], build, **WHERE)
    assert list(info.value.errors) == ["bad1", "bad2"]
    assert info.value.results == {}
    assert "bad input for 2 of 4 sessions, nothing was done" in str(info.value)
    with pytest.raises(InvalidArgumentError, match="not one str"):
        prepare("abc", build, **WHERE)
    with pytest.raises(InvalidKeyError, match="must be a str"):
        prepare(["a", None], build, **WHERE)  # type: ignore[list-item]


def test_check_concurrency() -> None:
    assert check_concurrency(1) == 1 and check_concurrency(64) == 64
    for bad in (0, -3, 1.0, "2", None, True):
        with pytest.raises(InvalidArgumentError):
            check_concurrency(bad)


def test_batch_error_pickles_with_its_results() -> None:
    err: BatchError[int] = BatchError(
        "m", results={"a": 1}, errors={"b": OSError("x")}, backend="s3", url="s3://b"
    )
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == "m" and back.results == {"a": 1} and back.backend == "s3"
    assert isinstance(back.errors["b"], OSError)
