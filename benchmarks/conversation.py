"""(8) Reading a conversation through the OpenAI Agents SDK integration.

- file: ``get_items()`` of a 1,000-item conversation by a fresh ``StorageSession`` on a
  fresh storage (nothing cached, as in a new process or request handler), against the
  SDK's own ``SQLiteSession`` on a database file, reused with its connections open (its
  best case).
- s3: ``get_items(limit=20)`` (one GET of the tail) and ``get_items()`` (the tail, a
  LIST and the sealed segments) of the same conversation, each by a fresh storage, with
  the requests moto answered; beside them what a careful caller pays by hand for one GET
  from a new s3fs filesystem.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from session_storage import SessionStorage

from .backends import Backend
from .measure import Row, compare, log, ms

ITEMS = 1000
TARGET = 1.0
"""Most the fresh read may take, as a multiple of SQLiteSession's (the issue's target)."""


def conversation(n: int = ITEMS) -> list[dict[str, Any]]:
    """A chat as the SDK stores it: user messages and assistant output messages."""
    items: list[dict[str, Any]] = []
    for i in range(n):
        if i % 2 == 0:
            items.append({"role": "user", "content": f"question {i}: " + "x" * 80})
        else:
            text = {"type": "output_text", "text": "y" * 120, "annotations": []}
            items.append(
                {
                    "type": "message",
                    "role": "assistant",
                    "id": f"msg_{i:06d}",
                    "status": "completed",
                    "content": [text],
                }
            )
    return items


async def run(backend: Backend, runs: int) -> list[Row]:
    try:
        from agents.memory import SQLiteSession

        from session_storage.integrations.openai_agents import StorageSession
    except ImportError as exc:
        note = f"not run: the OpenAI Agents SDK is missing ({exc})"
        return [Row(bench="OpenAI Agents get_items", backend=backend.name, ours="–", note=note)]
    if backend.name == "file":
        return [await _against_sqlite(backend, runs, StorageSession, SQLiteSession)]
    if backend.name == "s3":
        return await _cold_reads_on_s3(backend, runs, StorageSession)
    return []


async def _fill(url: str, options: dict[str, Any], session_class: Any) -> list[Any]:
    items = conversation()
    async with SessionStorage(url, options) as storage:
        session = session_class("chat", storage)
        for start in range(0, ITEMS, 10):  # ten items a turn
            await session.add_items(items[start : start + 10])
    return items


async def _against_sqlite(
    backend: Backend, runs: int, session_class: Any, sqlite_class: Any
) -> Row:
    url, _ = backend.location()
    items = await _fill(url, {}, session_class)
    reads = 10
    with tempfile.TemporaryDirectory(prefix="session-storage-bench-") as folder:
        sqlite = sqlite_class("chat", os.path.join(folder, "agents.db"))
        await sqlite.add_items(items)

        async def ours() -> None:
            for _ in range(reads):
                async with SessionStorage(url) as storage:
                    got = await session_class("chat", storage).get_items()
                assert len(got) == ITEMS

        async def theirs() -> None:
            for _ in range(reads):
                assert len(await sqlite.get_items()) == ITEMS

        for _ in range(3):  # every worker thread has its SQLite connection open
            await theirs()
        log(f"  conversation on file: {runs} x {reads} reads of {ITEMS} items each side")
        result = await compare(ours, theirs, runs * 2)
        sqlite.close()
    return Row(
        bench=f"OpenAI Agents get_items() of {ITEMS:,} items, fresh session and storage",
        backend="file",
        ours=ms(result.ours / reads),
        baseline=f"SQLiteSession on a file, reused {ms(result.theirs / reads)}",
        ratio=result.ratio,
        target=f"≤ {TARGET:.2f}×",
        met=result.ratio <= TARGET,
        note="ours opens a storage and reads with nothing cached: the stream folder "
        "whole, in one thread hop (SQLite: one hop too)",
    )


async def _cold_reads_on_s3(backend: Backend, runs: int, session_class: Any) -> list[Row]:
    url, options = backend.location()
    await _fill(url, options, session_class)

    async def fresh_read(limit: int | None) -> tuple[float, list[str]]:
        backend.requests()
        start = time.perf_counter()
        async with SessionStorage(url, options) as storage:
            got = await session_class("chat", storage).get_items(limit)
        took = time.perf_counter() - start
        assert len(got) == (ITEMS if limit is None else limit)
        return took, backend.requests() or []

    async def by_hand() -> float:
        import s3fs

        bucket_path = url.removeprefix("s3://")
        start = time.perf_counter()
        fs = s3fs.S3FileSystem(asynchronous=True, skip_instance_cache=True, **options)
        await fs._cat_file(f"{bucket_path}/chat/openai-agents/tail.json", max_concurrency=1)
        took = time.perf_counter() - start
        await fs._s3.close()
        return took

    limited, full, hand = [], [], []
    for run in range(runs + 1):
        # Alternating which goes first; the first round warms the process (imports).
        first, second = (20, None) if run % 2 else (None, 20)
        a, b = await fresh_read(first), await fresh_read(second)
        if run:
            hand.append(await by_hand())
            limited.append(a if first == 20 else b)
            full.append(b if first == 20 else a)
    limited.sort()
    full.sort()
    hand.sort()
    lim_took, lim_requests = limited[len(limited) // 2]
    full_took, full_requests = full[len(full) // 2]
    hand_took = hand[len(hand) // 2]
    return [
        Row(
            bench="OpenAI Agents get_items(limit=20) of 1,000 items, fresh storage",
            backend="s3",
            ours=f"{ms(lim_took)}, {len(lim_requests)} requests",
            baseline=f"get_items() of all, fresh storage {ms(full_took)}, "
            f"{len(full_requests)} requests",
            ratio=lim_took / full_took,
            note=f"by hand, a new s3fs filesystem and one GET: {ms(hand_took)}; a new "
            "storage shares botocore's parsed data files",
        )
    ]
