"""Storages across ``fork``: the pre-fork servers' pattern, on every backend.

The parent creates a storage and uses it (connections open; for SyncSessionStorage a
loop thread running), then forks workers. Each worker uses the inherited storage
(loads the parent's data, stores, saves in the background, flushes) and a new storage
of its own; every worker must finish well within the storages' timeout (see
:mod:`.forking`). Afterwards the parent sees what the workers wrote, and its own
storage still works: nothing the children did touched its connections or its loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from session_storage import SessionStorage, SyncSessionStorage

from .forking import run_forked


@pytest.fixture
def parent_storage(make_any_storage: Callable[[], SessionStorage]) -> SessionStorage:
    """A storage of each backend (memory, file, s3, gcs, azure; the fsspec engine)."""
    return make_any_storage()


def _shares_data(storage: SessionStorage | SyncSessionStorage) -> bool:
    """Whether a child's writes reach the parent (memory lives in each process)."""
    return storage.backend != "memory"


def _sync_work(storage: SyncSessionStorage) -> Callable[[int], dict[str, Any]]:
    def work(i: int) -> dict[str, Any]:
        inherited = storage.load_session("parent")
        storage.store_session(f"w{i}", {"by": i})
        future = storage.store_session_nowait(f"bg{i}", {"by": i})
        storage.flush()
        written = future.result(timeout=0)
        with SyncSessionStorage.from_settings(storage.settings) as fresh:
            fresh.store_session(f"n{i}", {"by": i})
            new = fresh.load_session(f"n{i}")
        back = storage.load_session(f"w{i}"), storage.load_session(f"bg{i}")
        storage.close()
        return {
            "inherited": inherited and inherited["turn"],
            "written": bool(written),
            "new": new and new["by"],
            "back": [state and state["by"] for state in back],
        }

    return work


def test_sync_storage_works_in_forked_workers(parent_storage: SessionStorage) -> None:
    storage = SyncSessionStorage.wrap(parent_storage)
    storage.store_session("parent", {"turn": 1})  # the loop thread runs, connections open

    results = run_forked(_sync_work(storage))

    for i, result in enumerate(results):
        assert result == {"inherited": 1, "written": True, "new": i, "back": [i, i]}
    # The parent's storage is untouched by what the children did and closed.
    storage.store_session("parent", {"turn": 2})
    assert storage.load_session("parent")["turn"] == 2
    if _shares_data(storage):
        for i in range(len(results)):
            for name in (f"w{i}", f"bg{i}", f"n{i}"):
                assert storage.load_session(name)["by"] == i, name
    storage.close()


async def _async_work(storage: SessionStorage, i: int) -> dict[str, Any]:
    inherited = await storage.load_session("parent")
    await storage.store_session(f"w{i}", {"by": i})
    handle = storage.store_session_nowait(f"bg{i}", {"by": i})
    written = await handle
    await storage.flush()
    async with SessionStorage.from_settings(storage.settings) as fresh:
        await fresh.store_session(f"n{i}", {"by": i})
        new = await fresh.load_session(f"n{i}")
    back = await storage.load_session(f"w{i}"), await storage.load_session(f"bg{i}")
    await storage.aclose()
    return {
        "inherited": inherited and inherited["turn"],
        "written": bool(written),
        "new": new and new["by"],
        "back": [state and state["by"] for state in back],
    }


@pytest.mark.parametrize("fork_from", ["between_loops", "inside_loop"])
def test_async_storage_works_in_forked_workers(
    parent_storage: SessionStorage, fork_from: str
) -> None:
    """``between_loops``: the parent's ``asyncio.run`` has returned when it forks.
    ``inside_loop``: it forks from a coroutine, its loop running and its connections
    open: the child inherits a running loop that nothing there runs any more."""
    storage = parent_storage

    def work(i: int) -> dict[str, Any]:
        return asyncio.run(_async_work(storage, i))

    async def check_parent(results: list[Any]) -> None:
        # In the loop that forked, when it did: the connections the children inherited
        # are reused here, so a child that unregistered them from the epoll instance
        # it shares with this loop would make these calls wait for their timeout.
        for turn in (2, 3):
            await asyncio.wait_for(storage.store_session("parent", {"turn": turn}), 5)
            loaded = await asyncio.wait_for(storage.load_session("parent"), 5)
            assert loaded["turn"] == turn
        if _shares_data(storage):
            for i in range(len(results)):
                for name in (f"w{i}", f"bg{i}", f"n{i}"):
                    assert (await storage.load_session(name))["by"] == i, name

    async def parent() -> list[Any]:
        await storage.store_session("parent", {"turn": 1})
        if fork_from == "between_loops":
            return []
        results = run_forked(work)  # blocks this loop while the children run: a test
        await check_parent(results)
        return results

    results = asyncio.run(parent()) or run_forked(work)

    for i, result in enumerate(results):
        assert result == {"inherited": 1, "written": True, "new": i, "back": [i, i]}

    async def after() -> None:
        async with storage:
            await check_parent(results)

    asyncio.run(after())


def test_a_memory_store_locked_by_a_parent_thread_works_in_the_child() -> None:
    # A thread of the parent is inside a memory write (it holds the store's lock) when
    # the process forks: the child's copy of the store must not wait for that thread,
    # which the child does not have.
    storage = SessionStorage("memory://fork-locked")
    asyncio.run(storage.store_session("parent", {"turn": 1}))
    driver: Any = storage._scope.driver
    inside, leave = threading.Event(), threading.Event()

    def writer() -> None:
        with driver._lock:
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert inside.wait(10)
    try:

        async def child_work(i: int) -> int:
            await storage.store_session(f"child{i}", {"turn": 2})
            state = await storage.load_session(f"child{i}")
            return -1 if state is None else int(state["turn"])

        assert run_forked(lambda i: asyncio.run(child_work(i)), children=1) == [2]
    finally:
        leave.set()
        thread.join()
