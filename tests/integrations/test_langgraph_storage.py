"""What StorageSaver stores for a long chat: values once, growing lists as what they
gained; and every read of it, item for item equal to LangGraph's InMemorySaver fed the
same calls: latest, history, by id, time travel, a fork, a removal, checkpoints of the
first format, two savers taking turns, and what maintenance deletes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ormsgpack
from langchain_core.messages import HumanMessage, RemoveMessage
from langgraph.checkpoint.memory import InMemorySaver

from session_storage import SessionStorage
from session_storage.integrations.langgraph import StorageSaver
from session_storage.integrations.langgraph.layout import CHECKPOINT, WRITES, folder_of

from ..support.langgraph_support import build_messages_graph


def _config(thread_id: str, checkpoint_id: str | None = None, **extra: Any) -> dict[str, Any]:
    configurable = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable, **extra}


def _tee(saver: StorageSaver, reference: InMemorySaver) -> StorageSaver:
    """Every put and put_writes of ``saver`` made on ``reference`` too, same arguments."""
    put, put_writes = saver.aput, saver.aput_writes

    async def aput(config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        stored = await put(config, checkpoint, metadata, new_versions)
        reference.put(config, checkpoint, metadata, new_versions)
        return stored

    async def aput_writes(config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        await put_writes(config, writes, task_id, task_path)
        reference.put_writes(config, writes, task_id, task_path)

    saver.aput = aput  # type: ignore[method-assign]
    saver.aput_writes = aput_writes  # type: ignore[method-assign]
    return saver


def _item(found: Any) -> tuple[Any, ...]:
    return (
        found.config,
        found.checkpoint,
        found.metadata,
        found.parent_config,
        found.pending_writes,
    )


async def _assert_same(saver: StorageSaver, reference: InMemorySaver, thread_id: str) -> int:
    """The whole thread, then each checkpoint by id, then the latest: as the reference
    has them. The number of checkpoints."""
    ours = [_item(t) async for t in saver.alist(_config(thread_id))]
    theirs = list(reference.list(_config(thread_id)))
    assert ours == [_item(t) for t in theirs]
    for expected in theirs:
        assert _item(await saver.aget_tuple(expected.config)) == _item(expected)
    latest = await saver.aget_tuple(_config(thread_id))
    assert _item(latest) == _item(reference.get_tuple(_config(thread_id)))
    return len(theirs)


async def _turns(graph: Any, thread_id: str, count: int, first: int = 0, **extra: Any) -> None:
    for n in range(first, first + count):
        config = _config(thread_id, **extra)
        if "metadata" in extra:  # a run id per turn, as a server gives each run its own
            config["metadata"] = {"run_id": f"run-{n}"}
        await graph.ainvoke({"messages": [HumanMessage(f"question {n}")]}, config)


def _bytes(root: Path) -> int:
    return sum(os.path.getsize(Path(d) / f) for d, _, fs in os.walk(root) for f in fs)


async def test_reads_equal_in_memory_saver_through_time_travel_forks_and_removals(
    tmp_path: Path,
) -> None:
    reference = InMemorySaver()
    async with SessionStorage(tmp_path) as storage:
        graph = build_messages_graph(_tee(StorageSaver(storage), reference))
        await _turns(graph, "chat", 12)
        history = [s async for s in graph.aget_state_history(_config("chat"))]
        # Time travel: run again from the checkpoint before turn 4's agent step.
        old = next(s for s in history if s.next == ("agent",) and len(s.values["messages"]) == 10)
        await graph.ainvoke(None, old.config)
        # A fork: a message added to an older checkpoint, then a turn from there.
        forked = await graph.aupdate_state(
            history[-6].config, {"messages": [HumanMessage("what if")]}
        )
        await graph.ainvoke({"messages": [HumanMessage("go on")]}, forked)
        # A removal: add_messages rewrites the list, which is then stored in full.
        latest = await graph.aget_state(_config("chat"))
        first = latest.values["messages"][0].id
        await graph.aupdate_state(_config("chat"), {"messages": [RemoveMessage(id=first)]})
        await _turns(graph, "chat", 2, first=12)
        count = await _assert_same(graph.checkpointer, reference, "chat")
        assert count > 60
        # A saver that remembers nothing reads every piece from the store.
        await _assert_same(StorageSaver(storage), reference, "chat")


async def test_storage_grows_with_the_thread_not_its_square(tmp_path: Path) -> None:
    sizes = {}
    for turns in (10, 40):
        reference = InMemorySaver()
        root = tmp_path / str(turns)
        async with SessionStorage(root) as storage:
            await _turns(build_messages_graph(_tee(StorageSaver(storage), reference)), "t", turns)
        sizes[turns] = _bytes(root)
    print(f"\nbytes stored: {sizes}, growth x{sizes[40] / sizes[10]:.2f} for x4 turns")
    # Linear is x4; every value in full (the first format) was x13 here.
    assert sizes[40] / sizes[10] < 6


def _first_format(found: Any, serde: Any) -> bytes:
    """A checkpoint object as the first format wrote it: every value in full."""
    checkpoint = dict(found.checkpoint)
    values = checkpoint.pop("channel_values")
    return ormsgpack.packb(
        {
            "checkpoint": list(serde.dumps_typed(checkpoint)),
            "values": {k: list(serde.dumps_typed(v)) for k, v in values.items()},
            "metadata": list(serde.dumps_typed(found.metadata)),
            "parent": found.parent_config["configurable"]["checkpoint_id"]
            if found.parent_config
            else None,
        }
    )


async def test_threads_of_the_first_format_read_and_go_on(tmp_path: Path) -> None:
    """A thread written before values were stored once (every value in full in every
    checkpoint, no ``latest`` object) reads as it did, and new turns build on it."""
    reference = InMemorySaver()
    await _turns(build_messages_graph(reference), "old", 4)
    async with SessionStorage(tmp_path) as storage:
        saver = StorageSaver(storage)
        namespace = storage.narrow("threads", "old", "ns-")
        for found in reference.list(_config("old")):
            folder = folder_of(found.config["configurable"]["checkpoint_id"])
            assert folder is not None
            await namespace.store_bytes(folder, CHECKPOINT, _first_format(found, saver.serde))
            if found.pending_writes:
                rows = [
                    [
                        task,
                        0 if channel != "__error__" else -1,
                        channel,
                        list(saver.serde.dumps_typed(v)),
                        "",
                    ]
                    for task, channel, v in found.pending_writes
                ]
                await namespace.store_bytes(folder, WRITES, ormsgpack.packb(rows))
        await _assert_same(saver, reference, "old")
        await _turns(build_messages_graph(_tee(saver, reference)), "old", 3, first=4)
        await _assert_same(saver, reference, "old")
        await _assert_same(StorageSaver(storage), reference, "old")


async def test_two_savers_taking_turns_lose_nothing(tmp_path: Path) -> None:
    """Two savers on one root, as two processes serving one chat: each finds the other's
    ``latest`` newer than it remembers, and every read stays the reference's."""
    reference = InMemorySaver()
    async with SessionStorage(tmp_path) as first, SessionStorage(tmp_path) as second:
        graphs = [
            build_messages_graph(_tee(StorageSaver(storage), reference))
            for storage in (first, second)
        ]
        for n in range(6):
            await _turns(graphs[n % 2], "shared", 1, first=n)
        await _assert_same(StorageSaver(first), reference, "shared")


