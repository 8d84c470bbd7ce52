"""Timing and memory helpers, and the row type every benchmark reports."""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Job = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Row:
    """One line of the results table."""

    bench: str
    backend: str
    ours: str
    baseline: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""


@dataclass(frozen=True)
class Comparison:
    """Median times of two jobs run alternately, and the median of their ratios."""

    ours: float
    theirs: float
    ratio: float
    """Median over runs of ours / theirs, each pair measured back to back."""


async def timed(job: Job) -> float:
    """Seconds that one run of ``job`` takes."""
    start = time.perf_counter()
    await job()
    return time.perf_counter() - start


async def compare(ours: Job, theirs: Job, runs: int, warmup: bool = True) -> Comparison:
    """Run both jobs ``runs`` times, alternating which goes first.

    Each ratio comes from two runs made back to back, so a machine that is slower
    for a while (other people's work on shared cores) slows both sides alike; the
    median of the ratios then drops the runs where it did not.
    """
    if warmup:
        await ours()
        await theirs()
    mine: list[float] = []
    other: list[float] = []
    for run in range(runs):
        if run % 2:
            b = await timed(theirs)
            a = await timed(ours)
        else:
            a = await timed(ours)
            b = await timed(theirs)
        mine.append(a)
        other.append(b)
    ratios = [a / b for a, b in zip(mine, other, strict=True)]
    return Comparison(statistics.median(mine), statistics.median(other), statistics.median(ratios))


async def median_time(job: Job, runs: int) -> float:
    """Median seconds over ``runs`` runs of ``job``."""
    return statistics.median([await timed(job) for _ in range(runs)])


async def traced_peak(job: Job) -> int:
    """Peak bytes allocated by Python while ``job`` runs, above what existed before."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        await job()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return max(0, peak - base)


def log(message: str) -> None:
    """Progress, on stderr so that stdout holds only the table."""
    print(message, file=sys.stderr, flush=True)


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:,.2f} s"


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.1f} MiB"
