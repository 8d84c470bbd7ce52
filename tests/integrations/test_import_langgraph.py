"""``import langgraph-sqlite``: a SqliteSaver database, written by a graph run on LangGraph's
own saver (a subgraph's namespace, an interrupt's pending writes), read back through
StorageSaver checkpoint for checkpoint; the imported threads resume as they would
on SQLite; an interrupted import resumes writing only the missing checkpoints."""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from session_storage import SyncSessionStorage
from session_storage.admin.importing import ImportResult, run_import
from session_storage.integrations.importers import open_importer
from session_storage.integrations.langgraph import StorageSaver

THREADS = ["t-1", "t/2", "t-3"]


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    answer: str


def _inner(state: State) -> State:
    return {"log": ["inner"]}


def _ask(state: State) -> State:
    return {"answer": interrupt("question?")}


def graph(checkpointer: BaseCheckpointSaver[Any]) -> Any:
    sub = StateGraph(State)
    sub.add_node("inner", _inner)
    sub.add_edge(START, "inner")
    sub.add_edge("inner", END)
    builder = StateGraph(State)
    builder.add_node("first", lambda state: {"log": ["first"]})
    builder.add_node("sub", sub.compile())
    builder.add_node("ask", _ask)
    builder.add_edge(START, "first")
    builder.add_edge("first", "sub")
    builder.add_edge("sub", "ask")
    builder.add_edge("ask", END)
    return builder.compile(checkpointer=checkpointer)


def config(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}}


@pytest.fixture
def source(tmp_path: Path) -> Iterator[tuple[Path, SqliteSaver]]:
    """The database: three threads, two answered, one left at its interrupt."""
    path = tmp_path / "checkpoints.sqlite"
    connection = sqlite3.connect(path, check_same_thread=False)
    saver = SqliteSaver(connection)
    app = graph(saver)
    for thread_id in THREADS:
        app.invoke({"log": [thread_id]}, config(thread_id))
    for thread_id in THREADS[:2]:
        app.invoke(Command(resume=f"answer {thread_id}"), config(thread_id))
    yield path, saver
    connection.close()


def every_checkpoint(saver: BaseCheckpointSaver[Any]) -> list[CheckpointTuple]:
    found = [t for thread_id in THREADS for t in saver.list(config(thread_id))]
    return sorted(found, key=lambda t: tuple(t.config["configurable"].values()))


def run(path: Path, storage: SyncSessionStorage, **kwargs: Any) -> ImportResult:
    async def go() -> ImportResult:
        importer = open_importer("langgraph-sqlite", str(path), storage.async_storage)
        try:
            return await run_import(importer, **kwargs)
        finally:
            await importer.aclose()

    return storage.run(go())


def test_every_checkpoint_and_write_reads_back_as_sqlite_saver_gives_it(
    tmp_path: Path, source: tuple[Path, SqliteSaver]
) -> None:
    path, theirs = source
    expected = every_checkpoint(theirs)
    assert any(t.config["configurable"]["checkpoint_ns"] for t in expected)  # the subgraph's
    assert any(t.pending_writes for t in expected)  # the interrupt's
    with SyncSessionStorage(tmp_path / "store") as storage:
        result = run(path, storage)
        assert (result.sessions, result.items) == (3, len(expected))
        assert (result.imported_items, result.complete) == (len(expected), 0)
        ours = StorageSaver(storage)
        assert every_checkpoint(ours) == expected
        for thread_id in THREADS:
            assert graph(ours).get_state(config(thread_id)) == graph(theirs).get_state(
                config(thread_id)
            )
        # The waiting thread carries on from where SQLite left it.
        resumed = graph(ours).invoke(Command(resume="late"), config("t-3"))
        assert resumed == graph(theirs).invoke(Command(resume="late"), config("t-3"))
        assert resumed["answer"] == "late"


def test_an_interrupted_import_writes_only_the_missing_checkpoints(
    tmp_path: Path, source: tuple[Path, SqliteSaver]
) -> None:
    path, theirs = source
    expected = every_checkpoint(theirs)
    with SyncSessionStorage(tmp_path / "store") as storage:
        assert run(path, storage).imported_items == len(expected)
        # As if stopped: one checkpoint whose writes were stored but not itself, and a
        # thread never reached.
        namespace = storage.narrow("threads", "t-1", "ns-")
        folders = namespace.list_sessions()
        namespace.delete_session(folders[0], "checkpoint")
        storage.narrow("threads").delete_session("t/2")
        t2 = sum(t.config["configurable"]["thread_id"] == "t/2" for t in expected)
        dry = run(path, storage, dry_run=True)
        assert (dry.imported_sessions, dry.imported_items, dry.complete) == (2, 1 + t2, 1)
        result = run(path, storage)
        assert (result.imported_sessions, result.imported_items, result.complete) == (2, 1 + t2, 1)
        assert every_checkpoint(StorageSaver(storage)) == expected
        assert run(path, storage).complete == 3


def test_a_dry_run_counts_and_writes_nothing(
    tmp_path: Path, source: tuple[Path, SqliteSaver]
) -> None:
    path, theirs = source
    with SyncSessionStorage(tmp_path / "store") as storage:
        result = run(path, storage, dry_run=True)
        assert result.imported_items == len(every_checkpoint(theirs))
        assert storage.list_sessions() == []