async def test_deleting_runs_and_pruning_keep_the_rest_readable(tmp_path: Path) -> None:
    reference = InMemorySaver()
    async with SessionStorage(tmp_path) as storage:
        saver = _tee(StorageSaver(storage), reference)
        graph = build_messages_graph(saver)
        await _turns(graph, "chat", 6, metadata=True)
        before = {
            t.config["configurable"]["checkpoint_id"]: _item(t)
            async for t in saver.alist(_config("chat"))
        }
        # Later turns' lists are pieces held by these runs' checkpoints: they must survive.
        await saver.adelete_for_runs(["run-0", "run-2"])
        after = [t async for t in StorageSaver(storage).alist(_config("chat"))]
        assert {t.metadata["run_id"] for t in after} == {
            f"run-{n}" for n in range(6) if n not in (0, 2)
        }
        assert [_item(t) for t in after] == [
            before[t.config["configurable"]["checkpoint_id"]] for t in after
        ]
        for found in after:
            assert _item(await saver.aget_tuple(found.config)) == _item(found)
        await _turns(graph, "chat", 1, first=6)
        latest = await StorageSaver(storage).aget_tuple(_config("chat"))
        assert latest is not None
        assert latest.checkpoint == reference.get_tuple(_config("chat")).checkpoint
        await saver.aprune(["chat"])
        kept = [_item(t) async for t in StorageSaver(storage).alist(_config("chat"))]
        assert kept == [_item(latest)]
        await _turns(graph, "chat", 1, first=7)
        latest = await StorageSaver(storage).aget_tuple(_config("chat"))
        expected = reference.get_tuple(_config("chat"))
        assert latest is not None and latest.checkpoint == expected.checkpoint


async def test_a_latest_whose_checkpoint_object_is_missing_is_not_built_on(
    tmp_path: Path,
) -> None:
    """``latest`` and a checkpoint's object are written together: a process that dies
    between the two may leave ``latest`` naming a checkpoint whose pieces are not
    stored. The latest state still reads whole, and the next turn stores its values in
    full rather than as pieces of it."""
    reference = InMemorySaver()
    async with SessionStorage(tmp_path) as storage:
        await _turns(build_messages_graph(_tee(StorageSaver(storage), reference)), "t", 3)
        newest = reference.get_tuple(_config("t"))
        folder = folder_of(newest.config["configurable"]["checkpoint_id"])
        assert folder is not None
        await storage.narrow("threads", "t", "ns-").delete_session(folder, CHECKPOINT)
        saver = StorageSaver(storage)
        assert _item(await saver.aget_tuple(_config("t"))) == _item(newest)
        await _turns(build_messages_graph(_tee(saver, reference)), "t", 2, first=3)
        fresh = StorageSaver(storage)
        lost = newest.config
        for expected in reference.list(_config("t")):
            found = await fresh.aget_tuple(expected.config)
            if expected.config == lost:
                assert found is None
            else:
                assert _item(found) == _item(expected)
