"""Timing and memory helpers, and the row type every benchmark reports."""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Job = Callable[[], Awaitable[object]]
ItemJob = Callable[[int], Awaitable[object]]


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


async def compare_per_item(ours: ItemJob, theirs: ItemJob, items: int, blocks: int) -> Comparison:
    """Both jobs item by item (``job(i)`` for i in range(items)), each item timed per side.

    On a disk, how long a write takes depends on what the disk is doing at that moment
    (a journal commit, write-back of earlier writes, another tenant's I/O on a shared
    volume): whole runs of one side, then of the other, meet different moments, and
    their ratio swings by ±20 % from run to run. Item by item, alternating which side
    goes first, both sides meet the same moments. ``ours``/``theirs`` are the median
    seconds per block of ``items``; the ratio is the median of the blocks' ratios. A
    first block warms both sides up and is not counted.
    """
    clock = time.perf_counter
    mine: list[float] = []
    other: list[float] = []
    for block in range(blocks + 1):
        a = b = 0.0
        for i in range(items):
            for side in (0, 1) if (i + block) % 2 else (1, 0):
                start = clock()
                if side == 0:
                    await ours(i)
                    a += clock() - start
                else:
                    await theirs(i)
                    b += clock() - start
        if block:
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
