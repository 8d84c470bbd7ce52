"""Small local reads without a worker-thread hop: when they happen, and when they must not.

A load of a small file the page cache holds is read on the event loop's thread; data
not in memory, a large file, a file system that cannot answer without waiting, or a
read that turned out slow all go to a worker thread, and every answer (data, version,
missing, refused) is the one the worker thread gives.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from session_storage import SessionStorage
from session_storage.backends.local import inline
from session_storage.backends.local.inline import (
    INLINE_LIMIT,
    WOULD_BLOCK,
    InlineReads,
    filesystem_type,
)
from session_storage.backends.local.paths import LocalRoot, UnsafePath
from session_storage.backends.local.read import read_file
from session_storage.backends.local.write import write

from ...support.required import require, unavailable

require(hasattr(os, "RWF_NOWAIT"), "reads without waiting are Linux's (RWF_NOWAIT)")


class CountingExecutor(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor, counting what is handed to its threads."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
async def hops(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[CountingExecutor]:
    # A busy host can make one inline read take over 1 ms, which sends the next reads
    # to threads for a while (tested on its own below): not what these tests count.
    monkeypatch.setattr(inline, "SLOW_NS", 10**12)
    executor = CountingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    yield executor


@pytest.fixture
def on_disk(tmp_path: Path) -> Path:
    kind = filesystem_type(os.path.realpath(tmp_path))
    assert kind in inline._DISK_TYPES, f"the tests' tmp folder is on {kind}, not a disk"
    return tmp_path


async def test_a_cached_small_file_is_read_without_a_hop(
    on_disk: Path, hops: CountingExecutor
) -> None:
    storage = SessionStorage(on_disk, {"fsync": False})
    await storage.store_session("s", {"n": 1})
    before = hops.submitted
    for _ in range(3):
        assert (await storage.load_session("s") or {})["n"] == 1
    assert hops.submitted == before
    assert await storage.load_session("missing") is None
    assert hops.submitted == before


def _drop_from_memory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


async def test_data_not_in_memory_is_read_in_a_thread(
    on_disk: Path, hops: CountingExecutor
) -> None:
    storage = SessionStorage(on_disk)  # fsync on: the pages are clean and can be dropped
    await storage.store_session("s", {"n": 2})
    path = on_disk / "s" / "state.json"
    _drop_from_memory(path)
    before = hops.submitted
    assert (await storage.load_session("s") or {})["n"] == 2
    assert hops.submitted == before + 1
    before = hops.submitted
    assert (await storage.load_session("s") or {})["n"] == 2  # now cached: no hop
    assert hops.submitted == before

    _drop_from_memory(path)
    reads = InlineReads(LocalRoot(str(on_disk)))
    assert reads.read(str(path)) is WOULD_BLOCK  # the kernel would have gone to the disk
    assert reads._mode == "nowait"  # and the store keeps trying next time


async def test_a_large_file_is_read_in_a_thread(on_disk: Path, hops: CountingExecutor) -> None:
    storage = SessionStorage(on_disk, {"fsync": False})
    big = {"fill": "x" * INLINE_LIMIT}
    await storage.store_session("big", big)
    before = hops.submitted
    assert (await storage.load_session("big") or {})["fill"] == big["fill"]
    assert hops.submitted == before + 1


def _outcome(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:  # the kind of refusal is what must match
        return type(exc)


def _cases(root: Path) -> dict[str, str]:
    """Paths below ``root`` for every kind of answer a read can give."""
    os.makedirs(root / "s")
    (root / "s" / "state.json").write_bytes(b'{"a":1}')
    (root / "s" / "empty").write_bytes(b"")
    (root / "s" / "limit").write_bytes(b"y" * INLINE_LIMIT)
    os.makedirs(root / "s" / "folder")
    os.symlink(root / "s" / "state.json", root / "s" / "link")
    os.symlink(root / "s", root / "linked")
    os.mkfifo(root / "s" / "fifo")
    names = ["state.json", "empty", "limit", "folder", "link", "fifo", "missing"]
    paths = {name: str(root / "s" / name) for name in names}
    paths["missing folder"] = str(root / "nothing" / "state.json")
    paths["below a link"] = str(root / "linked" / "state.json")
    paths["below a file"] = str(root / "s" / "state.json" / "x")
    return paths


def test_every_answer_is_the_worker_threads(on_disk: Path) -> None:
    root = LocalRoot(str(on_disk))
    reads = InlineReads(root)
    paths = _cases(on_disk)
    answers = {name: _outcome(lambda p=p: reads.read(p)) for name, p in paths.items()}
    for name, path in paths.items():
        assert answers[name] == _outcome(lambda p=path: read_file(root, p)), name
    assert answers["link"] is UnsafePath and answers["fifo"] is UnsafePath
    assert answers["below a link"] is UnsafePath
    assert answers["state.json"][0] == b'{"a":1}'  # type: ignore[index]


def test_a_version_is_that_of_the_bytes_read(on_disk: Path) -> None:
    root = LocalRoot(str(on_disk))
    reads = InlineReads(root)
    path = f"{on_disk}/s/state.json"
    first = write(root, path, b"1", None, False, True, False)
    assert reads.read(path) == (b"1", first)
    second = write(root, path, b"22", first, False, True, False)
    assert reads.read(path) == (b"22", second) and second != first


def test_a_slow_read_sends_reads_to_threads_for_a_while(
    on_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = LocalRoot(str(on_disk))
    path = f"{on_disk}/s/state.json"
    write(root, path, b"{}", None, False, True, False)
    reads = InlineReads(root)
    monkeypatch.setattr(inline, "SLOW_NS", -1)  # every read counts as slow
    assert reads.read(path) == read_file(root, path)  # the slow read still answers
    assert reads.read(path) is WOULD_BLOCK  # paused
    monkeypatch.setattr(inline, "SLOW_NS", 10**12)
    reads._resume_at = 1.0  # the pause is over
    assert reads.read(path) == read_file(root, path)


def _memory_folder() -> str:
    if os.path.isdir("/dev/shm") and filesystem_type("/dev/shm") == "tmpfs":
        return "/dev/shm"
    unavailable("no tmpfs at /dev/shm")


def test_tmpfs_is_read_plainly_and_a_refusal_turns_inline_off(tmp_path: Path) -> None:
    folder = Path(_memory_folder()) / tmp_path.name
    try:
        root = LocalRoot(str(folder))
        path = f"{folder}/s/state.json"
        write(root, path, b"[1]", None, False, True, False)
        reads = InlineReads(root)
        assert reads.read(path) == read_file(root, path)
        assert reads._mode == "memory"
        # A file system that refuses RWF_NOWAIT (tmpfs does): never asked again.
        reads._mode = "nowait"
        assert reads.read(path) is WOULD_BLOCK
        assert reads._mode == "off"
        assert reads.read(path) is WOULD_BLOCK
    finally:
        for dirpath, dirnames, filenames in os.walk(folder, topdown=False):
            for name in filenames:
                os.unlink(os.path.join(dirpath, name))
            for name in dirnames:
                os.rmdir(os.path.join(dirpath, name))
        os.rmdir(folder)


def test_the_mount_holding_a_path(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "30 22 0:40 / /mnt/data rw - nfs4 server:/export rw\n"
        "31 22 0:41 / /mnt/data\\040two rw - xfs /dev/sdb1 rw\n"
        "32 30 0:42 / /mnt/data/fast rw - tmpfs tmpfs rw\n"
        "33 30 0:43 / /mnt/data/fast rw - btrfs /dev/sdc1 rw\n"
        "garbage line\n"
    )

    def kind(path: str) -> str | None:
        return filesystem_type(path, str(mountinfo))

    assert kind("/home/me/sessions") == "ext4"
    assert kind("/mnt/data") == "nfs4"
    assert kind("/mnt/data/sessions") == "nfs4"
    assert kind("/mnt/database") == "ext4"  # a longer name is not below /mnt/data
    assert kind("/mnt/data two/x") == "xfs"  # octal escapes decoded
    assert kind("/mnt/data/fast/x") == "btrfs"  # stacked: the last mount listed
    assert filesystem_type("/x", str(tmp_path / "absent")) is None


async def test_a_polling_task_lets_the_writer_run(on_disk: Path) -> None:
    storage = SessionStorage(on_disk, {"fsync": False})
    await storage.store_session("job", {"done": False})

    async def finish() -> None:
        await storage.store_session("job", {"done": True})

    task = asyncio.create_task(finish())
    for _ in range(100_000):
        state = await storage.load_session("job")
        if state is not None and state["done"]:
            break
    else:
        pytest.fail("loads never let the writing task run")
    await task
    assert orjson.loads((on_disk / "job" / "state.json").read_bytes())["done"] is True
