"""The blocking facade: a representative part of the contract, threads, plain scripts."""

from __future__ import annotations

import concurrent.futures
import inspect
import itertools
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from session_storage import (
    BackgroundSaveError,
    CorruptDataError,
    InvalidArgumentError,
    InvalidKeyError,
    SerializationError,
    SessionStorage,
    StorageNotFoundError,
    SyncSessionStorage,
)
from session_storage.core.keys import session_sort_key
from session_storage.pytest_plugin import s3_storage_options

from .support.contract import WEIRD_IDS

SyncFactory = Callable[[], SyncSessionStorage]


@pytest.fixture(params=["memory", "file", "s3"])
def make(
    request: pytest.FixtureRequest, tmp_path: Path, make_s3_storage: Callable[..., SessionStorage]
) -> Iterator[SyncFactory]:
    counter = itertools.count()
    made: list[SyncSessionStorage] = []

    def factory() -> SyncSessionStorage:
        if request.param == "memory":
            sync = SyncSessionStorage(f"memory://sync-{uuid.uuid4().hex}")
        elif request.param == "file":
            sync = SyncSessionStorage(tmp_path / f"root-{next(counter)}")
        else:
            sync = SyncSessionStorage.wrap(make_s3_storage())
        made.append(sync)
        return sync

    yield factory
    for sync in made:
        sync.close()


@pytest.fixture
def storage(make: SyncFactory) -> SyncSessionStorage:
    return make()


def test_store_load_and_metadata_stamp(storage: SyncSessionStorage) -> None:
    version = storage.store_session("abc", {"status": "active"})
    assert isinstance(version, str) and version
    loaded = storage.load_session("abc")
    assert loaded is not None and loaded["status"] == "active"
    assert loaded["_metadata"]["backend"] == storage.backend
    meta = storage.get_session_metadata("abc")
    assert meta is not None and meta["version"] == version
    assert storage.load_session("missing") is None
    assert storage.get_session_metadata("missing") is None


def test_bytes_files_and_listing(storage: SyncSessionStorage) -> None:
    blob = bytes(range(256))
    storage.store_bytes("abc", "deep/blob.bin", blob)
    storage.store_session("abc", {"n": 1}, "checkpoints/001.json")
    storage.store_session("abd", {})
    assert storage.load_bytes("abc", "deep/blob.bin") == blob
    assert storage.load_bytes("abc", "nope.bin") is None
    assert storage.list_files("abc") == ["checkpoints/001.json", "deep/blob.bin"]
    assert storage.list_sessions() == ["abc", "abd"]
    assert storage.list_sessions(prefix="abc") == ["abc"]
    assert storage.session_exists("abc") and not storage.session_exists("ab")
    found = sorted(
        (m["session_id"], m["filename"], m["size"]) for m in storage.iter_file_metadata()
    )
    assert found == [
        ("abc", "checkpoints/001.json", found[0][2]),
        ("abc", "deep/blob.bin", 256),
        ("abd", "state.json", found[2][2]),
    ]


def test_weird_ids_round_trip(storage: SyncSessionStorage) -> None:
    ids = [i for i in WEIRD_IDS if storage.backend != "file" or len(i) < 200]
    for n, session_id in enumerate(ids):
        storage.store_session(session_id, {"n": n})
    assert storage.list_sessions() == sorted(ids, key=session_sort_key)  # key order
    assert all((storage.load_session(s) or {})["n"] == n for n, s in enumerate(ids))


def test_deletes(storage: SyncSessionStorage) -> None:
    storage.store_session("abc", {})
    storage.store_session("abc", {}, "cp.json")
    assert storage.delete_session("abc", "cp.json") is True
    assert storage.delete_session("abc", "cp.json") is False
    assert storage.delete_session("abc") is True
    assert storage.delete_session("abc") is False
    assert storage.list_sessions() == []


