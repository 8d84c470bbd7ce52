"""Requests per StorageSaver call on S3 (moto), counted at the server, against the
budgets of the LangGraph integration; and writers racing on one thread. The figures
are printed (``-s`` shows them)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.base import Checkpoint
from langgraph.checkpoint.base.id import uuid6

from session_storage import SessionStorage
from session_storage.integrations.langgraph import StorageSaver

from ..support.cloud import RequestLog

HISTORY = 1000


def _checkpoint(n: int, value: Any = None) -> Checkpoint:
    values = {"messages": value if value is not None else [f"message {n}"]}
    return Checkpoint(
        v=1,
        id=str(uuid6(clock_seq=n)),
        ts=datetime.now(timezone.utc).isoformat(),
        channel_values=values,
        channel_versions={"messages": n + 1},
        versions_seen={},
        updated_channels=None,
    )


def _config(thread_id: str, checkpoint_id: str | None = None) -> dict[str, Any]:
    configurable = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


async def _fill(saver: StorageSaver, thread_id: str, count: int) -> list[str]:
    checkpoints = [_checkpoint(n) for n in range(count)]
    gate = asyncio.Semaphore(32)

    async def put(n: int) -> None:
        async with gate:
            parent = checkpoints[n - 1]["id"] if n else None
            await saver.aput(_config(thread_id, parent), checkpoints[n], {"step": n}, {})

    await asyncio.gather(*(put(n) for n in range(count)))
    return [c["id"] for c in checkpoints]


async def test_request_budgets_on_s3(
    make_s3_storage: Callable[..., SessionStorage], s3_requests: RequestLog
) -> None:
    figures: dict[str, int] = {}
    async with make_s3_storage("lg") as storage:
        saver = StorageSaver(storage)
        ids = await _fill(saver, "long", HISTORY)
        s3_requests.take()

        async def count(name: str, call: Any) -> Any:
            result = await call
            figures[name] = len(s3_requests.take())
            return result

        latest = await count(f"aget_tuple latest of {HISTORY}", saver.aget_tuple(_config("long")))
        assert latest.checkpoint["id"] == max(ids) == ids[-1]
        assert latest.checkpoint["channel_values"] == {"messages": [f"message {HISTORY - 1}"]}
        by_id = await count("aget_tuple by id", saver.aget_tuple(_config("long", ids[10])))
        assert by_id.metadata["step"] == 10
        new = _checkpoint(HISTORY)
        stored = await count(
            "aput", saver.aput(_config("long", ids[-1]), new, {"step": HISTORY}, {})
        )
        run = _checkpoint(HISTORY + 1)
        await count(
            "aput with run_id",
            saver.aput(stored, run, {"step": HISTORY + 1, "run_id": "run-1"}, {}),
        )
        written = _config("long", run["id"])
        await count("aput_writes", saver.aput_writes(written, [("messages", "a")], "task-1"))
        await count(
            "aput_writes, 2nd task", saver.aput_writes(written, [("messages", "b")], "task-2")
        )
        latest = await count("aget_tuple latest, with writes", saver.aget_tuple(_config("long")))
        assert [w[2] for w in latest.pending_writes] == ["a", "b"]
        page = await count("alist limit=10", _collect(saver.alist(_config("long"), limit=10)))
        assert [t.metadata["step"] for t in page] == list(range(HISTORY + 1, HISTORY - 9, -1))
        empty = await count("aget_tuple of a missing thread", saver.aget_tuple(_config("none")))
        assert empty is None

    print("\nStorageSaver requests on S3 (moto), counted at the server:")
    for name, n in figures.items():
        print(f"  {name:36s} {n}")
    # The latest checkpoint: its ``latest`` object, then a listing of its folder (and
    # its writes, when it has some).
    assert figures[f"aget_tuple latest of {HISTORY}"] <= 2
    assert figures["aget_tuple latest, with writes"] <= 3
    assert figures["aget_tuple by id"] <= 2
    # A put: its checkpoint, then ``latest`` (and the run's index entry).
    assert figures["aput"] <= 2 and figures["aput with run_id"] <= 3
    assert figures["aput_writes"] <= 2 and figures["aput_writes, 2nd task"] <= 2
    assert figures["alist limit=10"] <= 1 + 2 * 10


async def _collect(items: Any) -> list[Any]:
    return [item async for item in items]


@pytest.mark.parametrize("backend", ["file", "s3"])
async def test_two_writers_of_one_thread(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two savers on two storages of one root, as two processes: every checkpoint and
    every write of both lands, and the latest is the newest of all."""
    if backend == "file":
        first, second = SessionStorage(tmp_path), SessionStorage(tmp_path)
    else:
        make = request.getfixturevalue("make_s3_storage")
        first = make("lg")
        second = SessionStorage(first.url, first.settings.storage_options)
    async with first, second:
        savers = [StorageSaver(first), StorageSaver(second)]
        anchor = _checkpoint(0)
        await savers[0].aput(_config("shared"), anchor, {"step": 0}, {})
        mine = [[_checkpoint(n) for n in range(1 + k, 41, 2)] for k in range(2)]
        at_anchor = _config("shared", anchor["id"])

        async def writer(k: int) -> None:
            for n, checkpoint in enumerate(mine[k]):
                await savers[k].aput(_config("shared"), checkpoint, {"step": n, "by": k}, {})
                await savers[k].aput_writes(at_anchor, [("messages", f"{k}-{n}")], f"t{k}-{n}")

        await asyncio.gather(writer(0), writer(1))
        every = await _collect(savers[1].alist(_config("shared")))
        ids = [t.checkpoint["id"] for t in every]
        assert ids == sorted(ids, reverse=True) and len(ids) == 41
        latest = await savers[0].aget_tuple(_config("shared"))
        assert latest.checkpoint["id"] == max(c["id"] for c in mine[0] + mine[1])
        anchored = await savers[0].aget_tuple(at_anchor)
        assert sorted(w[2] for w in anchored.pending_writes) == sorted(
            f"{k}-{n}" for k in range(2) for n in range(20)
        )


def test_requests_per_graph_turn_on_s3(
    make_s3_storage: Callable[..., SessionStorage], s3_requests: RequestLog
) -> None:
    """What one turn of a real graph costs: the figure the README quotes."""
    from session_storage import SyncSessionStorage

    from ..support.langgraph_support import build_graph

    with SyncSessionStorage.wrap(make_s3_storage("lg")) as sync:
        graph = build_graph(StorageSaver(sync))
        config = {"configurable": {"thread_id": "chat"}}
        graph.invoke({"messages": ["warm up"]}, config)
        counts = []
        for turn in ("one", "two", "three"):
            s3_requests.take()
            graph.invoke({"messages": [turn]}, config)
            counts.append(len(s3_requests.take()))
        checkpoints = len(list(graph.get_state_history(config)))
    # Each turn: the latest checkpoint (LIST + 2 GETs), then per super-step one PUT for
    # the checkpoint and a GET + PUT per task's writes: 5 checkpoints, and 5 writers
    # (the input, then greet, choose, left and right, the last two in parallel).
    print(f"\ngraph turn on S3: {counts} requests per turn, {checkpoints} checkpoints")
    assert checkpoints == 4 * 5
    assert all(n <= 3 + 5 + 2 * 5 for n in counts), counts
