"""(5b) Many writers, one stream: concurrent appends beside the same appends in turn.

``tasks`` tasks each append ``each`` events one by one to one stream, through one
storage (their appends share tail writes: group commit), against the same number of
appends made one after another by one task. A third figure gives each task a storage
of its own: nothing can be grouped across storages, and the tasks race on the tail's
conditional write (each lost race costs a GET and a retry).

With ``BENCH_BASELINE_SRC`` set to the ``src`` folder of another checkout of the
library (an older release, or main before a change), the same two jobs also run with
that library, in a subprocess on the same backend: the before/after of one run.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from session_storage import SessionStorage

from .backends import Backend
from .measure import Row, compare, log

BASELINE_ENV = "BENCH_BASELINE_SRC"
_COUNTED = ("get", "put", "info", "list_files", "delete_files", "delete_file")


def count_calls(storage: SessionStorage) -> Callable[[], int]:
    """Counts the driver calls of ``storage`` (one request each on the clouds); the
    returned function takes the count so far and starts again from 0."""
    calls = 0
    driver = storage._scope.driver

    def wrap(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            return await method(*args, **kwargs)

        return counted

    for name in _COUNTED:
        setattr(driver, name, wrap(getattr(driver, name)))

    def take() -> int:
        nonlocal calls
        taken, calls = calls, 0
        return taken

    return take


async def sequential(storage: SessionStorage, stream: str, appends: int) -> None:
    for i in range(appends):
        await storage.append_event("bench", stream, {"text": f"m{i}"})


async def concurrent(storages: list[SessionStorage], stream: str, tasks: int, each: int) -> None:
    """``tasks`` tasks (task ``n`` on ``storages[n % len]``), ``each`` appends apiece;
    checks that the indices they were given are every index once."""

    async def task(n: int) -> list[int]:
        storage = storages[n % len(storages)]
        return [
            await storage.append_event("bench", stream, {"task": n, "i": i}) for i in range(each)
        ]

    got = await asyncio.gather(*(task(n) for n in range(tasks)))
    assert sorted(i for indices in got for i in indices) == list(range(tasks * each))


# The baseline's two jobs, run in a subprocess with the other library on its path.
_CHILD = """
import asyncio, json, sys, time
from session_storage import SessionStorage
from benchmarks.event_writers import concurrent, count_calls, sequential

url, options, tasks, each = json.loads(sys.argv[1])

async def main():
    async with SessionStorage(url, options) as storage:
        take = count_calls(storage)
        await storage.store_session("warm", {})
        take()
        out = {}
        for job, run in (
            ("sequential", lambda: sequential(storage, "base-seq", tasks * each)),
            ("concurrent", lambda: concurrent([storage], "base-conc", tasks, each)),
        ):
            started = time.perf_counter()
            await run()
            out[job] = [time.perf_counter() - started, take()]
    print(json.dumps(out))

asyncio.run(main())
"""


def baseline(src: str, url: str, options: dict[str, Any], tasks: int, each: int) -> Any:
    """The two jobs' seconds and requests with the library at ``src``."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, here])}
    argument = json.dumps([url, options, tasks, each])
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, argument],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=600,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


async def run(backend: Backend, runs: int, tasks: int, each: int) -> list[Row]:
    appends = tasks * each
    what = f"{tasks} tasks x {each} append_event on one stream"
    rows: list[Row] = []
    storage = backend.storage()
    async with storage:
        take = count_calls(storage)
        await storage.store_session("warm", {})
        take()
        streams = iter(range(10**6))
        requests: dict[str, list[int]] = {"sequential": [], "concurrent": []}

        async def one_by_one() -> None:
            take()
            await sequential(storage, f"seq-{next(streams)}", appends)
            requests["sequential"].append(take())

        async def grouped() -> None:
            take()
            await concurrent([storage], f"conc-{next(streams)}", tasks, each)
            requests["concurrent"].append(take())

        result = await compare(grouped, one_by_one, runs, warmup=False)
        seq_requests = min(requests["sequential"])
        conc_requests = min(requests["concurrent"])
        rows.append(
            Row(
                bench=f"events: {appends} append_event in turn, one task",
                backend=backend.name,
                ours=f"{result.theirs * 1000:,.0f} ms, {seq_requests} requests",
            )
        )
        rows.append(
            Row(
                bench=f"events: {what}, one storage",
                backend=backend.name,
                ours=f"{result.ours * 1000:,.0f} ms, {conc_requests} requests",
                baseline=f"{appends} in turn {result.theirs * 1000:,.0f} ms",
                ratio=result.ratio,
                target="≤ 2×",
                met=result.ratio <= 2,
                note=f"group commit: {appends / max(conc_requests, 1):.1f} appends a write",
            )
        )
        if backend.subprocess_ok:  # storages of their own see one stream: not in memory
            peers = [SessionStorage.from_settings(storage.settings) for _ in range(tasks)]
            try:
                started = time.perf_counter()
                await concurrent(peers, "apart", tasks, each)
                apart = time.perf_counter() - started
            finally:
                for peer in peers:
                    await peer.aclose()
            rows.append(
                Row(
                    bench=f"events: {what}, a storage each",
                    backend=backend.name,
                    ours=f"{apart * 1000:,.0f} ms",
                    baseline=f"{appends} in turn {result.theirs * 1000:,.0f} ms",
                    ratio=apart / result.theirs,
                    note="nothing to group across storages: each lost race costs a GET",
                )
            )
        src = os.environ.get(BASELINE_ENV)
        if src and backend.subprocess_ok:
            log(f"  event writers on {backend.name}: the library at {src}")
            url, options = storage.url, dict(storage.settings.storage_options)
            before = await asyncio.to_thread(baseline, src, url, options, tasks, each)
            (seq_s, _), (conc_s, conc_n) = before["sequential"], before["concurrent"]
            rows.append(
                Row(
                    bench=f"events: {what}, one storage, the library at {BASELINE_ENV}",
                    backend=backend.name,
                    ours=f"{conc_s * 1000:,.0f} ms, {conc_n} requests",
                    baseline=f"{appends} in turn {seq_s * 1000:,.0f} ms",
                    ratio=conc_s / seq_s,
                    note=f"one run; ours (grouped) takes {result.ours / conc_s:.2f}× its time",
                )
            )
        await storage.delete_session("bench")
    return rows
