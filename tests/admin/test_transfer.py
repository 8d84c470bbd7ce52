"""copy_sessions between backends: what is copied, what is skipped, what it reports."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from session_storage import CopyProgress, InvalidArgumentError, SessionStorage, copy_sessions


def memory() -> SessionStorage:
    return SessionStorage(f"memory://copy-{uuid.uuid4().hex}")


async def test_copy_skips_identical_files_and_reports_progress(tmp_path: Path) -> None:
    async with memory() as src, SessionStorage(tmp_path) as dst:
        await src.store_session("a", {"v": 1})
        await src.store_bytes("a", "deep/blob.bin", b"0123456789")
        await src.store_session("b", {"v": 2})
        await src.narrow("tenant").store_session("t", {"v": 3})
        seen: list[CopyProgress] = []
        first = await copy_sessions(src, dst, progress=seen.append)
        assert (first.sessions, first.files, first.copied, first.skipped) == (3, 4, 4, 0)
        assert first.bytes_copied == seen[-1].bytes_total
        assert [p.files_done for p in seen] == [1, 2, 3, 4]
        assert seen[-1].bytes_done == seen[-1].bytes_total
        for session_id, name in [("a", "state.json"), ("a", "deep/blob.bin"), ("b", "state.json")]:
            assert await dst.load_bytes(session_id, name) == await src.load_bytes(session_id, name)
        assert (await dst.narrow("tenant").load_session("t") or {})["v"] == 3

        await src.store_bytes("a", "deep/blob.bin", b"9876543210")  # same size, new bytes
        await dst.store_bytes("b", "state.json", b"{}")  # changed at the destination
        await dst.store_session("only-there", {})  # never deleted by a copy
        b_size = len(await src.load_bytes("b", "state.json") or b"")
        second = await copy_sessions(src, dst, max_concurrency=1)
        assert (second.copied, second.skipped, second.bytes_copied) == (2, 2, 10 + b_size)
        assert await dst.load_bytes("a", "deep/blob.bin") == b"9876543210"
        assert await dst.list_sessions() == ["a", "b", "only-there", "tenant"]


async def test_copy_of_an_empty_storage_does_nothing() -> None:
    async with memory() as src, memory() as dst:
        result = await copy_sessions(src, dst)
        assert (result.sessions, result.files, result.copied) == (0, 0, 0)


async def test_copy_to_s3_and_back(make_s3_storage: Callable[..., SessionStorage]) -> None:
    async with memory() as src, make_s3_storage("prefix") as s3, memory() as back:
        for i in range(30):
            await src.store_session(f"s{i}", {"i": i})
        await src.store_bytes("☃", "a b/c.bin", bytes(range(256)))
        assert (await copy_sessions(src, s3)).copied == 31
        assert (await copy_sessions(s3, back)).copied == 31
        files = [(m["session_id"], m["filename"]) async for m in src.iter_file_metadata()]
        for session_id, name in files:
            assert await back.load_bytes(session_id, name) == await src.load_bytes(session_id, name)
        assert (await copy_sessions(src, s3)).skipped == 31


async def test_bad_concurrency_is_refused() -> None:
    async with memory() as src, memory() as dst:
        with pytest.raises(InvalidArgumentError, match="max_concurrency"):
            await copy_sessions(src, dst, max_concurrency=0)


async def test_the_old_concurrency_keyword_still_works_with_a_warning() -> None:
    async with memory() as src, memory() as dst:
        await src.store_session("a", {})
        with pytest.warns(DeprecationWarning, match="max_concurrency"):
            result = await copy_sessions(src, dst, concurrency=1)
        assert result.copied == 1
        with pytest.warns(DeprecationWarning), pytest.raises(InvalidArgumentError):
            await copy_sessions(src, dst, concurrency=0)
