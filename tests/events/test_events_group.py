"""Group commit: concurrent appends to one stream through one storage share tail writes.

Each append must still get its own index, exactly once, with its own idempotency key
and conditions; a failed write fails each of its appends and loses nothing; a
cancelled append is withdrawn while queued, and written (once) if its write had
started. On memory, local disk and S3 (moto); lost replies, held and hung writes
through the fault proxy. Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from session_storage import BackendUnavailableError, ConflictError, SessionStorage
from session_storage.operations.events import stream_ref

from ..support.cloud import FaultyStorageFactory
from ..support.faults import FaultProxy

BACKENDS = ["memory", "file", "s3"]
WRITES = ("PUT",)


@pytest.fixture(params=BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStorage]:
    """An empty storage on each backend (memory ones see each other, for peers)."""
    backend = request.param
    if backend == "memory":
        made = SessionStorage(f"memory://group-{uuid.uuid4().hex}", {"global_store": True})
    elif backend == "file":
        made = SessionStorage(tmp_path / "root")
    else:
        made = request.getfixturevalue("make_s3_storage")()
    async with made:
        yield made
        if backend == "memory":  # fsspec's global store outlives the test
            for session in await made.list_sessions():
                await made.delete_session(session)


class Puts:
    """Counts the writes a storage's driver makes (every one still made)."""

    def __init__(self, storage: SessionStorage) -> None:
        self.count = 0
        driver = storage._scope.driver
        put = driver.put

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await put(*args, **kwargs)

        driver.put = counted  # type: ignore[method-assign]


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition``, which another task or the proxy's thread makes true."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def _waiting(storage: SessionStorage, stream: str = "log") -> int:
    ref = stream_ref(storage._scope, "s", stream)
    return storage._scope.shared.event_logs.waiting(ref)


async def _writers(storage: SessionStorage, tasks: int, appends: int, tag: str) -> dict[str, int]:
    """``tasks`` tasks each appending ``appends`` items one by one; item -> its index."""
    reported: dict[str, int] = {}

    async def writer(number: int) -> None:
        for i in range(appends):
            item = f"{tag}{number}-{i}"
            reported[item] = await storage.append_event("s", "log", item)

    await asyncio.gather(*(writer(n) for n in range(tasks)))
    return reported


async def test_ten_tasks_share_writes_and_each_gets_its_own_index(
    storage: SessionStorage,
) -> None:
    puts = Puts(storage)
    reported = await _writers(storage, 10, 20, "a")
    grouped = puts.count
    # Another storage races on the same stream: conditional writes still decide.
    async with SessionStorage.from_settings(storage.settings) as peer:
        racing = await asyncio.gather(_writers(storage, 5, 10, "b"), _writers(peer, 5, 10, "c"))
        for more in racing:
            reported.update(more)
        final = await peer.read_events("s", "log")
    print(f"\n{storage.backend}: 10 tasks x 20 appends in {grouped} writes; {len(final)} events")
    assert sorted(reported.values()) == list(range(300))  # each index reported once
    assert final == sorted(reported, key=reported.__getitem__)  # each item at its index
    # 200 appends and a sealed segment: one write a round of ten (a memory write
    # never lets another task run, so each append there writes alone, at once).
    assert grouped <= (201 if storage.backend == "memory" else 30)


async def test_keys_and_conditions_are_checked_in_queue_order(storage: SessionStorage) -> None:
    await storage.append_event("s", "log", "first")
    puts = Puts(storage)
    calls: list[Awaitable[int]] = [
        storage.append_event("s", "log", "x"),  # 1
        storage.append_event("s", "log", "k", idempotency_key="K"),  # 2
        storage.append_event("s", "log", "k again", idempotency_key="K"),  # 2: not written
        storage.append_events("s", "log", ["c", "d"], if_count=3),  # 3: holds 3 here
        storage.append_event("s", "log", "late", if_count=3),  # holds 5: refused alone
        storage.append_event("s", "log", "e", if_count_at_least=5),  # 5
        storage.append_event("s", "log", "short", if_count_at_least=9),  # refused alone
    ]
    got = await asyncio.gather(*calls, return_exceptions=True)
    assert got[:4] == [1, 2, 2, 3] and got[5] == 5
    for refused, why in ((got[4], "not the 3"), (got[6], "fewer than the 9")):
        assert isinstance(refused, ConflictError) and why in str(refused)
        assert refused.session_id == "s" and refused.filename == "log"
    # The first found the stream idle and wrote at once; the six queued behind it went
    # in one write. A memory write never lets another task run, so nothing queues there.
    assert puts.count == (4 if storage.backend == "memory" else 2)
    assert await storage.read_events("s", "log") == ["first", "x", "k", "c", "d", "e"]
    # A group that writes nothing answers from the stored tail.
    again = await asyncio.gather(
        storage.append_event("s", "log", "k", idempotency_key="K"),
        storage.append_event("s", "log", "no", if_count=2),
        return_exceptions=True,
    )
    assert again[0] == 2 and isinstance(again[1], ConflictError)
    assert await storage.event_count("s", "log") == 6


