"""A real LangGraph graph (plain Python nodes, no model) on StorageSaver, compared step
by step with LangGraph's own InMemorySaver: same states, same history, every backend."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from session_storage import NotSupportedError, SessionStorage, SyncSessionStorage
from session_storage.integrations.langgraph import StorageSaver

from ..support.langgraph_support import build_graph, build_interrupting_graph

TURNS = ["hello", "how are you", "tell me more"]


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def _snapshot(state: Any) -> tuple[Any, ...]:
    """What must agree between two savers: not ids, timestamps or random versions."""
    writes = state.metadata.get("writes")
    return (
        state.values,
        state.next,
        state.metadata.get("source"),
        state.metadata.get("step"),
        writes,
        [(t.name, t.interrupts and [i.value for i in t.interrupts]) for t in state.tasks],
        state.parent_config is None,
    )


def _history(graph: Any, thread_id: str) -> list[tuple[Any, ...]]:
    return [_snapshot(s) for s in graph.get_state_history(_config(thread_id))]


@pytest.fixture
def sync_storage(make_any_storage: Callable[[], SessionStorage]) -> Iterator[SyncSessionStorage]:
    with SyncSessionStorage.wrap(make_any_storage()) as sync:
        yield sync


def test_graph_matches_in_memory_saver(sync_storage: SyncSessionStorage) -> None:
    ours = build_graph(StorageSaver(sync_storage))
    reference = build_graph(InMemorySaver())
    for thread_id in ("alice", "bob/../weird id ✓"):
        for turn in TURNS:
            inputs = {"messages": [turn]}
            got = ours.invoke(inputs, _config(thread_id))
            expected = reference.invoke(inputs, _config(thread_id))
            assert got == expected
            ours_state = ours.get_state(_config(thread_id))
            assert _snapshot(ours_state) == _snapshot(reference.get_state(_config(thread_id)))
        # A manual edit, then one more turn from it.
        ours.update_state(_config(thread_id), {"messages": ["edited"]}, as_node="left")
        reference.update_state(_config(thread_id), {"messages": ["edited"]}, as_node="left")
        assert ours.invoke({"messages": ["last"]}, _config(thread_id)) == reference.invoke(
            {"messages": ["last"]}, _config(thread_id)
        )
        history = _history(ours, thread_id)
        assert history == _history(reference, thread_id)
        assert len(history) == 3 * 5 + 1 + 5  # input, greet, choose, fan-out, end; edit
    assert ours.get_state(_config("nobody")).values == {}


async def test_async_graph_matches_in_memory_saver(tmp_path: Path) -> None:
    """ainvoke on a plain SessionStorage, in the caller's event loop."""
    async with SessionStorage(tmp_path / "root") as storage:
        ours = build_graph(StorageSaver(storage))
        reference = build_graph(InMemorySaver())
        for turn in TURNS:
            got = await ours.ainvoke({"messages": [turn]}, _config("t"))
            assert got == await reference.ainvoke({"messages": [turn]}, _config("t"))
        ours_history = [_snapshot(s) async for s in ours.aget_state_history(_config("t"))]
        expected = [_snapshot(s) async for s in reference.aget_state_history(_config("t"))]
        assert ours_history == expected
        # The blocking API needs a storage with a loop of its own, and says so.
        with pytest.raises(NotSupportedError, match="SyncSessionStorage.wrap"):
            ours.get_state(_config("t"))


def test_sync_api_from_plain_threads(tmp_path: Path) -> None:
    with SyncSessionStorage(tmp_path / "root") as sync:
        graph = build_graph(StorageSaver(sync))

        def conversation(n: int) -> tuple[Any, Any]:
            thread_id = f"user-{n}"
            for turn in TURNS[: 1 + n % 3]:
                graph.invoke({"messages": [f"{turn} #{n}"]}, _config(thread_id))
            return graph.get_state(_config(thread_id)).values, _history(graph, thread_id)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(conversation, range(12)))

    reference = build_graph(InMemorySaver())
    for n, (values, history) in enumerate(results):
        for turn in TURNS[: 1 + n % 3]:
            reference.invoke({"messages": [f"{turn} #{n}"]}, _config(f"user-{n}"))
        assert values == reference.get_state(_config(f"user-{n}")).values
        assert history == _history(reference, f"user-{n}")


def test_async_methods_from_another_event_loop(tmp_path: Path) -> None:
    """A saver on a SyncSessionStorage serves ainvoke from the caller's own loop too."""
    with SyncSessionStorage(tmp_path / "root") as sync:
        graph = build_graph(StorageSaver(sync))
        graph.invoke({"messages": ["sync first"]}, _config("mixed"))
        result = asyncio.run(graph.ainvoke({"messages": ["then async"]}, _config("mixed")))
        assert result["turns"] == 2
        assert graph.get_state(_config("mixed")).values == result


def test_interrupt_is_resumed_by_another_saver(tmp_path: Path) -> None:
    with SyncSessionStorage(tmp_path / "root") as sync:
        graph = build_interrupting_graph(StorageSaver(sync))
        graph.invoke({"messages": ["please"]}, _config("t"))
        state = graph.get_state(_config("t"))
        assert state.next == ("ask",)
        assert state.tasks[0].interrupts[0].value == {"question": "approve turn 1?"}
    # A new storage and saver, as after a restart, picks the thread up where it stopped.
    with SyncSessionStorage(tmp_path / "root") as sync:
        graph = build_interrupting_graph(StorageSaver(sync))
        final = graph.invoke(Command(resume="yes"), _config("t"))
        assert final["messages"][-1] == "human:yes"
        assert graph.get_state(_config("t")).next == ()


def test_a_missing_thread_id_is_refused(tmp_path: Path) -> None:
    from session_storage import InvalidArgumentError

    with SyncSessionStorage(tmp_path / "root") as sync:
        saver = StorageSaver(sync)
        with pytest.raises(InvalidArgumentError, match="thread_id"):
            saver.get_tuple({"configurable": {}})
        assert saver.get_tuple(_config("nobody")) is None
        assert list(saver.list(_config("nobody"))) == []
        assert list(saver.list(None)) == []
