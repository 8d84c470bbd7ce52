"""(5) The engines side by side on one S3 server: raw obstore, the obstore engine, fsspec.

Sequential store + load of a 1.1 KiB state (400 of each per run), measuring the wall
time and the CPU time of this process (the client: moto runs in a process of its
own), per operation. Then ``load_sessions`` of 1,000 on the obstore engine against
obstore's own idiom, every ``get_async`` at once plus ``orjson.loads``. The four
ratios are the targets of the obstore engine.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from session_storage import SessionStorage

from .backends import Backend
from .batch import _against_obstore
from .measure import Row, log
from .overhead import state_of_one_kib

OPS = 400
"""Stores, and then loads, per run and engine."""
CPU_VS_RAW = 1.25
WALL_VS_RAW = 1.15
CPU_VS_FSSPEC = 0.40


async def run(backend: Backend, runs: int, ops: int = OPS, batch: int = 1000) -> list[Row]:
    """Rows for the S3 backend; other backends have no raw obstore twin here."""
    if backend.name != "s3":
        return []
    try:
        import obstore  # noqa: F401 - only to know it is there
    except ImportError:
        return [
            Row(
                bench="engines",
                backend=backend.name,
                ours="–",
                note="not measured: obstore is not installed (pip install -e '.[bench]')",
            )
        ]
    async with (
        backend.storage(engine="obstore") as fast,
        backend.storage() as classic,
    ):
        raw = backend.obstore(fast)
        state = state_of_one_kib()
        jobs = {
            "raw obstore": _raw(raw, state, ops),
            "obstore engine": _library(fast, state, ops),
            "fsspec engine": _library(classic, state, ops),
        }
        for job in jobs.values():  # connections, credentials, imports
            await job(20)
        cpu: dict[str, list[float]] = {name: [] for name in jobs}
        wall: dict[str, list[float]] = {name: [] for name in jobs}
        for run_index in range(runs):
            order = list(jobs) if run_index % 2 == 0 else list(reversed(jobs))
            for name in order:
                seconds, cpu_seconds = await _measure(jobs[name], ops)
                wall[name].append(seconds / (2 * ops))
                cpu[name].append(cpu_seconds / (2 * ops))
            log(f"    engines run {run_index + 1}/{runs} done")
        rows = _rows(backend.name, cpu, wall, ops)
        ids = [f"s{i:05d}" for i in range(batch)]
        await fast.store_sessions({i: state for i in ids})
        load = await _against_obstore(backend, fast, raw, ids, runs)
        rows.append(
            Row(
                bench=f"{load.bench}, obstore engine",
                backend=load.backend,
                ours=load.ours,
                baseline=load.baseline,
                ratio=load.ratio,
                target="≤ 1.10×",
                met=load.ratio is not None and load.ratio <= 1.10,
            )
        )
    return rows


Job = Callable[[int], Awaitable[None]]


def _raw(store: Any, state: dict[str, Any], ops: int) -> Job:
    """What a careful caller writes with obstore alone: orjson + put, get + orjson."""
    import obstore

    stamped = {**state, "_metadata": {"session_id": "s", "filename": "state.json"}}

    async def job(count: int) -> None:
        for i in range(count):
            data = orjson.dumps(stamped)
            await obstore.put_async(store, f"raw-{i % 50}/state.json", data)
        for i in range(count):
            result = await obstore.get_async(store, f"raw-{i % 50}/state.json")
            orjson.loads(bytes(await result.bytes_async()))

    return job


def _library(storage: SessionStorage, state: dict[str, Any], ops: int) -> Job:
    async def job(count: int) -> None:
        for i in range(count):
            await storage.store_session(f"s-{i % 50}", state)
        for i in range(count):
            await storage.load_session(f"s-{i % 50}")

    return job


async def _measure(job: Job, ops: int) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``job``."""
    wall, cpu = time.perf_counter(), time.process_time()
    await job(ops)
    return time.perf_counter() - wall, time.process_time() - cpu


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _rows(
    backend: str, cpu: dict[str, list[float]], wall: dict[str, list[float]], ops: int
) -> list[Row]:
    med = {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in cpu}
    raw_wall, raw_cpu = med["raw obstore"]
    fast_wall, fast_cpu = med["obstore engine"]
    classic_wall, classic_cpu = med["fsspec engine"]
    what = f"store+load 1.1 KiB x {ops}, per op"

    def cell(name: str) -> str:
        seconds, cpu_seconds = med[name]
        return f"{_ms(seconds)} wall, {_ms(cpu_seconds)} CPU"

    return [
        Row(
            bench=f"{what}: client CPU, obstore engine",
            backend=backend,
            ours=cell("obstore engine"),
            baseline=f"raw obstore {cell('raw obstore')}",
            ratio=fast_cpu / raw_cpu,
            target=f"≤ {CPU_VS_RAW:.2f}×",
            met=fast_cpu / raw_cpu <= CPU_VS_RAW,
        ),
        Row(
            bench=f"{what}: wall, obstore engine",
            backend=backend,
            ours=_ms(fast_wall),
            baseline=f"raw obstore {_ms(raw_wall)}",
            ratio=fast_wall / raw_wall,
            target=f"≤ {WALL_VS_RAW:.2f}×",
            met=fast_wall / raw_wall <= WALL_VS_RAW,
        ),
        Row(
            bench=f"{what}: client CPU, obstore vs fsspec engine",
            backend=backend,
            ours=_ms(fast_cpu),
            baseline=f"fsspec engine {cell('fsspec engine')}",
            ratio=fast_cpu / classic_cpu,
            target=f"≤ {CPU_VS_FSSPEC:.2f}×",
            met=fast_cpu / classic_cpu <= CPU_VS_FSSPEC,
        ),
    ]


if __name__ == "__main__":  # pragma: no cover - a quick look without the whole table
    from .backends import BACKENDS

    backend = BACKENDS["s3"]()
    backend.start()
    try:
        for row in asyncio.run(run(backend, 3)):
            print(row)
    finally:
        backend.stop()