# -- through the fault proxy (S3 on moto) -------------------------------------------------


async def _held_write(storage: SessionStorage, proxy: FaultProxy, item: str) -> asyncio.Task[int]:
    """An append whose tail write the proxy holds until ``proxy.release()``."""
    held = proxy.applied["hold"] + 1
    proxy.inject("hold", methods=WRITES, count=1)
    task = asyncio.create_task(storage.append_event("s", "log", item))
    await _until(lambda: proxy.applied["hold"] == held, "the held write")
    return task


async def _queue(storage: SessionStorage, items: list[str]) -> list[asyncio.Task[int]]:
    before = _waiting(storage)
    tasks = [asyncio.create_task(storage.append_event("s", "log", item)) for item in items]
    await _until(lambda: _waiting(storage) == before + len(items), "the appends to queue")
    return tasks


async def test_a_lost_reply_of_a_group_write_is_recognised_for_every_append(
    make_faulty_storage: FaultyStorageFactory,
) -> None:
    storage, proxy = make_faulty_storage("s3", seed=5)
    async with storage:
        await storage.append_event("s", "log", "first")
        held = await _held_write(storage, proxy, "a")
        queued = await _queue(storage, ["b", "c", "d", "e"])
        proxy.release()  # "a" is written; the group b..e goes next, its reply lost
        proxy.inject("drop_reply", methods=WRITES, count=1)
        got = [await held, *[await task for task in queued]]
        proxy.clear()
        events = await storage.read_events("s", "log")
    print(f"\ns3: a group write's reply lost -> indices {got}, {events}")
    assert proxy.applied["drop_reply"] == 1
    assert got == [1, 2, 3, 4, 5]
    assert events == ["first", "a", "b", "c", "d", "e"]


async def test_a_cancelled_append_is_withdrawn_while_queued_and_written_once_if_sent(
    make_faulty_storage: FaultyStorageFactory,
) -> None:
    storage, proxy = make_faulty_storage("s3", seed=6)
    async with storage:
        held = await _held_write(storage, proxy, "a")
        b, c, d = await _queue(storage, ["b", "c", "d"])
        c.cancel()  # queued: withdrawn, the others go on
        proxy.release()  # "a" goes on; the group of b and d is held next
        proxy.inject("hold", methods=WRITES, count=1)
        assert await held == 0
        await _until(lambda: proxy.applied["hold"] == 2, "the group write held")
        (e,) = await _queue(storage, ["e"])
        b.cancel()  # its group's write has started: it goes on for d
        proxy.release()
        assert [await d, await e] == [2, 3]
        for cancelled in (b, c):
            with pytest.raises(asyncio.CancelledError):
                await cancelled
        events = await storage.read_events("s", "log")
    assert events == ["a", "b", "d", "e"]


async def test_a_failed_group_write_fails_each_append_and_loses_nothing(
    make_faulty_storage: FaultyStorageFactory,
) -> None:
    faulty, proxy = make_faulty_storage("s3", seed=7)
    items = ["a", "b", "c", "d"]
    options = {
        **faulty.settings.storage_options,
        "config_kwargs": {"retries": {"max_attempts": 1}},  # no retry by botocore...
    }
    async with SessionStorage(faulty.url, options, timeout=None) as storage:
        storage.filesystem.retries = 1  # ...nor by s3fs: a cut write fails at once
        held = await _held_write(storage, proxy, "first")
        queued = [
            asyncio.create_task(storage.append_event("s", "log", x, idempotency_key=x))
            for x in items
        ]
        await _until(lambda: _waiting(storage) == len(items), "the appends to queue")
        proxy.release()  # "first" goes on; the group's write is cut half-way
        proxy.inject("cut", methods=WRITES)
        assert await held == 0
        got = await asyncio.gather(*queued, return_exceptions=True)
        proxy.clear()
        assert proxy.applied["cut"] >= 1  # the client's own retries were cut too
        for error in got:
            assert isinstance(error, BackendUnavailableError), error
            assert error.session_id == "s" and error.filename == "log"
            assert isinstance(error.__cause__, BackendUnavailableError)
        assert len({id(error) for error in got}) == len(items)  # each its own error...
        assert len({id(error.__cause__) for error in got}) == 1  # ...of one write
        # Retried with their keys: each written once, whatever the failed write did.
        again = [await storage.append_event("s", "log", x, idempotency_key=x) for x in items]
        events = await storage.read_events("s", "log")
    print(
        f"\ns3: a cut group write -> {[type(e).__name__ for e in got]}, then {events}",
        proxy.applied,
    )
    assert again == [1, 2, 3, 4]
    assert events == ["first", *items]
