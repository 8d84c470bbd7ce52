"""A delete supersedes the background saves accepted before it, on every backend.

The report: ``store_session_nowait(id, s)``, then ``delete_session(id)`` returned True,
then the pending save wrote the session back (20 of 20 rounds on local disk). Each
test here repeats that sequence for many rounds and reads the backend afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from session_storage import SessionStorage, SyncSessionStorage

ROUNDS = 20

Factory = Callable[[], SessionStorage]


async def test_a_delete_is_not_undone_by_a_save_accepted_before_it(
    make_any_storage: Factory,
) -> None:
    async with make_any_storage() as storage:
        resurrected = []
        for n in range(ROUNDS):
            sid = f"chat-{n}"
            handle = storage.store_session_nowait(sid, {"n": n})
            assert await storage.delete_session(sid) is True  # the save landed first
            assert handle.done() and handle.exception() is None
            await storage.flush()
            if await storage.load_session(sid) is not None:
                resurrected.append(sid)
        print(f"\n{storage.backend}: {len(resurrected)} of {ROUNDS} deleted sessions came back")
        assert resurrected == []
        assert await storage.list_sessions() == []


async def test_file_deletes_batch_deletes_and_retention_supersede_pending_saves(
    make_any_storage: Factory,
) -> None:
    async with make_any_storage() as storage:
        later = datetime.now(timezone.utc) + timedelta(days=1)
        for n in range(ROUNDS // 4):
            storage.store_session_nowait(f"f{n}", {"keep": n})
            storage.store_session_nowait(f"f{n}", {"gone": n}, "extra.json")
            assert await storage.delete_session(f"f{n}", "extra.json") is True
            ids = [f"b{n}-{k}" for k in range(3)]
            for sid in ids:
                storage.store_session_nowait(sid, {"n": n})
            assert await storage.delete_sessions(ids) == dict.fromkeys(ids, True)
            storage.store_session_nowait(f"r{n}", {"n": n})
            # Everything is older than a day from now: the retention run deletes it all.
            expired = await storage.delete_sessions_older_than(timedelta(0), now=later)
            assert f"r{n}" in expired and f"f{n}" in expired
            await storage.flush()
            assert await storage.list_sessions() == []


async def test_saves_accepted_while_a_delete_runs_land_after_it(
    make_any_storage: Factory,
) -> None:
    async with make_any_storage() as storage:
        for n in range(ROUNDS // 2):
            sid = f"chat-{n}"
            before = storage.store_session_nowait(sid, {"v": "before", "n": n})
            deleting = asyncio.ensure_future(storage.delete_session(sid))
            await asyncio.sleep(0)  # one loop turn: the delete task starts and waits
            after = storage.store_session_nowait(sid, {"v": "after", "n": n})
            assert await deleting is True
            await after
            assert not before.superseded  # written, then deleted
            state = await storage.load_session(sid)
            assert state is not None and (state["v"], state["n"]) == ("after", n)


async def test_two_deletes_and_saves_between_them_apply_in_call_order() -> None:
    """s1, delete, s2, delete, s3: only s3 survives, whatever the writes' timing."""
    async with SessionStorage("memory://order-of-calls") as storage:
        for n in range(ROUNDS):
            storage.store_session_nowait("s", {"v": 1})
            first = asyncio.ensure_future(storage.delete_session("s"))
            await asyncio.sleep(0)
            storage.store_session_nowait("s", {"v": 2})
            second = asyncio.ensure_future(storage.delete_session("s"))
            await asyncio.sleep(0)
            storage.store_session_nowait("s", {"v": 3, "n": n})
            assert await asyncio.gather(first, second) == [True, True]
            await storage.flush()
            state = await storage.load_session("s")
            assert state is not None and (state["v"], state["n"]) == (3, n)
            assert await storage.delete_session("s") is True


def test_the_blocking_facade_deletes_after_its_pending_saves(
    make_any_storage: Factory,
) -> None:
    with SyncSessionStorage.wrap(make_any_storage()) as storage:
        resurrected = []
        for n in range(ROUNDS):
            sid = f"chat-{n}"
            storage.store_session_nowait(sid, {"n": n})
            assert storage.delete_session(sid) is True
            storage.flush()
            if storage.load_session(sid) is not None:
                resurrected.append(sid)
        print(f"\nsync {storage.backend}: {len(resurrected)} of {ROUNDS} came back")
        assert resurrected == []
