"""Strands Agents sessions on every backend, held against Strands' own FileSessionManager.

The repository is driven call for call beside ``FileSessionManager`` (itself a
``SessionRepository``) and must return and raise the same; an Agent with a scripted model
(tests/support/strands_model.py, no LLM) plays a chat with a tool call on both managers
and must leave and restore the same history. Plus: the refusal of a plain
SessionStorage, two writers on one session, and the requests a listing and a redaction
cost on S3, counted at the server (``-s`` prints them).
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from strands import Agent, tool
from strands.multiagent.graph import GraphBuilder
from strands.session.file_session_manager import FileSessionManager
from strands.session.session_repository import SessionRepository
from strands.types.exceptions import SessionException
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType

from session_storage import (
    CorruptDataError,
    InvalidArgumentError,
    MissingDependencyError,
    SessionStorage,
    SyncSessionStorage,
)
from session_storage.integrations.strands import StorageSessionManager, StorageSessionRepository

from ..support.cloud import RequestLog
from ..support.strands_model import ScriptedModel, ToolCall
from ..support.writers import at_once, two_storages


@pytest.fixture
def sync_storage(make_any_storage: Callable[[], SessionStorage]) -> Iterator[SyncSessionStorage]:
    with SyncSessionStorage.wrap(make_any_storage()) as storage:
        yield storage


def _plain(value: Any) -> Any:
    """Results as comparable values: the dataclasses as their dicts."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, (Session, SessionAgent, SessionMessage)):
        return value.to_dict()
    return value


class Both:
    """Runs each step on our repository and on FileSessionManager; they must agree."""

    def __init__(self, ours: SessionRepository, theirs: SessionRepository) -> None:
        self.ours, self.theirs = ours, theirs

    def __call__(self, step: Callable[[SessionRepository], Any]) -> Any:
        got = _outcome(step, self.ours)
        expected = _outcome(step, self.theirs)
        assert got == expected
        return got

    def fails(self, step: Callable[[SessionRepository], Any], error: type[Exception]) -> None:
        assert self(step)[0] is error


def _outcome(step: Callable[[SessionRepository], Any], repository: SessionRepository) -> Any:
    try:
        return ("ok", _plain(step(repository)))
    except Exception as error:  # the type is what must match
        return (type(error), None)


class Team:
    """A multi-agent as the repository sees one: an id and its serialized state."""

    def __init__(self, id: str, state: dict[str, Any]) -> None:
        self.id, self.state = id, state

    def serialize_state(self) -> dict[str, Any]:
        return copy.deepcopy(self.state)


IMAGE = b"\x89PNG\r\n\x1a\n\x00\xff"


def _message(n: int, text: str) -> SessionMessage:
    content: list[Any] = [{"text": text}]
    if n == 1:
        content.append({"image": {"format": "png", "source": {"bytes": IMAGE}}})
    role = "user" if n % 2 == 0 else "assistant"
    return SessionMessage(
        {"role": role, "content": content}, n, created_at=f"t{n}", updated_at=f"u{n}"
    )


