"""LangChain chat histories on every backend, held against InMemoryChatMessageHistory.

The history is driven call for call beside langchain-core's ``InMemoryChatMessageHistory``
(sync methods on a SyncSessionStorage, async ones on either storage) and must give the
same messages: types, ids, ``additional_kwargs``, tool calls. ``RunnableWithMessageHistory``
runs a fake chat model (no network) over both, sync and async. Both LangChain classes are
deprecated since langchain-core 1.6.4: their warnings are expected here, and checked once
(``test_deprecations_are_langchains_own``). Plus: two writers, and requests on S3.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.chat_history import BaseChatMessageHistory, InMemoryChatMessageHistory
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from session_storage import (
    CorruptDataError,
    InvalidArgumentError,
    MissingDependencyError,
    SessionStorage,
    SyncSessionStorage,
)
from session_storage.integrations.langchain import STREAM, StorageChatMessageHistory

from ..support.cloud import RequestLog
from ..support.writers import at_once, two_storages

# The reference and the runnable are deprecated; their warnings are LangChain's, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::langchain_core._api.LangChainDeprecationWarning")

MESSAGES: list[BaseMessage] = [
    SystemMessage("You are terse."),
    HumanMessage("Weather in Zürich? ☃", id="h-1", additional_kwargs={"lang": ["de", 1]}),
    AIMessage(
        "",
        id="ai-1",
        tool_calls=[{"name": "weather", "args": {"city": "Zürich"}, "id": "call-1"}],
        response_metadata={"model": "fake", "tokens": 3},
        usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
    ),
    ToolMessage('{"sky": "clear"}', tool_call_id="call-1", name="weather"),
    AIMessage("Sunny.", id="ai-2", name="bot"),
]


@pytest.fixture
def sync_storage(make_any_storage: Callable[[], SessionStorage]) -> Iterator[SyncSessionStorage]:
    with SyncSessionStorage.wrap(make_any_storage()) as storage:
        yield storage


@pytest.fixture
async def storage(make_any_storage: Callable[[], SessionStorage]) -> AsyncIterator[SessionStorage]:
    async with make_any_storage() as storage:
        yield storage


def _same(got: list[BaseMessage], expected: list[BaseMessage]) -> None:
    assert got == expected
    assert [type(m) for m in got] == [type(m) for m in expected]


def test_sync_methods_as_in_memory(sync_storage: SyncSessionStorage) -> None:
    ours, theirs = StorageChatMessageHistory("chat", sync_storage), InMemoryChatMessageHistory()
    for history in (ours, theirs):
        assert history.messages == []
        history.add_messages(MESSAGES[:2])
        history.add_message(MESSAGES[2])
        history.add_messages([])
        history.add_user_message("and Bern?")
        history.add_ai_message("Rain.")
    _same(ours.messages, theirs.messages)
    assert ours.messages[2].tool_calls == MESSAGES[2].tool_calls  # type: ignore[attr-defined]
    assert str(ours) == str(theirs)
    ours.clear()
    theirs.clear()
    _same(ours.messages, theirs.messages)
    ours.add_messages(MESSAGES[3:])
    theirs.add_messages(MESSAGES[3:])
    _same(StorageChatMessageHistory("chat", sync_storage).messages, theirs.messages)


async def test_async_methods_as_in_memory(storage: SessionStorage) -> None:
    ours, theirs = StorageChatMessageHistory("chat", storage), InMemoryChatMessageHistory()
    for history in (ours, theirs):
        assert await history.aget_messages() == []
        await history.aadd_messages(MESSAGES)
        await history.aadd_messages([HumanMessage("more")])
    _same(await ours.aget_messages(), await theirs.aget_messages())
    await ours.aclear()
    await theirs.aclear()
    _same(await ours.aget_messages(), await theirs.aget_messages())


async def test_async_methods_on_a_sync_storage_and_blocking_ones_refused_on_async() -> None:
    with SyncSessionStorage(f"memory://lc-{id(object())}") as sync:
        history = StorageChatMessageHistory("chat", sync)
        await history.aadd_messages(MESSAGES)  # runs on the storage's loop thread
        _same(await history.aget_messages(), MESSAGES)
        await history.aclear()
        assert await history.aget_messages() == []
    async with SessionStorage(f"memory://lc-{id(object())}") as storage:
        history = StorageChatMessageHistory("chat", storage)
        with pytest.raises(InvalidArgumentError, match="use aget_messages"):
            _ = history.messages
        with pytest.raises(InvalidArgumentError, match="use aadd_messages"):
            history.add_messages(MESSAGES)
        with pytest.raises(InvalidArgumentError, match=r"SyncSessionStorage\.wrap"):
            history.clear()
        with pytest.raises(InvalidArgumentError, match="BaseMessage"):
            await history.aadd_messages(["a plain string"])  # type: ignore[list-item]
        assert await storage.list_files("chat") == []
        with pytest.raises(InvalidArgumentError, match="got dict"):
            StorageChatMessageHistory("chat", {})  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="non-empty"):
            StorageChatMessageHistory("", storage)


async def test_history_is_one_stream_and_clear_keeps_the_rest() -> None:
    async with SessionStorage(f"memory://lc-{id(object())}") as storage:
        await storage.store_session("chat", {"other": 1})
        history = StorageChatMessageHistory("chat", storage)
        await history.aadd_messages(MESSAGES)
        assert await storage.event_count("chat", STREAM) == len(MESSAGES)
        await history.aclear()
        assert await storage.event_count("chat", STREAM) == 0
        assert (await storage.load_session("chat"))["other"] == 1  # type: ignore[index]


def test_import_without_langchain_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langchain_core", None)
    monkeypatch.delitem(sys.modules, "session_storage.integrations.langchain")
    with pytest.raises(MissingDependencyError, match=r"session-storage\[langchain\]"):
        importlib.import_module("session_storage.integrations.langchain")


def test_deprecations_are_langchains_own() -> None:
    """Our subclass warns of nothing itself; the classes LangChain deprecated do, and
    their message names what LangChain recommends instead (see README)."""
    with warnings.catch_warnings(), SyncSessionStorage("memory://lc-warn") as storage:
        warnings.simplefilter("error")
        StorageChatMessageHistory("s", storage)
    # LangChain warns once a process, so the text is read where it keeps it.
    assert "1.6.4" in (BaseChatMessageHistory.__doc__ or "")
    assert "short-term-memory" in (BaseChatMessageHistory.__doc__ or "")
    assert "removed in langchain-core==2.0.0" in (BaseChatMessageHistory.__doc__ or "")


# -- RunnableWithMessageHistory ------------------------------------------------------


def _replies() -> list[AIMessage]:
    return [
        AIMessage("Hello!", id="r-1"),
        AIMessage("", id="r-2", tool_calls=[{"name": "f", "args": {"x": 1}, "id": "c-9"}]),
        AIMessage("Bye ☃", id="r-3"),
    ]


def _chain(history: Callable[[str], BaseChatMessageHistory]) -> RunnableWithMessageHistory:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Be brief."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    model = GenericFakeChatModel(messages=iter(_replies()))
    return RunnableWithMessageHistory(
        prompt | model,  # type: ignore[arg-type]
        history,
        input_messages_key="question",
        history_messages_key="history",
    )


def test_runnable_with_message_history_sync_and_async_as_in_memory(
    sync_storage: SyncSessionStorage,
) -> None:
    references: dict[str, InMemoryChatMessageHistory] = {}
    ours = _chain(lambda session_id: StorageChatMessageHistory(session_id, sync_storage))
    theirs = _chain(
        lambda session_id: references.setdefault(session_id, InMemoryChatMessageHistory())
    )
    config: Any = {"configurable": {"session_id": "t"}}
    for chain in (ours, theirs):
        assert chain.invoke({"question": "hi"}, config).content == "Hello!"

    async def turns(chain: RunnableWithMessageHistory) -> list[Any]:
        first = await chain.ainvoke({"question": "call f"}, config)
        second = await chain.ainvoke({"question": "bye"}, config)
        return [first.tool_calls, second.content]

    assert (
        asyncio.run(turns(ours))
        == asyncio.run(turns(theirs))
        == [
            [{"name": "f", "args": {"x": 1}, "id": "c-9", "type": "tool_call"}],
            "Bye ☃",
        ]
    )
    stored = StorageChatMessageHistory("t", sync_storage).messages
    _same(stored, references["t"].messages)
    assert [type(m).__name__ for m in stored] == ["HumanMessage", "AIMessage"] * 3


async def test_runnable_with_message_history_on_an_async_storage() -> None:
    async with SessionStorage(f"memory://lc-{id(object())}") as storage:
        chain = _chain(lambda session_id: StorageChatMessageHistory(session_id, storage))
        config: Any = {"configurable": {"session_id": "t"}}
        await chain.ainvoke({"question": "hi"}, config)
        await chain.ainvoke({"question": "call f"}, config)
        stored = await StorageChatMessageHistory("t", storage).aget_messages()
    assert [m.content for m in stored] == ["hi", "Hello!", "call f", ""]


# -- two writers, and requests on S3 ------------------------------------------------


@pytest.mark.parametrize("backend", ["file", "s3"])
def test_two_writers_on_one_history_lose_nothing(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with two_storages(backend, tmp_path, request) as (first, second):

        def write(storage: SyncSessionStorage, name: str) -> None:
            history = StorageChatMessageHistory("chat", storage)
            for n in range(8):
                history.add_messages([HumanMessage(f"{name} {n}"), AIMessage(f"to {name} {n}")])

        at_once(lambda: write(first, "a"), lambda: write(second, "b"))
        stored = [m.content for m in StorageChatMessageHistory("chat", first).messages]
    assert len(stored) == 32
    for name in ("a", "b"):
        # Each batch stays whole and in order: a question, then its answer.
        mine = [text for text in stored if isinstance(text, str) and name in text.split()]
        assert mine == [t for n in range(8) for t in (f"{name} {n}", f"to {name} {n}")]


def test_requests_on_s3(
    make_s3_storage: Callable[..., SessionStorage], s3_requests: RequestLog
) -> None:
    figures: dict[str, int] = {}
    with SyncSessionStorage.wrap(make_s3_storage()) as writer:
        history = StorageChatMessageHistory("chat", writer)
        history.add_messages([HumanMessage(f"m{n}") for n in range(198)])
        s3_requests.take()
        history.add_messages([HumanMessage("q"), AIMessage("a")])
        figures["add_messages (a turn)"] = len(s3_requests.take())
        with SyncSessionStorage.from_settings(writer.settings) as cold:
            cold.load_session("warm-up")  # open the client outside the count
            s3_requests.take()
            assert len(StorageChatMessageHistory("chat", cold).messages) == 200
            figures["messages of 200, cold"] = len(s3_requests.take())
        history.clear()
        figures["clear"] = len(s3_requests.take())
    print("\nStorageChatMessageHistory requests on S3 (moto), counted at the server:")
    for name, n in figures.items():
        print(f"  {name:30s} {n}")
    assert figures["add_messages (a turn)"] <= 2
    assert figures["messages of 200, cold"] <= 3
    assert figures["clear"] <= 3


async def test_a_damaged_history_is_reported_naming_session_and_stream() -> None:
    async with SessionStorage(f"memory://lc-{id(object())}") as storage:
        await storage.append_event("chat", STREAM, {"not": "a message"})
        with pytest.raises(CorruptDataError, match=r"session 'chat' file 'langchain'"):
            await StorageChatMessageHistory("chat", storage).aget_messages()
