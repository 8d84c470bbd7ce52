"""(4) list_sessions and iter_sessions over many sessions: time and peak memory.

"peak" is what Python allocated at most while the call ran, above what it held
before (tracemalloc). On local disk, the 100k figure also gets the peak resident
size of a fresh process iterating, against one iterating an empty folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import anyio.to_thread

from session_storage import SessionStorage

from .backends import Backend
from .measure import Row, log, median_time, mib, ms, secs, traced_peak

MEMORY_TARGET = 50 * 2**20
"""iter_sessions over 100k sessions on local disk: peak memory over an empty run."""
SIZES = {
    "memory": (10_000, 100_000),
    "file": (10_000, 100_000),
    "s3": (10_000,),
    "gcs": (3_000,),
    "azure": (10_000,),
}
"""How many sessions each backend lists; a backend missing here lists 10k."""
SMALLER = {
    "gcs": "fewer than 10k: fake-gcs-server scans every object of the bucket on each "
    "write, so filling 10k takes about 110 s here",
}
"""Why a backend lists fewer sessions than 10k."""


async def run(backend: Backend, runs: int, scale: float = 1.0) -> list[Row]:
    rows: list[Row] = []
    for full in SIZES.get(backend.name, (10_000,)):
        n = max(400, int(full * scale))
        storage = backend.storage(bulk=True)
        async with storage:
            start = time.perf_counter()
            await _populate(backend, storage, n)
            setup = time.perf_counter() - start
            log(f"  listing on {backend.name}: {n} sessions created in {setup:.1f} s")
            backend.requests()
            rows += await _measure(backend, storage, n, runs, setup, full >= 100_000)
    return rows


async def _measure(
    backend: Backend, storage: SessionStorage, n: int, runs: int, setup: float, largest: bool
) -> list[Row]:
    async def listed() -> None:
        assert len(await storage.list_sessions()) == n

    async def iterated() -> None:
        count = 0
        async for _ in storage.iter_sessions():
            count += 1
        assert count == n

    middle = f"s{n // 2:06d}"

    async def page() -> None:
        assert len(await storage.list_sessions(limit=100, start_after=middle)) == 100

    list_time = await median_time(listed, runs)
    requests = backend.requests()
    iter_time = await median_time(iterated, runs)
    page_time = await median_time(page, runs)
    list_peak = await traced_peak(listed)
    iter_peak = await traced_peak(iterated)
    listed_by = f", {len(requests) // runs} LIST requests" if requests else ""
    notes = [f"setup {setup:.0f} s{listed_by}", backend.bulk_note, SMALLER.get(backend.name, "")]
    rows = [
        Row(
            bench=f"list_sessions of {n:,}",
            backend=backend.name,
            ours=f"{secs(list_time)}, peak {mib(list_peak)}",
            note="; ".join(filter(None, notes)),
        ),
        Row(
            bench=f"iter_sessions over {n:,}",
            backend=backend.name,
            ours=f"{secs(iter_time)}, peak {mib(iter_peak)}",
        ),
        Row(
            bench=f"list_sessions(limit=100, start_after=…) of {n:,}",
            backend=backend.name,
            ours=ms(page_time),
        ),
    ]
    if backend.subprocess_ok and largest:
        rows.append(await _resident_peak(backend, storage, n))
    return rows


async def _resident_peak(backend: Backend, storage: SessionStorage, n: int) -> Row:
    """Peak resident memory of iter_sessions in a fresh process, less an empty run's."""
    empty = backend.storage(bulk=True)
    full = _probe(storage, "iter")
    none = _probe(empty, "iter")
    assert full["count"] == n and none["count"] == 0
    delta = full["peak_bytes"] - none["peak_bytes"]
    return Row(
        bench=f"iter_sessions over {n:,}: peak RSS over an empty run",
        backend=backend.name,
        ours=mib(delta),
        baseline=f"{mib(full['peak_bytes'])} vs {mib(none['peak_bytes'])} empty",
        target=f"≤ {mib(MEMORY_TARGET)}",
        met=delta <= MEMORY_TARGET,
        note=f"fresh process each (VmHWM); iterating took {full['seconds']:.2f} s",
    )


def _probe(storage: SessionStorage, mode: str) -> dict[str, float]:
    options = json.dumps(dict(storage.settings.storage_options))
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.probe", storage.url, options, mode],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


async def _populate(backend: Backend, storage: SessionStorage, n: int) -> None:
    ids = [f"s{i:06d}" for i in range(n)]
    if backend.name == "file":
        # Set-up only: plain ids are their own folder names, so writing the files
        # directly gives exactly what store_session writes, several times faster.
        root = storage.url.removeprefix("file://")
        await anyio.to_thread.run_sync(_write_folders, root, ids)
        return
    if await backend.fill(storage, [(session_id, "state.json") for session_id in ids]):
        return
    for start in range(0, n, 10_000):
        chunk = ids[start : start + 10_000]
        await storage.store_sessions({session_id: {} for session_id in chunk})


def _write_folders(root: str, ids: list[str]) -> None:
    os.makedirs(root, exist_ok=True)
    for session_id in ids:
        os.mkdir(f"{root}/{session_id}")
        with open(f"{root}/{session_id}/state.json", "wb") as f:
            f.write(b"{}")