def test_repository_call_for_call_as_file_session_manager(
    sync_storage: SyncSessionStorage, tmp_path: Path
) -> None:
    both = Both(StorageSessionRepository(sync_storage), FileSessionManager("boot", str(tmp_path)))
    created = Session("s", SessionType.AGENT, created_at="c", updated_at="u")
    both(lambda r: r.read_session("s"))
    both(lambda r: r.create_session(copy.deepcopy(created)))
    both.fails(lambda r: r.create_session(copy.deepcopy(created)), SessionException)
    assert both(lambda r: r.read_session("s"))[1]["session_id"] == "s"
    both.fails(lambda r: r.read_session("a/b"), ValueError)

    agent = SessionAgent("a", {"k": "☃", "raw": b"\x00\x01"}, {"removed_message_count": 0})
    agent.created_at = "first"
    both(lambda r: r.read_agent("s", "a"))
    both.fails(lambda r: r.list_messages("s", "a"), SessionException)
    both.fails(lambda r: r.update_agent("s", copy.deepcopy(agent)), SessionException)
    both(lambda r: r.create_agent("s", copy.deepcopy(agent)))
    stored = both(lambda r: r.read_agent("s", "a"))[1]
    assert SessionAgent.from_dict(stored).state["raw"] == b"\x00\x01"  # bytes as bytes
    assert both(lambda r: r.list_messages("s", "a")) == ("ok", [])
    changed = copy.deepcopy(agent)
    changed.state, changed.created_at = {"k": 2}, "later"
    both(lambda r: r.update_agent("s", copy.deepcopy(changed)))
    stored = both(lambda r: r.read_agent("s", "a"))[1]
    assert stored["created_at"] == "first" and stored["state"] == {"k": 2}

    for n in range(6):
        both(lambda r, n=n: r.create_message("s", "a", _message(n, f"m{n} ☃")))
    restored = both(lambda r: r.read_message("s", "a", 1))[1]
    assert SessionMessage.from_dict(restored).message["content"][1]["image"]["source"] == {
        "bytes": IMAGE
    }
    both(lambda r: r.read_message("s", "a", 99))
    both.fails(lambda r: r.read_message("s", "a", "1"), ValueError)  # type: ignore[arg-type]
    both.fails(lambda r: r.update_message("s", "a", _message(99, "x")), SessionException)
    redacted = _message(2, "m2")
    redacted.redact_message, redacted.created_at = {"role": "user", "content": []}, "new"
    both(lambda r: r.update_message("s", "a", copy.deepcopy(redacted)))
    again = both(lambda r: r.read_message("s", "a", 2))[1]
    assert again["created_at"] == "t2" and again["redact_message"] == redacted.redact_message
    both(lambda r: r.create_message("s", "a", _message(4, "replaced")))  # same id: replaced
    for limit, offset in [(None, 0), (2, 1), (None, 3), (10, 4), (0, 0), (3, 9)]:
        listed = both(lambda r, o=offset, n=limit: r.list_messages("s", "a", limit=n, offset=o))
        assert [m["message_id"] for m in listed[1]] == list(range(6))[offset:][:limit]
    assert both(lambda r: r.list_messages("s", "a"))[1][4]["message"]["content"] == [
        {"text": "replaced"}
    ]

    team = Team("team", {"nodes": ["a", "b"], "blob": "x"})
    both(lambda r: r.read_multi_agent("s", "team"))
    both.fails(lambda r: r.update_multi_agent("s", team), SessionException)  # type: ignore[arg-type]
    both(lambda r: r.create_multi_agent("s", team))  # type: ignore[arg-type]
    team.state = {"_metadata": "theirs too", "nodes": []}
    both(lambda r: r.update_multi_agent("s", team))  # type: ignore[arg-type]
    assert both(lambda r: r.read_multi_agent("s", "team"))[1] == team.state

    both.fails(lambda r: r.delete_session("nobody"), SessionException)  # type: ignore[attr-defined]
    both(lambda r: r.delete_session("s"))  # type: ignore[attr-defined]
    assert both(lambda r: r.read_session("s")) == ("ok", None)


@tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _chat(manager: Any) -> tuple[Agent, ScriptedModel]:
    model = ScriptedModel([ToolCall("weather", {"city": "Zürich"}), "Sunny.", "Bye ☃"])
    agent = Agent(
        model=model, session_manager=manager, tools=[weather], agent_id="a", callback_handler=None
    )
    agent("Weather in Zürich?")
    agent("Thanks")
    return agent, model


def _untracked(messages: list[Any]) -> list[Any]:
    # Each message gets a fresh random tracking_id; everything else must match.
    return [{k: v for k, v in m.items() if k != "tracking_id"} for m in messages]


