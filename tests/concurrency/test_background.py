"""Background saves: coalescing, flush, failures, narrowed views, event loops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from session_storage import (
    BackendError,
    BackgroundSaveError,
    InvalidKeyError,
    SaveHandle,
    SerializationError,
    SessionStorage,
    StorageNotFoundError,
)
from session_storage.concurrency.background import BackgroundSaver
from session_storage.pytest_plugin import s3_storage_options

from ..backends.test_s3 import kinds
from ..support.cloud import RequestLog

Factory = Callable[[], SessionStorage]


async def test_thousand_rapid_saves_coalesce_and_land_newest(make: Factory) -> None:
    storage = make()
    handles = [storage.store_session_nowait(f"s{i % 10}", {"i": i}) for i in range(1000)]
    await storage.aclose()
    for k in range(10):
        state = await storage.load_session(f"s{k}")
        assert state is not None and state["i"] == 990 + k
    writes = sum(not h.superseded for h in handles)
    print(f"\n{storage.backend}: 1000 background saves to 10 sessions -> {writes} writes")
    assert writes == 10  # all accepted before the first write started
    assert all(h.done() and h.exception() is None for h in handles)
    newest = {h.session_id: h for h in handles if not h.superseded}
    for h in handles:  # a superseded handle resolves with the write that replaced it
        assert await h == await newest[h.session_id]
    meta = await storage.get_session_metadata("s3")
    assert meta is not None and meta["version"] == await newest["s3"]
    await storage.aclose()  # the loads opened the filesystem again


async def test_saves_keep_coming_while_writes_run(make: Factory) -> None:
    """Saves accepted while earlier ones are being written still end with the newest."""
    async with make() as storage:
        handles = []
        for i in range(300):
            handles.append(storage.store_session_nowait(f"s{i % 3}", {"i": i}))
            if i % 7 == 0:
                await asyncio.sleep(0)  # let writes start in between
        await storage.flush()
        for k in range(3):
            assert (await storage.load_session(f"s{k}") or {})["i"] == 297 + k
        writes = sum(not h.superseded for h in handles)
        print(f"\n{storage.backend}: 300 interleaved saves to 3 sessions -> {writes} writes")
        assert 3 <= writes < 300
        assert all(h.done() for h in handles)


async def test_s3_puts_match_the_writes_the_handles_report(
    make_s3_storage: Callable[..., SessionStorage], s3_requests: RequestLog
) -> None:
    async with make_s3_storage() as storage:
        await storage.store_session("warm", {})
        s3_requests.take()
        handles = [storage.store_session_nowait(f"s{i % 10}", {"i": i}) for i in range(1000)]
        await storage.flush()
        puts = kinds(s3_requests.take())
        print(f"\ns3: 1000 background saves -> {len(puts)} requests: {sorted(set(puts))}")
        assert puts == ["PUT"] * sum(not h.superseded for h in handles) == ["PUT"] * 10


async def test_bad_input_raises_at_once_and_queues_nothing(make: Factory) -> None:
    async with make() as storage:
        with pytest.raises(SerializationError):
            storage.store_session_nowait("abc", {"v": object()})
        with pytest.raises(SerializationError):
            storage.store_session_nowait("abc", ["not", "a", "dict"])  # type: ignore[arg-type]
        with pytest.raises(InvalidKeyError):
            storage.store_session_nowait("", {"v": 1})
        with pytest.raises(InvalidKeyError):
            storage.store_session_nowait("abc", {"v": 1}, "a//b")
        await storage.flush()
        assert await storage.list_sessions() == []


def test_needs_a_running_loop() -> None:
    storage = SessionStorage("memory://no-loop")
    with pytest.raises(RuntimeError, match="running event loop"):
        storage.store_session_nowait("abc", {"v": 1})


async def test_handle_result_is_the_stored_version(make: Factory) -> None:
    async with make() as storage:
        handle = storage.store_session_nowait("abc", {"v": 1}, "cp.json")
        assert isinstance(handle, SaveHandle)
        assert (handle.session_id, handle.filename) == ("abc", "cp.json")
        version = await handle
        assert handle.done() and handle.result() == version and not handle.superseded
        meta = await storage.get_session_metadata("abc", "cp.json")
        assert meta is not None and meta["version"] == version
        assert "stored" in repr(handle)


async def test_failing_file_backend_fails_flush_and_handles(tmp_path: Path) -> None:
    root = tmp_path / "not-a-folder"
    root.write_bytes(b"a regular file where the root folder should be")
    storage = SessionStorage(root)
    handles = [storage.store_session_nowait(f"s{i}", {"i": i}) for i in range(3)]
    with pytest.raises(BackgroundSaveError) as info:
        await storage.flush()
    error = info.value
    assert len(error.failures) == 3 and isinstance(error, OSError)
    assert "3 background saves failed" in str(error) and "file:" in str(error)
    assert {f.session_id for f in error.failures} == {"s0", "s1", "s2"}  # type: ignore[attr-defined]
    assert all(isinstance(f, BackendError) for f in error.failures)
    assert error.__cause__ is error.failures[0]
    for handle in handles:
        assert handle.done()
        with pytest.raises(BackendError, match=f"'{handle.session_id}'"):
            await handle
    await storage.flush()  # each failure is reported once
    storage.store_session_nowait("again", {})
    with pytest.raises(BackgroundSaveError) as again:
        await storage.aclose()  # aclose flushes, and still closes
    assert again.value.session_id == "again" and "a background save failed" in str(again.value)
    assert root.read_bytes().startswith(b"a regular file")


async def test_missing_bucket_fails_flush_with_storage_not_found(moto_s3_server: str) -> None:
    storage = SessionStorage("s3://no-such-bucket-bg", s3_storage_options(moto_s3_server))
    handle = storage.store_session_nowait("abc", {"v": 1})
    with pytest.raises(BackgroundSaveError) as info:
        await storage.aclose()
    (failure,) = info.value.failures
    assert isinstance(failure, StorageNotFoundError)
    assert "no-such-bucket-bg" in str(info.value) and "'abc'" in str(info.value)
    with pytest.raises(StorageNotFoundError):
        await handle


async def test_narrowed_views_share_one_saver(make: Factory) -> None:
    storage = make()
    tenant = storage.narrow("tenant-a")
    alice = tenant.narrow("alice")
    for i in range(50):
        storage.store_session_nowait("root", {"i": i})
        tenant.store_session_nowait("t", {"i": i})
        alice.store_session_nowait("a", {"i": i})
    await alice.aclose()  # flushes alice's saves only; the shared connection stays open
    assert (await alice.load_session("a") or {})["i"] == 49
    await storage.aclose()  # the owner flushes everything its views accepted
    assert (await storage.load_session("root") or {})["i"] == 49
    assert (await tenant.load_session("t") or {})["i"] == 49
    await storage.aclose()  # the loads opened the filesystem again


async def test_narrowed_flush_reports_only_its_own_failures(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "broken").write_bytes(b"a file, so nothing can be stored below it")
    storage = SessionStorage(tmp_path / "root")
    broken, fine = storage.narrow("broken"), storage.narrow("fine")
    broken.store_session_nowait("s", {"v": 1})
    fine.store_session_nowait("s", {"v": 1})
    await fine.flush()
    assert (await fine.load_session("s") or {})["v"] == 1
    with pytest.raises(BackgroundSaveError):
        await storage.flush()  # the owner sees the view's failure
    await storage.flush()


async def test_cancelled_awaiter_does_not_cancel_the_save(tmp_path: Path) -> None:
    async with SessionStorage(tmp_path) as storage:  # local writes take a thread hop
        handle = storage.store_session_nowait("abc", {"v": 1})
        waiter = asyncio.ensure_future(_wait(handle))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await storage.flush()
        assert handle.done() and not handle._future.cancelled()
        assert (await storage.load_session("abc") or {})["v"] == 1


async def _wait(handle: SaveHandle) -> str:
    return await handle


def test_storage_used_by_successive_event_loops(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path)

    async def save_and_flush(n: int) -> None:
        for i in range(20):
            storage.store_session_nowait(f"s{i % 2}", {"n": n, "i": i})
        await storage.flush()

    asyncio.run(save_and_flush(1))
    asyncio.run(save_and_flush(2))
    state = asyncio.run(storage.load_session("s1"))
    assert state is not None and (state["n"], state["i"]) == (2, 19)
    asyncio.run(storage.aclose())


def test_saves_left_when_a_loop_ends_are_written_by_the_next(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path, background_concurrency=2)

    async def save_and_leave() -> None:
        for i in range(100):
            storage.store_session_nowait(f"s{i:03d}", {"i": i})

    asyncio.run(save_and_leave())  # ends with most saves still queued

    async def count_then_flush() -> tuple[int, int]:
        before = len(await storage.list_sessions())
        await storage.aclose()
        return before, len(await storage.list_sessions())

    before, after = asyncio.run(count_then_flush())
    print(f"\nsaves written before the first loop ended: {before} of 100")
    assert before < 100 and after == 100


async def test_concurrency_is_bounded_and_one_path_never_overlaps() -> None:
    saver = BackgroundSaver(concurrency=3)
    running: set[str] = set()
    peak = 0
    order: list[tuple[str, int]] = []

    def writer(path: str, n: int) -> Callable[[], asyncio.Future[str]]:
        async def write() -> str:
            nonlocal peak
            assert path not in running, "two writes of one path overlapped"
            running.add(path)
            peak = max(peak, len(running))
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            running.discard(path)
            order.append((path, n))
            return f"{path}@{n}"

        return lambda: asyncio.ensure_future(write())

    handles = []
    for n in range(40):
        for p in ("a", "b", "c", "d", "e"):
            handles.append(saver.submit(p, writer(p, n), p, "f"))
        await asyncio.sleep(0)
    await saver.flush()
    assert peak == 3
    for p in ("a", "b", "c", "d", "e"):
        written = [n for q, n in order if q == p]
        assert written == sorted(written) and written[-1] == 39  # in order, newest last
    assert all(h.done() for h in handles)


async def test_flush_returns_while_saves_keep_arriving(tmp_path: Path) -> None:
    async with SessionStorage(tmp_path) as storage:
        stop = False

        async def producer() -> int:
            n = 0
            while not stop:
                storage.store_session_nowait("busy", {"n": n})
                n += 1
                await asyncio.sleep(0)
            return n

        task = asyncio.ensure_future(producer())
        handle = storage.store_session_nowait("first", {"v": 1})
        await asyncio.wait_for(storage.flush(), timeout=60)  # waits for what came before
        assert handle.done()
        stop = True
        produced = await task
    assert produced > 0
    assert (await storage.load_session("busy") or {})["n"] == produced - 1  # aclose flushed


async def test_a_write_cancelled_while_the_loop_lives_is_restarted_by_flush(
    tmp_path: Path,
) -> None:
    async with SessionStorage(tmp_path) as storage:
        handles = [storage.store_session_nowait(f"s{i}", {"i": i}) for i in range(20)]
        await asyncio.sleep(0)  # let the first writes start
        tasks = list(storage._scope.shared.saver._tasks.values())
        assert tasks
        for task in tasks:
            task.cancel()
        await storage.flush()
        assert all(h.done() and h.exception() is None for h in handles)
        assert len(await storage.list_sessions()) == 20


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        SessionStorage("memory://x", background_concurrency=0)


def _accept_and_flush(saves: int) -> float:
    """CPU seconds of this process to accept ``saves`` saves of one session on
    memory:// and flush them (CPU time, not wall time: other processes on a busy
    machine do not count)."""

    async def run() -> float:
        storage = SessionStorage(f"memory://coalesce-{saves}")
        started = time.process_time()
        handles = [storage.store_session_nowait("one", {"i": i}) for i in range(saves)]
        await storage.flush()
        elapsed = time.process_time() - started
        assert [h.superseded for h in handles[-2:]] == [True, False]
        assert handles[0].result() == handles[-1].result()
        assert (await storage.load_session("one") or {})["i"] == saves - 1
        return elapsed

    return asyncio.run(run())


def test_coalescing_costs_constant_time_per_save() -> None:
    """40,000 saves to one session took 10 s (2,500: 0.06 s): each newer state copied
    the handles of the one it replaced. Now each costs the same, however many came
    before it."""
    _accept_and_flush(1000)  # warm-up: imports, the memory filesystem
    small, large = _accept_and_flush(5_000), _accept_and_flush(40_000)
    print(
        f"\nsaves to one session accepted and flushed: 5,000 in {small:.3f} s, "
        f"40,000 in {large:.3f} s"
    )
    # Linear, with room for a busy machine; quadratic coalescing took 30 s here.
    assert large < 8 * small + 2.0
    assert large < 15.0
