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
        store_obstore = backend.obstore(storage)
        if store_obstore is not None:
            rows.append(await _against_obstore(backend, storage, store_obstore, ids, runs))
    return rows


def _speedup(
    what: str, n: int, backend: Backend, storage: SessionStorage, result: Comparison
) -> Row:
    return Row(
        bench=f"{what}_sessions of {n}",
        backend=backend.name,
        ours=secs(result.ours),
        baseline=f"{n} x {what}_session {secs(result.theirs)}",
        ratio=result.ratio,
        note=f"{1 / result.ratio:.1f}x faster, {storage.max_concurrency} at once",
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

    result = await compare(ours, theirs, runs)
    return Row(
        bench=f"load_sessions of {len(ids)}",
        backend=backend.name,
        ours=secs(result.ours),
        baseline=f"obstore get_async x {len(ids)} (gather) + orjson {secs(result.theirs)}",
        ratio=result.ratio,
        target=f"≤ {OBSTORE_TARGET:.1f}×",
        met=result.ratio <= OBSTORE_TARGET,
    )