def test_agent_chat_stores_and_restores_as_file_session_manager(
    sync_storage: SyncSessionStorage, tmp_path: Path
) -> None:
    ours, our_model = _chat(StorageSessionManager("chat", sync_storage))
    theirs, their_model = _chat(FileSessionManager("chat", str(tmp_path)))
    assert len(ours.messages) == 6
    assert _untracked(ours.messages) == _untracked(theirs.messages)
    assert [_untracked(seen) for seen in our_model.seen] == [
        _untracked(seen) for seen in their_model.seen
    ]
    # A guardrail's redaction of the latest message, then a new process restoring both.
    redaction = {"role": "assistant", "content": [{"text": "[redacted]"}]}
    for agent, manager in ((ours, ours._session_manager), (theirs, theirs._session_manager)):
        manager.redact_latest_message(copy.deepcopy(redaction), agent)  # type: ignore[union-attr]
    restored = Agent(
        model=ScriptedModel([]),
        session_manager=StorageSessionManager("chat", sync_storage),
        agent_id="a",
        callback_handler=None,
    )
    reference = Agent(
        model=ScriptedModel([]),
        session_manager=FileSessionManager("chat", str(tmp_path)),
        agent_id="a",
        callback_handler=None,
    )
    assert _untracked(restored.messages) == _untracked(reference.messages)
    assert restored.messages[-1]["content"] == [{"text": "[redacted]"}]
    assert restored.messages[:-1] == ours.messages[:-1]


def _timeless(value: Any) -> Any:
    """``value`` without the fields that differ run to run: times, random tracking ids."""
    if isinstance(value, dict):
        timed = {"execution_time", "latencyMs", "timeToFirstByteMs", "tracking_id"}
        return {k: _timeless(v) for k, v in value.items() if k not in timed}
    if isinstance(value, list):
        return [_timeless(item) for item in value]
    return value


def _graph_run(manager: Any) -> Any:
    writer = Agent(model=ScriptedModel(["draft"]), agent_id="writer", callback_handler=None)
    editor = Agent(model=ScriptedModel(["edited ☃"]), agent_id="editor", callback_handler=None)
    builder = GraphBuilder()
    builder.add_node(writer, "writer")
    builder.add_node(editor, "editor")
    builder.add_edge("writer", "editor")
    builder.set_entry_point("writer")
    builder.set_max_node_executions(4)
    builder.set_session_manager(manager)
    graph = builder.build()
    assert graph("write a poem").status.value == "completed"
    return graph.id


def test_multi_agent_graph_state_as_file_session_manager(
    sync_storage: SyncSessionStorage, tmp_path: Path
) -> None:
    graph_id = _graph_run(StorageSessionManager("g", sync_storage))
    assert _graph_run(FileSessionManager("g", str(tmp_path))) == graph_id
    ours = StorageSessionRepository(sync_storage).read_multi_agent("g", graph_id)
    theirs = FileSessionManager("g", str(tmp_path)).read_multi_agent("g", graph_id)
    assert ours is not None and ours["status"] == "completed"
    assert _timeless(ours) == _timeless(theirs)


def test_agent_invoked_from_async_code_on_a_sync_storage() -> None:
    # The repository blocks the caller's loop while the storage's own loop thread works.
    with SyncSessionStorage("memory://strands-async") as storage:
        agent = Agent(
            model=ScriptedModel(["one", "two"]),
            session_manager=StorageSessionManager("s", storage),
            agent_id="a",
            callback_handler=None,
        )

        async def chat() -> None:
            await agent.invoke_async("hi")
            await agent.invoke_async("again")

        asyncio.run(chat())
        stored = StorageSessionRepository(storage).list_messages("s", "a")
    assert [m.message["content"] for m in stored] == [
        [{"text": t}] for t in ("hi", "one", "again", "two")
    ]


async def test_a_plain_session_storage_is_refused_naming_the_fix() -> None:
    async with SessionStorage("memory://strands-plain") as storage:
        with pytest.raises(InvalidArgumentError, match=r"SyncSessionStorage\.wrap"):
            StorageSessionRepository(storage)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="SyncSessionStorage"):
            StorageSessionManager("s", storage)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="got dict"):
        StorageSessionRepository({})  # type: ignore[arg-type]


def test_import_without_strands_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "strands", None)
    monkeypatch.delitem(sys.modules, "session_storage.integrations.strands")
    with pytest.raises(MissingDependencyError, match=r"session-storage\[strands\]"):
        importlib.import_module("session_storage.integrations.strands")


