"""Local disk specifics: atomic replacement, temp files, paths."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import orjson
import pytest

from session_storage import BackendError, BatchError, SessionStorage


async def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path)
    big = [{"fill": "x" * 4096, "i": i} for i in range(64)]  # ~270 KB per state
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
    assert sorted(os.listdir(tmp_path / "s")) == ["state.json"]
    (tmp_path / "s" / ".crashed-writer.tmp").write_bytes(b"{partial")
    (tmp_path / ".tmp-at-root").mkdir()
    assert await storage.list_sessions() == ["s"]
    assert await storage.list_files("s") == ["state.json"]


async def test_failed_write_leaves_no_temp_and_names_the_file(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path)
    await storage.store_bytes("abc", "dir/inner.bin", b"x")  # "abc/dir" is a folder now
    with pytest.raises(BackendError) as info:
        await storage.store_session("abc", {"v": 1}, "dir")
    message = str(info.value)
    assert "file:" in message and "'abc'" in message and "'dir'" in message
    assert isinstance(info.value, OSError) and info.value.__cause__ is not None
    assert sorted(os.listdir(tmp_path / "abc")) == ["dir"]


async def test_deleting_the_last_file_removes_the_session_folder(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path / "root")
    await storage.store_session("abc", {}, "a/b/c.json")
    assert await storage.delete_session("abc", "a/b/c.json") is True
    assert os.listdir(tmp_path / "root") == []
    assert await storage.list_sessions() == []


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
    assert list(err.errors) == ["x1"] and isinstance(err.errors["x1"], BackendError)
    assert "'x1'" in str(err.errors["x1"]) and "file:" in str(err.errors["x1"])
    assert sorted(err.results) == ["x0", "x2", "x3"]
    loaded = await storage.load_sessions(["x0", "x2", "x3"])
    assert [(s or {})["i"] for s in loaded.values()] == [0, 2, 3]
    assert sorted(os.listdir(tmp_path / "x1")) == ["state.json"]  # still the folder, no temp


async def test_listing_pages_read_only_what_they_need(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path)
    ids = [f"s{i:03d}" for i in range(300)]
    await storage.store_sessions({i: {} for i in ids})
    (tmp_path / "s050-file-not-folder").write_bytes(b"{}")  # loose files are not sessions
    assert await storage.list_sessions(limit=3) == ids[:3]
    assert await storage.list_sessions(limit=3, start_after="s149") == ids[150:153]
    assert await storage.list_sessions(prefix="s29", limit=20) == ids[290:]
    assert [i async for i in storage.iter_sessions(start_after="s295")] == ids[296:]