def test_narrow_returns_a_sync_storage(storage: SyncSessionStorage) -> None:
    tenant = storage.narrow("tenant-a")
    assert isinstance(tenant, SyncSessionStorage)
    tenant.store_session("s1", {"who": "a"})
    alice = tenant.narrow("alice")
    alice.store_session("s2", {"who": "alice"})
    assert tenant.list_sessions() == ["alice", "s1"]
    assert storage.list_sessions() == ["tenant-a"]
    assert storage.narrow_path("tenant-a", "alice") == alice.url
    with tenant:  # closing a narrowed view leaves the parent usable
        pass
    assert (storage.narrow("tenant-a").load_session("s1") or {})["who"] == "a"
    with pytest.raises(InvalidKeyError):
        storage.narrow("")


def test_errors_arrive_in_the_calling_thread(storage: SyncSessionStorage) -> None:
    with pytest.raises(SerializationError, match="'abc'"):
        storage.store_session("abc", {"v": object()})
    with pytest.raises(InvalidKeyError):
        storage.load_session("")
    with pytest.raises(InvalidArgumentError, match="data must be bytes"):
        storage.store_bytes("abc", "x", "text")  # type: ignore[arg-type]
    storage.store_bytes("abc", "bad.json", b"{not json")
    with pytest.raises(CorruptDataError, match=storage.backend):
        storage.load_session("abc", "bad.json")
    assert storage.list_files("abc") == ["bad.json"]


def test_eight_threads_at_once(storage: SyncSessionStorage) -> None:
    barrier = threading.Barrier(8)

    def work(k: int) -> list[int]:
        barrier.wait()
        seen = []
        for i in range(10):
            storage.store_session(f"t{k}", {"i": i})
            seen.append((storage.load_session(f"t{k}") or {})["i"])
            storage.store_bytes("shared", f"t{k}-{i}.bin", bytes([k, i]))
        return seen

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
    assert results == [list(range(10))] * 8
    assert storage.list_sessions() == sorted(["shared"] + [f"t{k}" for k in range(8)])
    assert len(storage.list_files("shared")) == 80
    assert storage.load_bytes("shared", "t7-9.bin") == bytes([7, 9])


def test_batches_and_paged_listing(storage: SyncSessionStorage) -> None:
    ids = [f"b{i:03d}" for i in range(120)]
    versions = storage.store_sessions({i: {"i": n} for n, i in enumerate(ids)})
    assert sorted(versions) == ids and all(isinstance(v, str) for v in versions.values())
    loaded = storage.load_sessions(ids + ["missing"])
    assert [(loaded[i] or {})["i"] for i in ids] == list(range(120)) and loaded["missing"] is None
    assert storage.list_sessions(limit=5, start_after="b009") == ids[10:15]
    assert list(storage.iter_sessions(prefix="b11")) == ids[110:120]
    assert storage.delete_sessions(["b000", "missing"]) == {"b000": True, "missing": False}
    assert storage.list_sessions(limit=1) == ["b001"]


def test_updates_and_appends_from_eight_threads(storage: SyncSessionStorage) -> None:
    barrier = threading.Barrier(8)

    def bump(state: dict[str, Any] | None) -> dict[str, Any]:
        return {"n": (state or {}).get("n", 0) + 1}

    def work(k: int) -> list[int]:
        barrier.wait()
        indices = []
        for i in range(5):
            storage.update_session("counter", bump)
            indices.append(storage.append_event("counter", "log", [k, i], f"{k}-{i}"))
        return indices

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        indices = [i for batch in pool.map(work, range(8)) for i in batch]
    assert (storage.load_session("counter") or {})["n"] == 40
    assert sorted(indices) == list(range(40))
    assert storage.event_count("counter", "log") == 40
    items = list(storage.iter_events("counter", "log", page_size=7))
    assert sorted(map(tuple, items)) == [(k, i) for k in range(8) for i in range(5)]
    assert storage.append_event("counter", "log", "again", "3-4") == indices[3 * 5 + 4]
    assert storage.truncate_events("counter", "log", 30) == 10
    assert len(storage.read_events("counter", "log")) == 30


