"""(3) Requests per operation, counted where they arrive: at the server.

Only backends whose server counts requests (moto here) take part. The test suite
asserts the same counts (tests/backends/test_s3.py); this prints them next to their targets.
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
        await _put_files(backend, storage, [(f"s{i:05d}", "state.json") for i in range(LISTED)])
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
        for k in (4, 1000, 1001):
            await _put_files(backend, storage, [("many", f"f/{i:05d}.bin") for i in range(k)])
            backend.requests()
            lists = math.ceil(k / 1000)
            await count(
                f"delete_session of {k} files",
                lambda: storage.delete_session("many"),
                1 + math.ceil(k / 1000),
                ""
                if lists == 1
                else f"S3 lists at most 1000 keys a request: {k} keys take {lists} LISTs",
            )
        await _count_appends(backend, storage, rows)
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


APPENDS = 20
"""Appends per figure in the append_event counts; the figure is requests per append."""


async def _count_appends(backend: Backend, storage: SessionStorage, rows: list[Row]) -> None:
    """Requests per append_event for a single writer, as documented by append_event:
    one create-only PUT once the storage knows the stream's end; a new idempotency
    key adds its marker (two); a repeated key reads the marker and the event (three)."""

    async def per_append(what: str, target: int, call: Callable[[int], Awaitable[object]]) -> None:
        backend.requests()
        for i in range(APPENDS):
            await call(i)
        seen = backend.requests() or []
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(Counter(seen).items()))
        per = len(seen) / APPENDS
        rows.append(
            Row(
                bench=f"requests: {what}, per append",
                backend=backend.name,
                ours=f"{per:g}",
                baseline=f"{APPENDS} appends: {kinds}",
                target=f"{target}",
                met=per <= target,
                note="the figure append_event documents (single writer)",
            )
        )

    backend.requests()
    await storage.append_event("chat", "log", "first")  # a new stream: learns its end
    first = backend.requests() or []
    rows.append(
        Row(
            bench="requests: first append_event to a new stream",
            backend=backend.name,
            ours=str(len(first)),
            baseline=", ".join(f"{n} {k}" for k, n in sorted(Counter(first).items())),
            note="index 0 is free: one create-only PUT",
        )
    )
    await per_append("append_event", 1, lambda i: storage.append_event("chat", "log", i))
    await per_append(
        "append_event(idempotency_key=new key)",
        2,
        lambda i: storage.append_event("chat", "log", i, idempotency_key=f"k{i}"),
    )
    await per_append(
        "append_event(idempotency_key=repeated key)",
        3,
        lambda i: storage.append_event("chat", "log", "again", idempotency_key=f"k{i}"),
    )


async def _drain(storage: SessionStorage) -> None:
    async for _ in storage.iter_sessions():
        pass


async def _put_files(
    backend: Backend, storage: SessionStorage, files: list[tuple[str, str]]
) -> None:
    """Write each ``(session_id, filename)``: set-up, not counted."""
    if await backend.fill(storage, files):
        return
    gate = asyncio.Semaphore(storage.max_concurrency)

    async def put(session_id: str, filename: str) -> None:
        async with gate:
            await storage.store_bytes(session_id, filename, b"{}")

    await asyncio.gather(*(put(*file) for file in files))
