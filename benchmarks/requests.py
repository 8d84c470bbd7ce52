"""(3) Requests per operation, counted where they arrive: at the server.

Only backends whose server counts requests (moto here) take part. The test suite
asserts the same counts (tests/test_s3.py); this prints them next to their targets.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Awaitable, Callable

from session_storage import SessionStorage

from .backends import Backend
from .measure import Row, log

LISTED = 2500
"""Sessions in the bucket for the listing counts: three pages of 1000."""


async def run(backend: Backend) -> list[Row]:
    if backend.requests() is None:
        return []
    storage = backend.storage()
    rows: list[Row] = []
    async with storage:
        log(f"  requests on {backend.name}: creating {LISTED} sessions")
        await storage.store_sessions({f"s{i:05d}": {"i": i} for i in range(LISTED)})
        backend.requests()

        async def count(
            what: str, call: Callable[[], Awaitable[object]], target: int, note: str = ""
        ) -> None:
            await call()
            seen = backend.requests() or []
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(Counter(seen).items()))
            rows.append(
                Row(
                    bench=f"requests: {what}",
                    backend=backend.name,
                    ours=str(len(seen)),
                    baseline=kinds,
                    target=f"{target}",
                    met=len(seen) <= target,
                    note=note,
                )
            )

        pages = math.ceil(LISTED / 1000)
        await count("store_session", lambda: storage.store_session("x", {"v": 1}), 1)
        await count("load_session", lambda: storage.load_session("x"), 1)
        await count("load_session (missing)", lambda: storage.load_session("nope"), 1)
        await count("session_exists", lambda: storage.session_exists("x"), 1)
        await count("get_session_metadata", lambda: storage.get_session_metadata("x"), 1)
        await count(f"list_sessions of {LISTED + 1}", storage.list_sessions, pages)
        await count(f"iter_sessions over {LISTED + 1}", lambda: _drain(storage), pages)
        await count(
            "list_sessions(limit=10, start_after=…)",
            lambda: storage.list_sessions(limit=10, start_after="s01000"),
            1,
            "MaxKeys=10",
        )
        for k in (4, 1001):
            await _put_files(storage, "many", k)
            backend.requests()
            lists = math.ceil(k / 1000)
            await count(
                f"delete_session of {k} files",
                lambda: storage.delete_session("many"),
                1 + math.ceil(k / 1000),
                "" if lists == 1 else f"listing {k} keys takes {lists} pages of 1000",
            )
        await count(
            "load_sessions of 100",
            lambda: storage.load_sessions([f"s{i:05d}" for i in range(100)]),
            100,
        )
        await count(
            "store_sessions of 100",
            lambda: storage.store_sessions({f"s{i:05d}": {} for i in range(100)}),
            100,
        )
    return rows


async def _drain(storage: SessionStorage) -> None:
    async for _ in storage.iter_sessions():
        pass


async def _put_files(storage: SessionStorage, session_id: str, k: int) -> None:
    """Give ``session_id`` ``k`` small files, written concurrently."""
    gate = asyncio.Semaphore(storage.max_concurrency)

    async def put(i: int) -> None:
        async with gate:
            await storage.store_bytes(session_id, f"f/{i:05d}.bin", b"x")

    await asyncio.gather(*(put(i) for i in range(k)))
