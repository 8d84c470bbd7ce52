"""Strands, LangChain and LlamaIndex histories on a bad network: each change applied once.

As in test_lost_replies_agents.py: the fault proxy drops the replies of a seeded share
of writes after the server applied them, the client resends, and at the end a fresh
storage must hold what the framework's own reference backend (which saw no fault) holds
after the same calls. A message stored twice, a pop that removed two, or a write wrongly
reported as a conflict fails these tests. Run with ``-s`` to see the figures.

The obstore lanes only: what is tested here is the integrations' use of the event log
and conditional writes, which is the same on every engine; the fsspec clients' resends
(seconds of backoff each) are covered by tests/backends/test_lost_replies.py and
test_lost_replies_agents.py.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from session_storage import SessionStorage, SyncSessionStorage

from ..backends.test_lost_replies import LANES as ALL_LANES
from ..backends.test_lost_replies import LOSS, WRITES
from ..support.cloud import FaultyStorageFactory

LANES = [lane for lane in ALL_LANES if lane.values[1] == "obstore"]


def _fresh(storage: SessionStorage) -> SyncSessionStorage:
    """Another storage on the same root: reads what is stored, not a cache."""
    return SyncSessionStorage.from_settings(storage.settings)


@pytest.mark.parametrize(("backend", "engine"), LANES)
def test_strands_repository_with_lost_replies(
    make_faulty_storage: FaultyStorageFactory, backend: str, engine: str, tmp_path: Path
) -> None:
    from strands.session.file_session_manager import FileSessionManager
    from strands.types.session import Session, SessionAgent, SessionMessage, SessionType

    from session_storage.integrations.strands import StorageSessionRepository

    storage, proxy = make_faulty_storage(backend, seed=21, engine=engine)
    proxy.inject("drop_reply", methods=WRITES, probability=LOSS)
    reference = FileSessionManager("boot", str(tmp_path))
    with SyncSessionStorage.wrap(storage) as sync:
        ours = StorageSessionRepository(sync)
        for repository in (ours, reference):
            repository.create_session(Session("s", SessionType.AGENT, created_at="c"))
            repository.create_agent("s", SessionAgent("a", {}, {}, created_at="c"))
        for n in range(24):
            message = SessionMessage(
                {"role": "user", "content": [{"text": f"m{n}"}]}, n, created_at="c", updated_at="u"
            )
            for repository in (ours, reference):
                repository.create_message("s", "a", copy.deepcopy(message))
            if n % 6 == 5:  # a redaction of the latest message
                message.redact_message = {"role": "user", "content": [{"text": "[redacted]"}]}
                for repository in (ours, reference):
                    repository.update_message("s", "a", copy.deepcopy(message))
        proxy.clear()
    with _fresh(storage) as reader:
        stored = [m.to_dict() for m in StorageSessionRepository(reader).list_messages("s", "a")]
    expected = [m.to_dict() for m in reference.list_messages("s", "a")]
    print(f"\n{backend}/{engine}: {proxy.applied['drop_reply']} replies lost")
    assert proxy.applied["drop_reply"] >= 3
    assert stored == expected


@pytest.mark.parametrize(("backend", "engine"), LANES)
@pytest.mark.filterwarnings("ignore::langchain_core._api.LangChainDeprecationWarning")
def test_langchain_history_with_lost_replies(
    make_faulty_storage: FaultyStorageFactory, backend: str, engine: str
) -> None:
    from langchain_core.chat_history import InMemoryChatMessageHistory
    from langchain_core.messages import AIMessage, HumanMessage

    from session_storage.integrations.langchain import StorageChatMessageHistory

    storage, proxy = make_faulty_storage(backend, seed=22, engine=engine)
    proxy.inject("drop_reply", methods=WRITES, probability=LOSS)
    reference = InMemoryChatMessageHistory()
    with SyncSessionStorage.wrap(storage) as sync:
        ours = StorageChatMessageHistory("chat", sync)
        for turn in range(16):
            turn_messages: list[Any] = [
                HumanMessage(f"question {turn}", id=f"q{turn}"),
                AIMessage(f"answer {turn}", id=f"a{turn}"),
            ]
            ours.add_messages(turn_messages)
            reference.add_messages(turn_messages)
            if turn == 9:
                ours.clear()
                reference.clear()
        proxy.clear()
    with _fresh(storage) as reader:
        stored = StorageChatMessageHistory("chat", reader).messages
    print(f"\n{backend}/{engine}: {proxy.applied['drop_reply']} replies lost")
    assert proxy.applied["drop_reply"] >= 3
    assert stored == reference.messages


@pytest.mark.parametrize(("backend", "engine"), LANES)
def test_llama_index_chat_store_with_lost_replies(
    make_faulty_storage: FaultyStorageFactory, backend: str, engine: str
) -> None:
    from llama_index.core.llms import ChatMessage
    from llama_index.core.storage.chat_store import SimpleChatStore

    from session_storage.integrations.llama_index import StorageChatStore

    storage, proxy = make_faulty_storage(backend, seed=23, engine=engine)
    proxy.inject("drop_reply", methods=WRITES, probability=LOSS)
    reference = SimpleChatStore()
    with SyncSessionStorage.wrap(storage) as sync:
        ours = StorageChatStore(sync)
        for n in range(20):
            message = ChatMessage(role="user", content=f"m{n}")
            ours.add_message("chat", message)
            reference.add_message("chat", message.model_copy())
            if n % 5 == 4:
                assert ours.delete_last_message("chat") == reference.delete_last_message("chat")
            if n % 7 == 6:
                assert ours.delete_message("chat", 1) == reference.delete_message("chat", 1)
        proxy.clear()
    with _fresh(storage) as reader:
        stored = StorageChatStore(reader).get_messages("chat")
    print(f"\n{backend}/{engine}: {proxy.applied['drop_reply']} replies lost")
    assert proxy.applied["drop_reply"] >= 3
    assert stored == reference.get_messages("chat")
