"""LlamaIndex chat stores on every backend, held against SimpleChatStore.

``StorageChatStore`` is driven call for call beside llama-index-core's ``SimpleChatStore``
(the blocking methods on a SyncSessionStorage, the async ones on either storage) and must
return the same; ``ChatMemoryBuffer`` keeps a chat through it. Plus: two writers adding
to one key at once, the refusals, and the requests each call costs on S3.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.base.llms.types import ImageBlock, TextBlock
from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.storage.chat_store import SimpleChatStore
from llama_index.core.storage.chat_store.base import BaseChatStore

from session_storage import (
    CorruptDataError,
    InvalidArgumentError,
    MissingDependencyError,
    SessionStorage,
    SyncSessionStorage,
)
from session_storage.integrations.llama_index import FILENAME, NAMESPACE, StorageChatStore

from ..support.cloud import RequestLog
from ..support.writers import at_once, two_storages

MESSAGES = [
    ChatMessage(role=MessageRole.SYSTEM, content="Be brief."),
    ChatMessage(role=MessageRole.USER, content="Weather in Zürich? ☃"),
    ChatMessage(
        role=MessageRole.ASSISTANT,
        content="",
        additional_kwargs={"tool_calls": [{"id": "c1", "function": {"name": "weather"}}]},
    ),
    ChatMessage(role=MessageRole.TOOL, content="clear", additional_kwargs={"tool_call_id": "c1"}),
    ChatMessage(
        role=MessageRole.USER,
        blocks=[TextBlock(text="and this?"), ImageBlock(url="https://example.com/a.png")],
    ),
]


def _messages() -> list[ChatMessage]:
    # SimpleChatStore keeps the very list it is given (and changes it): give each its own.
    return copy.deepcopy(MESSAGES)


@pytest.fixture
def sync_storage(make_any_storage: Callable[[], SessionStorage]) -> Iterator[SyncSessionStorage]:
    with SyncSessionStorage.wrap(make_any_storage()) as storage:
        yield storage


@pytest.fixture
async def storage(make_any_storage: Callable[[], SessionStorage]) -> AsyncIterator[SessionStorage]:
    async with make_any_storage() as storage:
        yield storage


class Copies(list[Any]):
    """A list that keeps a deep copy of what is added: SimpleChatStore hands out its
    live lists, which its later calls change."""

    def __iadd__(self, items: Any) -> Copies:  # type: ignore[override,misc]
        self.extend(copy.deepcopy(list(items)))
        return self


def _steps(store: BaseChatStore) -> list[Any]:
    """Every method once or more, in an order that reaches each edge; what each gave."""
    extra = ChatMessage(role=MessageRole.USER, content="inserted")
    got = Copies()
    got += [store.get_messages("k"), store.get_keys()]
    store.set_messages("k", _messages())
    store.add_message("k", extra.model_copy())
    store.add_message("k2", extra.model_copy())
    store.add_message("k", extra.model_copy(update={"content": "first"}), idx=0)  # type: ignore[call-arg]
    got += [store.get_messages("k"), sorted(store.get_keys())]
    got += [
        store.delete_message("k", 1),
        store.delete_message("k", 99),
        store.delete_message("k", -1),
    ]
    got += [store.delete_message("none", 0), store.delete_last_message("none")]
    got += [store.delete_last_message("k"), store.get_messages("k")]
    got += [store.delete_messages("k2"), store.delete_messages("k2"), store.get_messages("k2")]
    store.set_messages("empty", [])
    got += [sorted(store.get_keys()), store.get_messages("empty")]
    try:
        store.delete_last_message("empty")
    except IndexError:
        got.append("IndexError")
    return got


def test_sync_methods_as_simple_chat_store(sync_storage: SyncSessionStorage) -> None:
    assert _steps(StorageChatStore(sync_storage)) == _steps(SimpleChatStore())


async def _async_steps(store: BaseChatStore) -> list[Any]:
    got = Copies()
    got += [await store.aget_messages("k"), await store.aget_keys()]
    await store.aset_messages("k", _messages())
    await store.async_add_message("k", ChatMessage(role=MessageRole.USER, content="more"))
    got += [await store.aget_messages("k"), await store.aget_keys()]
    got += [await store.adelete_message("k", 2), await store.adelete_last_message("k")]
    got += [await store.aget_messages("k"), await store.adelete_messages("k")]
    got += [await store.aget_messages("k"), await store.aget_keys()]
    return got


async def test_async_methods_as_simple_chat_store(storage: SessionStorage) -> None:
    assert await _async_steps(StorageChatStore(storage)) == await _async_steps(SimpleChatStore())


async def test_async_methods_on_a_sync_storage_and_blocking_ones_refused_on_async() -> None:
    with SyncSessionStorage(f"memory://li-{id(object())}") as sync:
        reference = await _async_steps(SimpleChatStore())
        assert await _async_steps(StorageChatStore(sync)) == reference
    async with SessionStorage(f"memory://li-{id(object())}") as storage:
        store = StorageChatStore(storage)
        with pytest.raises(InvalidArgumentError, match=r"get_messages blocks.*SyncSessionStorage"):
            store.get_messages("k")
        with pytest.raises(InvalidArgumentError, match="add_message blocks"):
            store.add_message("k", MESSAGES[0])
        assert await storage.list_sessions() == []
    with pytest.raises(InvalidArgumentError, match="got dict"):
        StorageChatStore({})  # type: ignore[arg-type]


def test_layout_namespace_and_chat_memory_buffer() -> None:
    with SyncSessionStorage(f"memory://li-{id(object())}") as storage:
        storage.store_session("not-a-chat", {"x": 1})
        store = StorageChatStore(storage)
        reference = SimpleChatStore()
        memories = [
            ChatMemoryBuffer.from_defaults(chat_store=s, chat_store_key="user-1", token_limit=4000)
            for s in (store, reference)
        ]
        for memory in memories:
            memory.put(ChatMessage(role=MessageRole.USER, content="hello"))
            memory.put(ChatMessage(role=MessageRole.ASSISTANT, content="hi ☃"))
            memory.set([*memory.get_all(), ChatMessage(role=MessageRole.USER, content="bye")])
        assert memories[0].get() == memories[1].get()
        assert memories[0].get_all() == memories[1].get_all()
        assert asyncio.run(memories[0].aget()) == memories[1].get()
        assert store.get_keys() == ["user-1"]  # the other session is not a key
        assert storage.list_sessions() == [NAMESPACE, "not-a-chat"]
        assert storage.narrow(NAMESPACE).list_files("user-1") == [FILENAME]
        restored = ChatMemoryBuffer.from_defaults(
            chat_store=StorageChatStore(storage), chat_store_key="user-1"
        )
        assert restored.get_all() == memories[1].get_all()
        everything = StorageChatStore(storage, namespace=None)
        assert sorted(everything.get_keys()) == [NAMESPACE, "not-a-chat"]


def test_import_without_llama_index_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_index.core", None)
    monkeypatch.delitem(sys.modules, "session_storage.integrations.llama_index")
    with pytest.raises(MissingDependencyError, match=r"session-storage\[llama-index\]"):
        importlib.import_module("session_storage.integrations.llama_index")


@pytest.mark.parametrize("backend", ["file", "s3"])
def test_two_writers_adding_to_one_key_lose_nothing(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with two_storages(backend, tmp_path, request) as (first, second):

        def write(storage: SyncSessionStorage, name: str) -> None:
            store = StorageChatStore(storage)
            for n in range(8):
                store.add_message("chat", ChatMessage(role=MessageRole.USER, content=f"{name} {n}"))

        at_once(lambda: write(first, "a"), lambda: write(second, "b"))
        stored = [m.content for m in StorageChatStore(first).get_messages("chat")]
    assert len(stored) == 16
    for name in ("a", "b"):
        assert [t for t in stored if t and t.startswith(name)] == [f"{name} {n}" for n in range(8)]


def test_requests_on_s3(
    make_s3_storage: Callable[..., SessionStorage], s3_requests: RequestLog
) -> None:
    figures: dict[str, int] = {}
    with SyncSessionStorage.wrap(make_s3_storage()) as storage:
        store = StorageChatStore(storage)
        store.set_messages("chat", [ChatMessage(content=f"m{n}") for n in range(99)])
        s3_requests.take()

        def count(name: str, result: Any) -> Any:
            figures[name] = len(s3_requests.take())
            return result

        count("add_message", store.add_message("chat", ChatMessage(content="new")))
        assert len(count("get_messages of 100", store.get_messages("chat"))) == 100
        count("set_messages", store.set_messages("chat", _messages()))
        count("delete_last_message", store.delete_last_message("chat"))
        count("get_keys", store.get_keys())
        count("delete_messages", store.delete_messages("chat"))
    print("\nStorageChatStore requests on S3 (moto), counted at the server:")
    for name, n in figures.items():
        print(f"  {name:22s} {n}")
    assert figures["get_messages of 100"] == 1 and figures["set_messages"] == 1
    assert figures["add_message"] <= 2 and figures["delete_last_message"] <= 2
    assert figures["get_keys"] == 1 and figures["delete_messages"] <= 3


async def test_a_damaged_file_is_reported_naming_key_and_file() -> None:
    async with SessionStorage(f"memory://li-{id(object())}") as storage:
        await storage.narrow(NAMESPACE).store_session("k", {"messages": "none"}, FILENAME)
        store = StorageChatStore(storage)
        with pytest.raises(CorruptDataError, match=r"session 'k' file 'messages\.json'"):
            await store.aget_messages("k")
        with pytest.raises(CorruptDataError, match="LlamaIndex chat messages"):
            await store.async_add_message("k", MESSAGES[0])
