"""(8) LangGraph: what a long ``MessagesState`` thread stores, and what a turn costs.

The graph is a chat's usual shape with no model: an agent node that answers with a
tool call and a tool node that answers it, so each turn (one ``ainvoke``) adds a
human, an AI and a tool message (~0.9 kB serialized) and stores four checkpoints.
One thread runs ``turns`` turns with ``StorageSaver`` on the backend, then with
LangGraph's ``InMemorySaver``, back to back; bytes are what the store holds at the
end (every object's size; for InMemorySaver the bytes of its checkpoints, metadata,
blobs and writes, which it keeps serialized by its serde), ms the wall time per turn.
On S3 the requests of the last turns are counted at the server.
"""

from __future__ import annotations

import os
import time
from typing import Any

import anyio.to_thread

from session_storage import SessionStorage

from .backends import Backend
from .measure import Row, log

TURNS = {"file": (50, 200), "s3": (50, 200)}
"""Turns per backend by default. 1,000 turns (``--langgraph-turns 50,200,1000``) take
about 12 minutes on local disk: LangGraph serializes the whole message list at every
checkpoint (~0.3 s a turn at 3,000 messages, for InMemorySaver too), and ~4 more on
moto; the bytes at 1,000 turns are the same on both."""
_BYTES_TARGET = 8_000_000
_GROWTH_TARGET = 6.0
_REQUESTS_TARGET = 13


def _graph(checkpointer: Any) -> Any:
    from langchain_core.messages import AIMessage, ToolMessage
    from langgraph.graph import END, START, MessagesState, StateGraph

    def agent(state: MessagesState) -> dict[str, Any]:
        n = len(state["messages"])
        call = {"name": "lookup", "args": {"query": f"what about item {n}?"}, "id": f"call_{n}"}
        return {"messages": [AIMessage(content="Let me look that up. " * 6, tool_calls=[call])]}

    def tool(state: MessagesState) -> dict[str, Any]:
        call = state["messages"][-1].tool_calls[0]
        text = f"Result for {call['args']['query']}: " + "found it; " * 18
        return {"messages": [ToolMessage(content=text, tool_call_id=call["id"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tool", tool)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "tool")
    builder.add_edge("tool", END)
    return builder.compile(checkpointer=checkpointer)


async def _turns(graph: Any, turns: int, on_turn: Any = None) -> float:
    """Seconds per turn of ``turns`` turns of one thread."""
    from langchain_core.messages import HumanMessage

    config = {"configurable": {"thread_id": "chat"}}
    started = time.perf_counter()
    for n in range(turns):
        if on_turn is not None:
            on_turn(n)
        await graph.ainvoke(
            {"messages": [HumanMessage(f"Question {n}: " + "tell me more. " * 8)]}, config
        )
    return (time.perf_counter() - started) / turns


def _memory_bytes(saver: Any) -> int:
    """Bytes InMemorySaver holds serialized: checkpoints, metadata, blobs, writes."""
    total = 0
    for namespaces in saver.storage.values():
        for checkpoints in namespaces.values():
            for checkpoint, metadata, parent in checkpoints.values():
                total += len(checkpoint[1]) + len(metadata[1]) + len(parent or "")
    total += sum(len(typed[1]) for typed in saver.blobs.values())
    for writes in saver.writes.values():
        total += sum(
            len(value[1]) + len(task) + len(channel) for task, channel, value, _ in writes.values()
        )
    return total


def _stored_bytes(backend: Backend, storage: SessionStorage) -> int:
    if backend.name == "file":
        root = storage.url.removeprefix("file://")
        return sum(
            os.path.getsize(os.path.join(folder, name))
            for folder, _, names in os.walk(root)
            for name in names
            if not name.startswith(".")
        )
    import boto3

    options = storage.settings.storage_options
    bucket = storage.url.removeprefix("s3://").split("/")[0]
    client = boto3.client(
        "s3",
        endpoint_url=options["endpoint_url"],
        aws_access_key_id=options["key"],
        aws_secret_access_key=options["secret"],
        region_name="us-east-1",
    )
    total = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        total += sum(item["Size"] for item in page.get("Contents", []))
    return total


async def run(backend: Backend, plan: dict[str, tuple[int, ...]]) -> list[Row]:
    turns = plan.get(backend.name, ())
    if not turns:
        return []
    try:
        from langgraph.checkpoint.memory import InMemorySaver
    except ImportError:
        note = "not run: needs the langgraph extra (pip install 'session-storage[langgraph]')"
        return [Row(bench="LangGraph MessagesState", backend=backend.name, ours="–", note=note)]

    from session_storage.integrations.langgraph import StorageSaver

    rows: list[Row] = []
    sizes: dict[int, int] = {}
    for count in turns:
        storage = backend.storage()
        requests: list[int] = []
        counting = backend.requests() is not None

        def count_requests(
            n: int, count: int = count, counting: bool = counting, requests: list[int] = requests
        ) -> None:
            # The requests of each of the last 5 turns: the first ones warm up.
            if counting and n >= count - 5:
                taken = len(backend.requests() or [])
                if n > count - 5:
                    requests.append(taken)

        async with storage:
            started = time.perf_counter()
            ours = await _turns(_graph(StorageSaver(storage)), count, count_requests)
            if counting:
                requests.append(len(backend.requests() or []))
            took = time.perf_counter() - started
        stored = await anyio.to_thread.run_sync(_stored_bytes, backend, storage)
        memory = InMemorySaver()
        theirs = await _turns(_graph(memory), count)
        held = _memory_bytes(memory)
        sizes[count] = stored
        log(f"    langgraph {count} turns on {backend.name}: {took:.1f} s, {stored / 1e6:.2f} MB")
        target = f"≤ {_BYTES_TARGET / 1e6:.1f} MB" if count == 200 else ""
        rows.append(
            Row(
                bench=f"LangGraph MessagesState, {count} turns: bytes stored",
                backend=backend.name,
                ours=f"{stored / 1e6:.2f} MB ({stored / count / 1e3:.1f} kB/turn)",
                baseline=f"InMemorySaver {held / 1e6:.2f} MB",
                ratio=stored / held,
                target=target,
                met=stored <= _BYTES_TARGET if count == 200 else None,
            )
        )
        rows.append(
            Row(
                bench=f"LangGraph MessagesState, {count} turns: ms per turn",
                backend=backend.name,
                ours=f"{ours * 1e3:.1f} ms",
                baseline=f"InMemorySaver {theirs * 1e3:.2f} ms",
                ratio=ours / theirs,
            )
        )
        if requests:
            rows.append(
                Row(
                    bench=f"LangGraph MessagesState, {count} turns: requests per turn",
                    backend=backend.name,
                    ours=f"{max(requests)} (last 5 turns: {requests})",
                    target=f"≤ {_REQUESTS_TARGET}",
                    met=max(requests) <= _REQUESTS_TARGET,
                )
            )
    if 50 in sizes and 200 in sizes:
        growth = sizes[200] / sizes[50]
        rows.append(
            Row(
                bench="LangGraph MessagesState: bytes at 200 turns ÷ at 50",
                backend=backend.name,
                ours=f"{growth:.1f}×",
                target=f"≤ {_GROWTH_TARGET:.0f}×",
                met=growth <= _GROWTH_TARGET,
                note="4× is linear, 16× quadratic",
            )
        )
    return rows