def test_background_saves_from_threads_then_close(make: SyncFactory) -> None:
    storage = make()

    def work(k: int) -> list[concurrent.futures.Future[str]]:
        return [storage.store_session_nowait(f"s{k}", {"i": i}) for i in range(50)]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [f for fs in pool.map(work, range(8)) for f in fs]
    with pytest.raises(SerializationError):
        storage.store_session_nowait("bad", {"v": {1, 2}})
    storage.close()  # flushes
    assert all(f.done() and isinstance(f.result(), str) for f in futures)
    with storage:  # usable again after close; the next call starts a new loop thread
        assert all((storage.load_session(f"s{k}") or {})["i"] == 49 for k in range(8))


def test_retention_through_the_facade(storage: SyncSessionStorage) -> None:
    storage.store_session("old", {})
    future = datetime.now(timezone.utc) + timedelta(days=2)
    assert storage.delete_sessions_older_than(timedelta(days=1), dry_run=True, now=future) == [
        "old"
    ]
    assert storage.delete_sessions_older_than(timedelta(days=1)) == []
    assert storage.delete_sessions_older_than(86400, now=future) == ["old"]
    assert storage.list_sessions() == []


def test_missing_bucket_and_failed_background_save(moto_s3_server: str) -> None:
    storage = SyncSessionStorage("s3://no-such-bucket-sync", s3_storage_options(moto_s3_server))
    with pytest.raises(StorageNotFoundError):
        storage.load_session("abc")
    future = storage.store_session_nowait("abc", {"v": 1})
    with pytest.raises(BackgroundSaveError) as info:
        storage.close()
    assert isinstance(info.value.failures[0], StorageNotFoundError)
    with pytest.raises(StorageNotFoundError):
        future.result()


def test_used_from_a_plain_function_with_no_loop(tmp_path: Path) -> None:
    def script() -> dict[str, object] | None:
        with SyncSessionStorage(tmp_path) as storage:
            storage.store_session("chat-1", {"turn": 1})
            return storage.load_session("chat-1")

    assert (script() or {})["turn"] == 1
    # close() stopped and joined the loop thread
    assert not [t for t in threading.enumerate() if str(tmp_path) in t.name]


def test_a_script_that_forgets_close_still_saves(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        from session_storage import SyncSessionStorage
        storage = SyncSessionStorage({str(tmp_path)!r})
        for i in range(100):
            storage.store_session_nowait("s" + str(i % 5), {{"i": i}})
        print("exiting without close")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    with SyncSessionStorage(tmp_path) as storage:
        assert [(storage.load_session(f"s{k}") or {})["i"] for k in range(5)] == [
            95,
            96,
            97,
            98,
            99,
        ]


def test_every_async_method_has_a_blocking_twin() -> None:
    """Fails when SessionStorage gains a coroutine method that the facade lacks."""
    renamed = {"aclose": "close"}
    missing = []
    for name, member in inspect.getmembers(SessionStorage):
        if name.startswith("_"):
            continue
        if inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member):
            twin = getattr(SyncSessionStorage, renamed.get(name, name), None)
            if twin is None or inspect.iscoroutinefunction(twin):
                missing.append(name)
        elif callable(member) and getattr(SyncSessionStorage, name, None) is None:
            missing.append(name)
    assert missing == []


def test_calling_from_inside_its_own_loop_is_refused(tmp_path: Path) -> None:
    with SyncSessionStorage(tmp_path) as storage:
        inner = storage._runner

        async def reenter() -> None:
            inner.call(storage.async_storage.list_sessions())

        with pytest.raises(RuntimeError, match="inside its own event loop"):
            inner.call(reenter())


def test_load_session_default(storage: SyncSessionStorage) -> None:
    assert storage.load_session("nope", default={}) == {}
    storage.store_session("abc", {"v": 1})
    assert storage.load_session("abc", default={})["v"] == 1