@pytest.mark.parametrize("backend", ["file", "s3"])
def test_two_writers_on_one_session_lose_nothing(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two storages of one root, as two processes, each adding messages of two agents
    (one shared) at once: every message lands."""
    with two_storages(backend, tmp_path, request) as (first, second):
        StorageSessionRepository(first).create_session(Session("s", SessionType.AGENT))
        for agent_id in ("shared", "one", "two"):
            StorageSessionRepository(first).create_agent("s", SessionAgent(agent_id, {}, {}))

        def write(storage: SyncSessionStorage, own: str, ids: range) -> None:
            repository = StorageSessionRepository(storage)
            for n in ids:
                repository.create_message("s", "shared", _message(n, f"shared {n}"))
                repository.create_message("s", own, _message(n, f"{own} {n}"))

        at_once(
            lambda: write(first, "one", range(0, 8)), lambda: write(second, "two", range(8, 16))
        )
        reader = StorageSessionRepository(second)
        shared = reader.list_messages("s", "shared")
        assert [m.message_id for m in shared] == list(range(16))
        assert [m.message_id for m in reader.list_messages("s", "one")] == list(range(8))
        assert [m.message_id for m in reader.list_messages("s", "two")] == list(range(8, 16))


def test_requests_on_s3(
    make_s3_storage: Callable[..., SessionStorage], s3_requests: RequestLog
) -> None:
    figures: dict[str, int] = {}
    with SyncSessionStorage.wrap(make_s3_storage()) as writer:
        repository = StorageSessionRepository(writer)
        repository.create_session(Session("s", SessionType.AGENT))
        repository.create_agent("s", SessionAgent("a", {}, {}))
        s3_requests.take()
        repository.create_message("s", "a", _message(0, "first"))
        figures["create_message"] = len(s3_requests.take())
        # The other 199 as create_message writes them, in one append (a quicker test).
        rest = [_message(n, f"message {n}").to_dict() for n in range(1, 200)]
        writer.append_events("s", "strands/agents/a/messages", rest)
        with SyncSessionStorage.from_settings(writer.settings) as cold:
            cold.load_session("warm-up")  # open the client outside the count
            reader = StorageSessionRepository(cold)
            s3_requests.take()
            listed = reader.list_messages("s", "a")
            figures["list_messages of 200, cold"] = len(s3_requests.take())
            assert [m.message_id for m in listed] == list(range(200))
            page = reader.list_messages("s", "a", limit=20, offset=150)
            figures["list_messages limit=20 offset=150"] = len(s3_requests.take())
            assert [m.message_id for m in page] == list(range(150, 170))
            assert reader.read_message("s", "a", 123) == listed[123]
            figures["read_message"] = len(s3_requests.take())
            redacted = listed[199]
            redacted.redact_message = {"role": "assistant", "content": [{"text": "[redacted]"}]}
            reader.update_message("s", "a", redacted)
            requests = s3_requests.take()
            figures["update_message (redaction) of 200"] = len(requests)
            writes = [target for method, target in requests if method in ("PUT", "POST")]
            assert len(writes) == 1 and "tail.json" in writes[0]  # sealed segments untouched
            reader.read_agent("s", "a")
            figures["read_agent"] = len(s3_requests.take())
            reader.update_agent("s", SessionAgent("a", {"k": 1}, {}))
            figures["update_agent"] = len(s3_requests.take())
    print("\nStorageSessionRepository requests on S3 (moto), counted at the server:")
    for name, n in figures.items():
        print(f"  {name:40s} {n}")
    assert figures["list_messages of 200, cold"] <= 5
    assert figures["list_messages limit=20 offset=150"] <= 5
    assert figures["read_message"] <= 5
    assert figures["update_message (redaction) of 200"] <= 7
    assert figures["create_message"] <= 3
    assert figures["read_agent"] == 1 and figures["update_agent"] <= 2


def test_damaged_documents_are_reported_naming_session_and_file() -> None:
    with SyncSessionStorage("memory://strands-corrupt") as storage:
        repository = StorageSessionRepository(storage)
        storage.store_session("s", {"not": "a session"}, "strands/session.json")
        with pytest.raises(CorruptDataError, match=r"session 's' file 'strands/session\.json'"):
            repository.read_session("s")
        storage.append_event("s", "strands/agents/a/messages", {"message_id": "x"})
        with pytest.raises(CorruptDataError, match="strands/agents/a/messages") as caught:
            repository.list_messages("s", "a")
        assert caught.value.session_id == "s" and caught.value.backend == "memory"
