"""(2) Batch load and store of 1000 sessions: against one-by-one calls, and obstore."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from session_storage import SessionStorage

from .backends import Backend
from .measure import Comparison, Row, compare, log, secs
from .overhead import state_of_one_kib

OBSTORE_TARGET = 1.2
"""Most time a batch load may take on moto, as a multiple of obstore's."""
SPEEDUP_TARGETS = {"gcs": 3.0}
"""Least speed-up of a batch load over one-by-one loads, where the issue sets one
(fake-gcs-server serves requests concurrently; moto and local disk barely do)."""


async def run(backend: Backend, runs: int, n: int) -> list[Row]:
    storage = backend.storage()
    rows: list[Row] = []
    async with storage:
        ids = [f"b{i:05d}" for i in range(n)]
        states = dict.fromkeys(ids, state_of_one_kib())
        await storage.store_sessions(states)
        log(f"  batch on {backend.name}: {n} sessions, concurrency {storage.max_concurrency}")

        async def batch_load() -> None:
            await storage.load_sessions(ids)

        async def one_by_one_load() -> None:
            for session_id in ids:
                await storage.load_session(session_id)

        async def batch_store() -> None:
            await storage.store_sessions(states)

        async def one_by_one_store() -> None:
            for session_id, state in states.items():
                await storage.store_session(session_id, state)

        load = await compare(batch_load, one_by_one_load, runs, warmup=False)
        rows.append(_speedup("load", n, backend, storage, load))
        store = await compare(batch_store, one_by_one_store, runs, warmup=False)
        rows.append(_speedup("store", n, backend, storage, store))
        if backend.name in SPEEDUP_TARGETS:
            rows.append(await _raw_ceiling(backend, storage, ids, runs))
        try:
            store_obstore = backend.obstore(storage)
        except ImportError:
            rows.append(
                Row(
                    bench=f"load_sessions of {n} vs obstore",
                    backend=backend.name,
                    ours="–",
                    target=f"≤ {OBSTORE_TARGET:.1f}×",
                    note="not measured: obstore is not installed (pip install -e '.[bench]')",
                )
            )
            store_obstore = None
        if store_obstore is not None:
            rows.append(await _against_obstore(backend, storage, store_obstore, ids, runs))
    return rows


def _speedup(
    what: str, n: int, backend: Backend, storage: SessionStorage, result: Comparison
) -> Row:
    least = SPEEDUP_TARGETS.get(backend.name) if what == "load" else None
    return Row(
        bench=f"{what}_sessions of {n}",
        backend=backend.name,
        ours=secs(result.ours),
        baseline=f"{n} x {what}_session {secs(result.theirs)}",
        ratio=result.ratio,
        target="" if least is None else f"≤ {1 / least:.2f}× (≥ {least:g}× faster)",
        met=None if least is None else result.ratio <= 1 / least,
        note=f"{1 / result.ratio:.1f}× faster, {storage.max_concurrency} at once",
    )


async def _raw_ceiling(backend: Backend, storage: SessionStorage, ids: list[str], runs: int) -> Row:
    """The same speed-up for raw fsspec reads of the same files: what the server allows.

    When the server itself is the bottleneck (a CPU-bound emulator on a small machine),
    no client gets more out of concurrency than this.
    """
    fs = storage.filesystem
    root = fs._strip_protocol(storage.url).rstrip("/")
    paths = [f"{root}/{session_id}/state.json" for session_id in ids]
    limit = storage.max_concurrency

    async def concurrent() -> None:
        gate = asyncio.Semaphore(limit)

        async def cat(path: str) -> bytes:
            async with gate:
                data: bytes = await fs._cat_file(path)
                return data

        await asyncio.gather(*(cat(p) for p in paths))

    async def sequential() -> None:
        for path in paths:
            await fs._cat_file(path)

    result = await compare(concurrent, sequential, runs, warmup=False)
    return Row(
        bench=f"raw fsspec _cat_file x {len(ids)}, {limit} at once",
        backend=backend.name,
        ours=secs(result.ours),
        baseline=f"one by one {secs(result.theirs)}",
        ratio=result.ratio,
        note=f"{1 / result.ratio:.1f}× faster: the most the server gives any client here",
    )


async def _against_obstore(
    backend: Backend, storage: SessionStorage, store: Any, ids: list[str], runs: int
) -> Row:
    import obstore

    async def get(session_id: str) -> object:
        result = await obstore.get_async(store, f"{session_id}/state.json")
        return orjson.loads(bytes(await result.bytes_async()))

    async def ours() -> None:
        await storage.load_sessions(ids)

    async def theirs() -> None:
        # obstore's own idiom: every get at once, its Rust client pools connections.
        await asyncio.gather(*(get(i) for i in ids))

    # Warm both clients up (connections, credentials) on a few ids, then measure.
    await storage.load_sessions(ids[:50])
    await asyncio.gather(*(get(i) for i in ids[:50]))
    result = await compare(ours, theirs, runs, warmup=False)
    return Row(
        bench=f"load_sessions of {len(ids)}",
        backend=backend.name,
        ours=secs(result.ours),
        baseline=f"obstore get_async x {len(ids)} (gather) + orjson {secs(result.theirs)}",
        ratio=result.ratio,
        target=f"≤ {OBSTORE_TARGET:.1f}×",
        met=result.ratio <= OBSTORE_TARGET,
    )
