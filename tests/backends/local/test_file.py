"""Local disk specifics: atomic replacement, temp files, paths."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from session_storage import (
    BackendError,
    BatchError,
    ConflictError,
    InvalidKeyError,
    NotSupportedError,
    SessionStorage,
)
from session_storage.backends.capabilities import conditions_instead
from session_storage.backends.local.locking import FolderLock
from session_storage.backends.local.paths import MARKER_NAME


@pytest.mark.parametrize("fill", [4096, 16], ids=["read-in-a-thread", "read-inline"])
async def test_readers_never_see_a_partial_file(tmp_path: Path, fill: int) -> None:
    # ~270 KB per state: above the inline limit, every load hops to a worker thread;
    # ~2 KB: loads read on the loop's thread while the writer's thread renames.
    storage = SessionStorage(tmp_path)
    big = [{"fill": "x" * fill, "i": i} for i in range(64)]
    await storage.store_session("race", {"gen": -1, "items": big})
    reads = 0
    writing = True

    async def writer() -> None:
        nonlocal writing
        for gen in range(40):
            await storage.store_session("race", {"gen": gen, "items": big})
        writing = False

    async def reader() -> None:
        nonlocal reads
        while writing:
            state = await storage.load_session("race")  # raises on a torn file
            assert state is not None and len(state["items"]) == 64
            reads += 1

    await asyncio.gather(writer(), reader(), reader())
    assert reads > 0
    final = await storage.load_session("race")
    assert final is not None and final["gen"] == 39


async def test_no_temp_file_is_left_and_none_is_listed(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path)
    await asyncio.gather(*(storage.store_session("s", {"i": i}) for i in range(20)))
    # The folder's lock file stays while the folder holds files; no temp file does.
    assert sorted(os.listdir(tmp_path / "s")) == [".lock", "state.json"]
    (tmp_path / "s" / ".crashed-writer.tmp").write_bytes(b"{partial")
    (tmp_path / ".tmp-at-root").mkdir()
    assert await storage.list_sessions() == ["s"]
    assert await storage.list_files("s") == ["state.json"]


async def test_no_write_leaves_a_temp_file_whichever_way_it_ends(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path)
    version = await storage.store_bytes("s", "a.bin", b"1", if_absent=True)  # by hard link
    with pytest.raises(ConflictError):
        await storage.store_bytes("s", "a.bin", b"2", if_absent=True)
    version = await storage.store_bytes("s", "a.bin", b"3", if_version=version)  # by rename
    with pytest.raises(ConflictError):
        await storage.store_bytes("s", "a.bin", b"4", if_version="1-2-3")
    await storage.store_bytes("s", "a.bin", b"5")
    assert (tmp_path / "s" / "a.bin").read_bytes() == b"5"
    assert sorted(os.listdir(tmp_path / "s")) == [".lock", "a.bin"]


async def test_failed_write_leaves_no_temp_and_names_the_file(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path)
    await storage.store_bytes("abc", "dir/inner.bin", b"x")  # "abc/dir" is a folder now
    with pytest.raises(InvalidKeyError) as info:
        await storage.store_session("abc", {"v": 1}, "dir")
    message = str(info.value)
    assert "file:" in message and "'abc'" in message and "'dir'" in message
    assert "'abc/dir' is a folder" in message  # names the folder in the way
    assert isinstance(info.value, ValueError) and info.value.__cause__ is not None
    assert sorted(os.listdir(tmp_path / "abc")) == [".lock", "dir"]  # no temp file


async def test_deleting_the_last_file_removes_the_session_folder(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path / "root")
    await storage.store_session("abc", {}, "a/b/c.json")
    assert await storage.delete_session("abc", "a/b/c.json") is True
    assert os.listdir(tmp_path / "root") == [MARKER_NAME]
    assert await storage.list_sessions() == []


async def test_a_narrowed_delete_prunes_up_to_the_top_root(tmp_path: Path) -> None:
    # The driver knows only the root it was opened with: a narrowed view's emptied
    # folders go too, as its prefix would on an object store.
    storage = SessionStorage(tmp_path / "root")
    tenant = storage.narrow("tenant", "user")
    await tenant.store_session("abc", {}, "a/b.json")
    await tenant.store_session("def", {})
    assert await storage.list_sessions() == ["tenant"]
    assert await tenant.delete_session("abc", "a/b.json") is True
    assert os.listdir(tmp_path / "root" / "tenant" / "user") == ["def"]
    assert await tenant.delete_sessions(["def"]) == {"def": True}
    assert os.listdir(tmp_path / "root") == [MARKER_NAME]
    assert await storage.list_sessions() == []
    await storage.store_session("top", {})  # the top root itself is never removed
    assert await storage.delete_session("top") is True
    assert (tmp_path / "root").is_dir()


async def test_stale_temp_files_go_with_their_session(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path)
    await storage.store_session("abc", {})
    stale = tmp_path / "abc" / ".dead-writer.tmp"
    stale.write_bytes(b"partial")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    assert await storage.delete_session("abc") is True
    assert not (tmp_path / "abc").exists()


async def test_path_forms_name_the_same_folder(tmp_path: Path) -> None:
    await SessionStorage(tmp_path).store_session("abc", {"v": 1})
    for form in (str(tmp_path), f"file://{tmp_path}", tmp_path, f"{tmp_path}/"):
        assert (await SessionStorage(form).load_session("abc") or {}).get("v") == 1
    data = (tmp_path / "abc" / "state.json").read_bytes()
    assert orjson.loads(data)["v"] == 1


def test_constructor_does_no_io(tmp_path: Path) -> None:
    SessionStorage(tmp_path / "not" / "yet")
    assert not (tmp_path / "not").exists()


async def test_long_names_are_refused_before_touching_disk(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path)
    with pytest.raises(ValueError, match="file: session 'xxx.*too long"):
        await storage.store_session("x" * 300, {})
    assert os.listdir(tmp_path) == []


async def test_a_backend_failure_is_reported_for_its_id_only(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path)
    await storage.store_bytes("x1", "state.json/inner.bin", b"x")  # a folder where state goes
    with pytest.raises(BatchError) as info:
        await storage.store_sessions({f"x{i}": {"i": i} for i in range(4)}, max_concurrency=2)
    err = info.value
    assert list(err.errors) == ["x1"] and isinstance(err.errors["x1"], InvalidKeyError)
    assert "'x1'" in str(err.errors["x1"]) and "file:" in str(err.errors["x1"])
    assert sorted(err.results) == ["x0", "x2", "x3"]
    loaded = await storage.load_sessions(["x0", "x2", "x3"])
    assert [(s or {})["i"] for s in loaded.values()] == [0, 2, 3]
    # Still the folder, and no temp file left (the folder lock's file may stay).
    assert sorted(set(os.listdir(tmp_path / "x1")) - {".lock"}) == ["state.json"]


async def test_listing_pages_read_only_what_they_need(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path)
    ids = [f"s{i:03d}" for i in range(300)]
    await storage.store_sessions({i: {} for i in ids})
    (tmp_path / "s050-file-not-folder").write_bytes(b"{}")  # loose files are not sessions
    assert await storage.list_sessions(limit=3) == ids[:3]
    assert await storage.list_sessions(limit=3, start_after="s149") == ids[150:153]
    assert await storage.list_sessions(prefix="s29", limit=20) == ids[290:]
    assert [i async for i in storage.iter_sessions(start_after="s295")] == ids[296:]


# -- race-free writes across processes ------------------------------------------------

PROCESSES = 3
INCREMENTS = 50
APPENDS = 40


def _race(root: str, worker: int, start: Any, results: Any) -> None:
    """One process: increment the shared counter and append to the shared stream."""
    calls = 0

    def increment(state: dict[str, Any] | None) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"n": (state or {"n": 0})["n"] + 1}

    async def run() -> list[int]:
        storage = SessionStorage(root)
        indices = []
        for i in range(max(INCREMENTS, APPENDS)):
            if i < INCREMENTS:
                await storage.update_session("shared", increment, retries=100)
            if i < APPENDS:
                indices.append(await storage.append_event("shared", "log", [worker, i]))
        return indices

    start.wait()  # every process is up: they really race
    results.put((worker, asyncio.run(run()), calls))


def test_processes_racing_lose_no_update_and_no_event(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    ctx = multiprocessing.get_context("spawn")
    start, queue = ctx.Barrier(PROCESSES), ctx.Queue()
    processes = [ctx.Process(target=_race, args=(root, w, start, queue)) for w in range(PROCESSES)]
    for process in processes:
        process.start()
    got = sorted(queue.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    results = [indices for _, indices, _ in got]
    calls = sum(c for _, _, c in got)

    async def check() -> tuple[Any, list[Any]]:
        storage = SessionStorage(root)
        return await storage.load_session("shared"), await storage.read_events("shared", "log")

    state, items = asyncio.run(check())
    print(
        f"\nfile: {PROCESSES} processes x {INCREMENTS} update_session -> n={state and state['n']} "
        f"({calls - PROCESSES * INCREMENTS} retried after a conflict); "
        f"x {APPENDS} appends -> {len(items)} events"
    )
    assert state is not None and state["n"] == PROCESSES * INCREMENTS
    assert sorted(i for r in results for i in r) == list(range(PROCESSES * APPENDS))
    for worker, indices in enumerate(results):
        assert [items[i] for i in indices] == [[worker, i] for i in range(APPENDS)]


async def test_plain_store_waits_for_a_writer_holding_the_folder_lock(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path)
    await storage.store_session("s", {"v": 1})
    stored = threading.Event()

    def plain_store() -> None:
        asyncio.run(SessionStorage(tmp_path).store_session("s", {"v": 2}))
        stored.set()

    # Holding the lock stands for a compare-and-swap writer between check and rename.
    with FolderLock(str(tmp_path / "s")):
        thread = threading.Thread(target=plain_store)
        thread.start()
        assert not stored.wait(0.3)  # it cannot slip in between
        assert (await storage.load_session("s") or {})["v"] == 1
    thread.join(10)
    assert stored.is_set()
    assert (await storage.load_session("s") or {})["v"] == 2


async def test_every_local_write_gets_a_new_version(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path)
    versions = [await storage.store_bytes("s", "f.bin", b"same size") for _ in range(200)]
    assert len(set(versions)) == len(versions)


async def test_lock_files_go_with_their_folders(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path / "root")
    await storage.store_session("abc", {}, "a/b.json")
    await storage.store_session("abc", {})
    await storage.append_event("abc", "log", 1, idempotency_key="k")
    assert (tmp_path / "root" / "abc" / ".lock").exists()
    assert await storage.delete_session("abc", "state.json") is True
    assert await storage.delete_session("abc") is True
    assert os.listdir(tmp_path / "root") == [MARKER_NAME]
    # A failed conditional write to a new session leaves no folder behind either.
    with pytest.raises(ConflictError):
        await storage.store_session("new/deep", {}, "x/y.json", if_version="1-2-3")
    assert os.listdir(tmp_path / "root") == [MARKER_NAME]
    assert await storage.list_sessions() == []


async def test_create_only_without_hard_links_falls_back_to_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: str, dst: str) -> None:
        raise OSError(errno.EPERM, "hard links not supported here", dst)

    monkeypatch.setattr(os, "link", no_links)
    storage = SessionStorage(tmp_path)
    await storage.store_bytes("s", "f.bin", b"first", if_absent=True)
    with pytest.raises(ConflictError):
        await storage.store_bytes("s", "f.bin", b"second", if_absent=True)
    assert (tmp_path / "s" / "f.bin").read_bytes() == b"first"
    assert sorted(os.listdir(tmp_path / "s")) == [".lock", "f.bin"]


async def test_without_flock_conditions_are_refused_not_ignored(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path)
    await storage.store_session("s", {"v": 1})
    # What a platform without flock reports (see backends/locking.py).
    driver = storage._scope.driver
    driver.capabilities = dataclasses.replace(
        driver.capabilities,
        create_only=False,
        compare_and_swap=False,
        instead=conditions_instead("file"),
    )
    assert storage.supports_conditional_writes is False
    assert storage.capabilities.conditional_writes is False
    with pytest.raises(NotSupportedError) as info:
        await storage.store_session("s", {"v": 2}, if_absent=True)
    assert "file" in str(info.value) and "'s'" in str(info.value)
    assert "create_only" in str(info.value) and "Instead:" in str(info.value)
    assert isinstance(info.value, NotImplementedError)
    with pytest.raises(NotSupportedError):
        await storage.update_session("s", lambda state: {"v": 3})
    with pytest.raises(NotSupportedError):
        await storage.append_event("s", "log", 1)
    assert (await storage.load_session("s") or {})["v"] == 1
    assert await storage.list_files("s") == ["state.json"]
    await storage.store_session("s", {"v": 4})  # plain stores still work
    assert (await storage.load_session("s") or {})["v"] == 4


async def test_a_path_over_path_max_is_an_invalid_key_with_a_short_message(
    tmp_path: Path,
) -> None:
    storage = SessionStorage(tmp_path)
    deep = "/".join(["abcdefgh"] * 600)  # 5,399 characters: every segment fits, the path not
    calls = {
        "store": lambda: storage.store_session("s", {}, deep),
        "load": lambda: storage.load_session("s", deep),
        "delete": lambda: storage.delete_session("s", deep),
        "metadata": lambda: storage.get_session_metadata("s", deep),
        "append": lambda: storage.append_event("s", deep, 1),
        "long id": lambda: storage.store_session("x" * 5000, {}),
    }
    for name, call in calls.items():
        with pytest.raises(InvalidKeyError) as info:
            await call()
        message = str(info.value)
        print(f"\n{name}: {len(message)} characters: {message}")
        assert len(message) <= 1000 and "characters cut]" in message
        assert "too long" in message and "file:" in message
    assert info.value.session_id == "x" * 5000  # the attributes keep the whole value
    assert os.listdir(tmp_path) == []  # refused before touching the disk


async def test_a_name_the_file_system_refuses_as_too_long_is_an_invalid_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The OS's own ENAMETOOLONG, for a limit the driver does not know in advance.
    monkeypatch.setattr("session_storage.backends.local.driver._PATH_LIMIT", 10**6)
    storage = SessionStorage(tmp_path)
    with pytest.raises(InvalidKeyError) as info:
        await storage.store_session("s", {}, "/".join(["abcdefgh"] * 600))
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == errno.ENAMETOOLONG
    assert len(str(info.value)) <= 1000 and "File name too long" in str(info.value)
    assert sorted(os.listdir(tmp_path)) in ([], [MARKER_NAME])


@pytest.mark.parametrize("failing", ["mkdir", "open"])
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
async def test_out_of_inodes_leaves_no_staging_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str, code: int
) -> None:
    """The file system refuses a new inode (a full disk, a quota) while a write builds
    the folders of a new session: the folders it made go at once, not at the next gc."""
    storage = SessionStorage(tmp_path)
    await storage.store_session("old", {"v": 1})
    real = getattr(os, failing)
    made: list[str] = []

    def refuse(path: Any, *args: Any, **kwargs: Any) -> Any:
        # The second folder of the new session's staged tree, or its temp file.
        if ".stage" in str(path) and (failing == "open" or str(path).endswith("/b")):
            raise OSError(code, os.strerror(code), path)
        if failing == "mkdir":
            made.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, failing, refuse)
    with pytest.raises(BackendError) as info:
        await storage.store_session("new", {"v": 2}, "a/b/c.json")
    monkeypatch.undo()
    assert os.strerror(code) in str(info.value) and "'new'" in str(info.value)
    assert failing == "open" or any(path.endswith(".stage") for path in made)
    assert sorted(os.listdir(tmp_path)) == sorted([MARKER_NAME, "old"])
    assert await storage.list_sessions() == ["old"]
    await storage.store_session("new", {"v": 3}, "a/b/c.json")  # the space is back
    assert (await storage.load_session("new", "a/b/c.json") or {})["v"] == 3


async def test_a_write_finishes_only_once_the_new_root_is_marked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first writes to a new root run on two worker threads: the one that does not
    mark the root must not finish first, or a delete that waits for it alone finds no
    marker and refuses (ForeignRootError). The marker's create-only link is held back
    to open that window wide."""
    from session_storage.backends.local import paths

    real_link = os.link
    linked = threading.Event()

    def slow_marker_link(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if str(dst).endswith(MARKER_NAME):
            linked.wait(0.5)  # the other write has every chance to finish meanwhile
        real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(paths.os, "link", slow_marker_link)
    async with SessionStorage(tmp_path / "new-root") as storage:
        storage.store_session_nowait("s", {"v": 1})
        storage.store_session_nowait("s", {"v": 2}, "extra.json")
        assert await storage.delete_session("s", "extra.json") is True
        await storage.flush()
        assert await storage.list_files("s") == ["state.json"]
    assert (tmp_path / "new-root" / MARKER_NAME).is_file()


async def test_a_cold_read_of_a_long_stream_takes_one_thread_hop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from session_storage.backends.local import driver, inline

    # A busy host can make an inline read take over 1 ms, which sends the next reads to
    # threads for a while: the hops counted here are the layout's, not the host's.
    monkeypatch.setattr(inline, "SLOW_NS", 10**12)

    async with SessionStorage(tmp_path, {"fsync": False}) as writer:
        for start in range(0, 1000, 250):
            await writer.append_events("chat", "log", list(range(start, start + 250)))
    hops: list[str] = []
    real_hop = driver._in_thread

    async def counted(fn: Any, *args: Any) -> Any:
        hops.append(fn.__name__)
        return await real_hop(fn, *args)

    monkeypatch.setattr(driver, "_in_thread", counted)
    async with SessionStorage(tmp_path) as cold:
        assert await cold.read_events("chat", "log") == list(range(1000))
    print(f"\ncold read_events of 1,000 on local disk: {len(hops)} thread hops {hops}")
    # The stream folder read whole: the tail and its 7 sealed segments, one hop.
    assert hops == ["read_folder"]
    # A tail read of the same cold storage walks the chain: the tail, then segments,
    # three small files the page cache holds, each read without a hop.
    hops.clear()
    async with SessionStorage(tmp_path) as cold:
        assert await cold.read_events("chat", "log", -300) == list(range(700, 1000))
    assert hops == []
