"""SyncSessionStorage.run and submit: integration code runs its coroutines on the storage loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from session_storage import ConflictError, InvalidArgumentError, SyncSessionStorage


@pytest.fixture(params=["memory", "file"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SyncSessionStorage]:
    url = f"memory://run-{uuid.uuid4().hex}" if request.param == "memory" else str(tmp_path)
    with SyncSessionStorage(url) as sync:
        yield sync


async def _store_and_load(sync: SyncSessionStorage, session_id: str) -> tuple[str, Any]:
    storage = sync.async_storage
    await storage.store_session(session_id, {"n": session_id})
    loaded = await storage.load_session(session_id)
    return threading.current_thread().name, loaded


def test_run_returns_the_coroutines_result_from_the_loop_thread(
    storage: SyncSessionStorage,
) -> None:
    thread_name, loaded = storage.run(_store_and_load(storage, "a"))
    assert loaded is not None and loaded["n"] == "a"
    # It ran on the storage's loop thread, not the caller's.
    assert thread_name != threading.current_thread().name
    assert thread_name.startswith("session-storage")
    assert storage.load_session("a") == loaded


def test_run_raises_what_the_coroutine_raises(storage: SyncSessionStorage) -> None:
    storage.store_session("s", {"v": 1})

    async def conflicting() -> str:
        return await storage.async_storage.store_session("s", {"v": 2}, if_absent=True)

    with pytest.raises(ConflictError):
        storage.run(conflicting())

    class Custom(Exception):
        pass

    async def failing() -> None:
        raise Custom("from the coroutine")

    with pytest.raises(Custom, match="from the coroutine"):
        storage.run(failing())
    assert storage.load_session("s") is not None


def test_run_from_many_threads_at_once(storage: SyncSessionStorage) -> None:
    ids = [f"t{i}" for i in range(16)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: storage.run(_store_and_load(storage, i)), ids))
    assert [loaded["n"] for _, loaded in results] == ids
    assert len({name for name, _ in results}) == 1  # one loop thread served them all
    assert storage.list_sessions() == sorted(ids)


def test_run_on_the_loop_thread_refuses_and_closes_the_coroutine(
    storage: SyncSessionStorage,
) -> None:
    inner = storage.async_storage.load_session("x")

    async def nested() -> None:
        storage.run(inner)

    with pytest.raises(RuntimeError, match="inside its own event loop"):
        storage.run(nested())
    assert inspect.getcoroutinestate(inner) == inspect.CORO_CLOSED


def test_submit_is_awaitable_from_another_event_loop(storage: SyncSessionStorage) -> None:
    future = storage.submit(_store_and_load(storage, "f"))
    assert isinstance(future, concurrent.futures.Future)

    async def elsewhere() -> Any:
        # A caller's own loop waits without blocking while the storage's loop works.
        return await asyncio.wrap_future(storage.submit(_store_and_load(storage, "g")))

    _, from_other_loop = asyncio.run(elsewhere())
    assert from_other_loop["n"] == "g"
    assert future.result(timeout=30)[1]["n"] == "f"


def test_run_after_close_starts_the_loop_again(storage: SyncSessionStorage) -> None:
    storage.run(_store_and_load(storage, "before"))
    storage.close()
    _, loaded = storage.run(_store_and_load(storage, "after"))
    assert loaded["n"] == "after"


@pytest.mark.parametrize("method", ["run", "submit"])
def test_anything_but_a_coroutine_is_refused(storage: SyncSessionStorage, method: str) -> None:
    call = getattr(storage, method)
    with pytest.raises(InvalidArgumentError, match="call the async function"):
        call(storage.async_storage.list_sessions)
    with pytest.raises(InvalidArgumentError, match="got Future"):
        call(concurrent.futures.Future())
