"""Retention on memory, file and S3, and the list_file_infos primitive it rests on.

Ages are made testable without sleeping in two honest ways: on local disk the files'
modification times are set back with os.utime, and in memory the stored objects'
times are set back through the storage's own filesystem; on S3, whose times only the
server sets, the policy is run with ``now`` in the future (everything stored so far
is then old) or exactly at a file's own modification time (that file is not older).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from session_storage import InvalidArgumentError, SessionStorage
from session_storage.backends import Driver
from session_storage.operations.retention import delete_if_expired, newest_by_session

from ..backends.test_s3 import kinds
from ..support.cloud import RequestLog

Factory = Callable[[], SessionStorage]
DAY = timedelta(days=1)


async def age_file(storage: SessionStorage, session_id: str, filename: str, days: float) -> None:
    """Set a stored file's modification time ``days`` back (file and memory only)."""
    when = datetime.now(timezone.utc) - timedelta(days=days)
    folder = storage._scope.folder(session_id).path
    path = storage._scope.file(session_id, filename).path
    assert path.startswith(folder)
    if storage.backend == "file":
        os.utime(path, (when.timestamp(), when.timestamp()))
    elif storage.backend == "memory":
        storage.filesystem.sync_fs.store[path].modified = when
    else:
        raise AssertionError(f"cannot age files on {storage.backend}")


async def test_everything_stored_is_older_than_a_future_cutoff(make: Factory) -> None:
    async with make() as storage:
        await storage.store_session("a", {})
        await storage.store_session("b", {}, "nested/x.json")
        tenant = storage.narrow("tenant")
        await tenant.store_session("t1", {})
        future = datetime.now(timezone.utc) + 2 * DAY
        assert await storage.delete_sessions_older_than(DAY) == []
        assert await storage.delete_sessions_older_than(DAY, dry_run=True, now=future) == [
            "a",
            "b",
            "tenant",
        ]
        assert await storage.list_sessions() == ["a", "b", "tenant"]  # dry run deleted nothing
        assert await storage.delete_sessions_older_than(DAY, now=future) == ["a", "b", "tenant"]
        assert await storage.list_sessions() == []
        assert await tenant.list_sessions() == []
        assert await storage.delete_sessions_older_than(0, now=future) == []


async def test_a_file_exactly_at_the_cutoff_is_not_older(make: Factory) -> None:
    async with make() as storage:
        await storage.store_session("a", {})
        meta = await storage.get_session_metadata("a")
        assert meta is not None
        at = meta["modified"]
        assert await storage.delete_sessions_older_than(0, now=at) == []
        assert await storage.delete_sessions_older_than(0, now=at + timedelta(seconds=1)) == ["a"]


@pytest.mark.parametrize("backend", ["memory", "file"])
async def test_only_sessions_whose_newest_file_is_old_go(backend: str, tmp_path: Path) -> None:
    url = f"memory://gc-{uuid.uuid4().hex}" if backend == "memory" else str(tmp_path / "root")
    async with SessionStorage(url) as storage:
        for session_id in ("old", "young", "mixed", "☃ old/../x"):
            await storage.store_session(session_id, {})
        await storage.store_session("mixed", {}, "checkpoints/001.json")
        await age_file(storage, "old", "state.json", 40)
        await age_file(storage, "☃ old/../x", "state.json", 31)
        await age_file(storage, "young", "state.json", 29)
        await age_file(storage, "mixed", "state.json", 90)  # its checkpoint is new
        expired = ["old", "☃ old/../x"]
        assert await storage.delete_sessions_older_than(30 * DAY, dry_run=True) == expired
        assert await storage.delete_sessions_older_than(timedelta(days=30)) == expired
        assert await storage.list_sessions() == ["mixed", "young"]
        assert await storage.list_files("mixed") == ["checkpoints/001.json", "state.json"]
        assert await storage.delete_sessions_older_than(28 * 86400) == ["young"]


async def test_a_session_written_after_the_scan_is_kept(tmp_path: Path) -> None:
    async with SessionStorage(tmp_path) as storage:
        await storage.store_session("busy", {})
        await age_file(storage, "busy", "state.json", 40)
        cutoff = datetime.now(timezone.utc) - 30 * DAY
        scope = storage._scope
        driver, root = scope.driver, scope.root
        newest = await newest_by_session(driver, root)
        assert newest["busy"] < cutoff  # the scan found it expired
        await storage.store_session("busy", {"turn": 2}, "turn.json")  # then it was written
        assert await delete_if_expired(scope, f"{root}/busy", cutoff) is False
        assert await storage.list_files("busy") == ["state.json", "turn.json"]


async def test_bad_ages_are_refused(make: Factory) -> None:
    async with make() as storage:
        with pytest.raises(InvalidArgumentError, match="negative"):
            await storage.delete_sessions_older_than(-1)
        with pytest.raises(InvalidArgumentError, match="age must be a timedelta"):
            await storage.delete_sessions_older_than("30d")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="aware"):
            await storage.delete_sessions_older_than(DAY, now=datetime.now())


async def test_loose_files_and_foreign_folders_are_left_alone(make: Factory) -> None:
    async with make() as storage:
        await storage.store_session("mine", {})
        fs = storage.filesystem
        root = fs._strip_protocol(storage.url).rstrip("/")
        await fs._pipe_file(f"{root}/loose.json", b"{}")
        await fs._pipe_file(f"{root}/Not~Ours/state.json", b"{}")
        future = datetime.now(timezone.utc) + DAY
        assert await storage.delete_sessions_older_than(0, now=future) == ["mine"]
        assert await fs._cat_file(f"{root}/loose.json") == b"{}"
        assert await fs._cat_file(f"{root}/Not~Ours/state.json") == b"{}"


async def test_list_file_infos_override_agrees_with_the_default(make: Factory) -> None:
    """The base-class default (list_files + info) and each backend's one-pass override
    report the same files with the same sizes, times and versions."""
    async with make() as storage:
        await storage.store_session("a", {"v": 1})
        await storage.store_bytes("a", "deep/er/blob.bin", b"x" * 1234)
        await storage.store_session("b", {})
        driver, root = storage._scope.driver, storage._scope.root
        fast = {p: i async for page in driver.list_file_infos(root) for p, i in page}
        default = {p: i async for page in Driver.list_file_infos(driver, root) for p, i in page}
        assert fast == default
        assert sorted(fast) == sorted(await driver.list_files(root))
        assert fast[storage._scope.file("a", "deep/er/blob.bin").path].size == 1234
        assert [x async for x in driver.list_file_infos(f"{root}/missing")] == []


async def test_s3_retention_request_counts(
    make_s3_storage: Callable[..., SessionStorage], s3_requests: RequestLog
) -> None:
    async with make_s3_storage() as storage:
        for i in range(5):
            await storage.store_session(f"s{i}", {})
            await storage.store_session(f"s{i}", {}, "extra.json")
        s3_requests.take()
        future = datetime.now(timezone.utc) + DAY
        assert len(await storage.delete_sessions_older_than(0, dry_run=True, now=future)) == 5
        scan = kinds(s3_requests.take())
        assert await storage.delete_sessions_older_than(0, now=future) == [
            f"s{i}" for i in range(5)
        ]
        delete = kinds(s3_requests.take())
        print(f"\ns3 retention of 5 sessions x 2 files: scan {scan}, delete {sorted(delete)}")
        assert scan == ["LIST"]  # one LIST per 1000 files for the whole root
        assert sorted(delete) == ["DELETE_BATCH"] * 5 + ["LIST"] * 6
