"""Agent sessions on a bad network: replies of writes lost, and each change applied once.

The fault proxy of tests/backends/test_lost_replies.py drops the replies of a seeded share of
writes after the server applied them; the client resends. Here whole conversations
run through it: event-log batches that seal segments, pops and truncates, and the
three framework integrations, each compared at the end with what the same calls
leave on the framework's own reference backend (which never saw a fault). A change
applied twice (an item stored twice, a pop that removed two) or a write wrongly
reported as a conflict fails these tests. Run with ``-s`` to see the figures.
"""

from __future__ import annotations

from typing import Any

import pytest

from session_storage import SessionStorage, SyncSessionStorage

from ..backends.test_lost_replies import LANES, LOSS, WRITES
from ..support.cloud import FaultyStorageFactory


def _fresh(storage: SessionStorage) -> SessionStorage:
    """Another storage on the same root: reads what is stored, not a cache."""
    return SessionStorage.from_settings(storage.settings)


@pytest.mark.parametrize(("backend", "engine"), LANES)
async def test_batches_pops_and_truncates_apply_once(
    make_faulty_storage: FaultyStorageFactory, backend: str, engine: str
) -> None:
    storage, proxy = make_faulty_storage(backend, seed=11, engine=engine)
    proxy.inject("drop_reply", methods=WRITES, probability=LOSS)
    expected: list[str] = []
    async with storage:
        for batch in range(7):
            # 60 items a batch: the tail fills and seals a segment every few batches.
            items = [f"b{batch}-{i}" for i in range(60)]
            assert await storage.append_events("s", "log", items) == len(expected)
            expected.extend(items)
            if batch % 3 == 2:
                assert await storage.pop_events("s", "log", 2) == expected[-2:]
                del expected[-2:]
        assert await storage.truncate_events("s", "log", 250) == len(expected) - 250
        del expected[250:]
        assert await storage.append_event("s", "log", "last") == 250
        expected.append("last")
        proxy.clear()
        async with _fresh(storage) as reader:
            events = await reader.read_events("s", "log")
            count = await reader.event_count("s", "log")
    print(
        f"\n{backend}/{engine}: 7 batches, 2 pops, a truncate, an append; "
        f"{proxy.applied['drop_reply']} replies lost -> {len(events)} events"
    )
    assert proxy.applied["drop_reply"] >= 3
    assert events == expected
    assert count == len(expected)


@pytest.mark.parametrize(("backend", "engine"), LANES)
async def test_openai_agents_session_with_lost_replies(
    make_faulty_storage: FaultyStorageFactory, backend: str, engine: str
) -> None:
    from agents.memory import SQLiteSession

    from session_storage.integrations.openai_agents import StorageSession

    storage, proxy = make_faulty_storage(backend, seed=12, engine=engine)
    proxy.inject("drop_reply", methods=WRITES, probability=LOSS)
    reference = SQLiteSession("chat")
    async with storage:
        ours = StorageSession("chat", storage)
        for turn in range(15):
            items: list[Any] = [
                {"role": "user", "content": f"question {turn}"},
                {"role": "assistant", "content": f"answer {turn}"},
            ]
            await ours.add_items(items)
            await reference.add_items(items)
            if turn % 4 == 3:
                assert await ours.pop_item() == await reference.pop_item()
        proxy.clear()
        async with _fresh(storage) as reader:
            stored = await StorageSession("chat", reader).get_items()
    expected = await reference.get_items()
    reference.close()
    print(f"\n{backend}/{engine}: {proxy.applied['drop_reply']} replies lost")
    assert proxy.applied["drop_reply"] >= 3
    assert stored == expected


@pytest.mark.parametrize(("backend", "engine"), LANES)
async def test_adk_session_service_with_lost_replies(
    make_faulty_storage: FaultyStorageFactory, backend: str, engine: str
) -> None:
    from google.adk.sessions import InMemorySessionService

    from session_storage.integrations.adk import StorageSessionService

    from .test_adk import _event

    def event(n: int) -> Any:
        return _event(n, {"turn": n, "user:seen": n, f"k{n % 3}": f"v{n}", "temp:x": n})

    storage, proxy = make_faulty_storage(backend, seed=13, engine=engine)
    proxy.inject("drop_reply", methods=WRITES, probability=LOSS)
    reference = InMemorySessionService()
    async with storage:
        ours = StorageSessionService(storage)
        for name in ("a", "b", "c"):  # creates are create-only writes
            kwargs: dict[str, Any] = {"app_name": "app", "user_id": "u", "session_id": name}
            await ours.create_session(**kwargs, state={"start": name})
            await reference.create_session(**kwargs, state={"start": name})
        mine = await ours.get_session(app_name="app", user_id="u", session_id="a")
        theirs = await reference.get_session(app_name="app", user_id="u", session_id="a")
        assert mine is not None and theirs is not None
        for n in range(16):
            # The same Session object goes on: a lost reply must not make it stale.
            await ours.append_event(mine, event(n))
            await reference.append_event(theirs, event(n))
        proxy.clear()
        async with _fresh(storage) as reader:
            service = StorageSessionService(reader)
            stored = await service.get_session(app_name="app", user_id="u", session_id="a")
            other = await service.get_session(app_name="app", user_id="u", session_id="b")
    expected = await reference.get_session(app_name="app", user_id="u", session_id="a")
    expected_other = await reference.get_session(app_name="app", user_id="u", session_id="b")
    print(f"\n{backend}/{engine}: {proxy.applied['drop_reply']} replies lost")
    assert proxy.applied["drop_reply"] >= 3
    assert stored is not None and expected is not None
    assert [e.id for e in stored.events] == [e.id for e in expected.events]
    assert stored.state == expected.state
    assert other is not None and expected_other is not None
    assert other.state == expected_other.state  # user: state shared across sessions


@pytest.mark.parametrize(("backend", "engine"), LANES)
def test_langgraph_saver_with_lost_replies(
    make_faulty_storage: FaultyStorageFactory, backend: str, engine: str
) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    from session_storage.integrations.langgraph import StorageSaver

    from ..support.langgraph_support import build_graph
    from .test_langgraph_graph import _config, _history

    storage, proxy = make_faulty_storage(backend, seed=14, engine=engine)
    proxy.inject("drop_reply", methods=WRITES, probability=LOSS)
    reference = build_graph(InMemorySaver())
    with SyncSessionStorage.wrap(storage) as sync:
        ours = build_graph(StorageSaver(sync))
        for turn in ("hello", "how are you", "tell me more", "and then?"):
            got = ours.invoke({"messages": [turn]}, _config("t"))
            assert got == reference.invoke({"messages": [turn]}, _config("t"))
        proxy.clear()
    with SyncSessionStorage.wrap(_fresh(storage)) as reader:
        history = _history(build_graph(StorageSaver(reader)), "t")
    print(f"\n{backend}/{engine}: {proxy.applied['drop_reply']} replies lost")
    assert proxy.applied["drop_reply"] >= 3
    assert history == _history(reference, "t")
