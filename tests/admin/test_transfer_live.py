"""copy_sessions of a store in use: every copied stream is a consistent snapshot, or the
copy fails naming it; files that vanish are reported, unreadable ones fail the copy."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from session_storage import (
    ConflictError,
    CopyProgress,
    CorruptDataError,
    SessionStorage,
    SyncSessionStorage,
    UnsafePathError,
    copy_sessions,
)
from session_storage.pytest_plugin import s3_storage_options

from ..support.cloud import RequestLog
from .live_writer import READY_AT, SESSION, STREAM, appending, check_snapshot

COPIES_LOCAL = 8
COPIES_S3 = 6


async def _fill(storage: SessionStorage, sessions: int) -> None:
    """Other sessions, so that listing and copying them gives the writer time to seal
    segments the listing did not see."""
    for i in range(sessions):
        await storage.store_session(f"other-{i:03d}", {"i": i, "text": "y" * i})


async def _copies_under_load(
    src: SessionStorage,
    dst: SessionStorage,
    url: str,
    options: dict[str, Any],
    workdir: Path,
    copies: int,
    cut_every: int = 0,
) -> tuple[int, int, int]:
    """``copies`` copies while a child appends; each checked. Returns the copies whose
    stream tail named segments sealed after the listing, the segments so found, and
    the stream retries."""
    raced = found = retries = 0
    with appending(url, options, workdir, cut_every) as writer:
        for _ in range(copies):
            before = writer.count()
            seen: list[CopyProgress] = []
            result = await copy_sessions(src, dst, progress=seen.append)
            late = seen[-1].files_total - seen[0].files_total
            raced += late > 0
            found += late
            retries += result.stream_retries
            assert result.streams == 1
            assert result.vanished == 0 or cut_every  # a truncate deletes listed segments
            assert seen[-1].bytes_done == seen[-1].bytes_total
            events = await dst.read_events(SESSION, STREAM)
            # A truncate may shorten the stream after the copy began.
            check_snapshot(events, await dst.load_session(SESSION), 0 if cut_every else before)
            writer.wait_for_appends(6)  # about 150 events (one segment) or more since
    # After the writer stopped, a quiet copy gives its whole stream.
    result = await copy_sessions(src, dst)
    assert result.stream_retries == 0
    assert await dst.read_events(SESSION, STREAM) == list(range(writer.appended))
    return raced, found, retries


async def test_copies_of_a_local_store_in_use_hold_consistent_streams(tmp_path: Path) -> None:
    url = str(tmp_path / "src")
    async with SessionStorage(url) as src, SessionStorage(tmp_path / "dst") as dst:
        await _fill(src, 300)
        raced, found, retries = await _copies_under_load(src, dst, url, {}, tmp_path, COPIES_LOCAL)
    print(
        f"\nfile: {COPIES_LOCAL} copies under appends: {raced} found segments sealed after "
        f"the listing ({found} in all), {retries} stream retries"
    )
    # Each copy starts once a segment was sealed since the one before, on a store of
    # 300 other sessions: the tails of most name segments the listings did not have.
    assert raced >= 1


async def test_copies_of_a_local_store_appended_to_and_truncated_hold_consistent_streams(
    tmp_path: Path,
) -> None:
    url = str(tmp_path / "src")
    async with SessionStorage(url) as src, SessionStorage(tmp_path / "dst") as dst:
        await _fill(src, 300)
        raced, found, retries = await _copies_under_load(
            src, dst, url, {}, tmp_path, COPIES_LOCAL, cut_every=3
        )
    print(
        f"\nfile: {COPIES_LOCAL} copies under appends and truncates: {raced} found segments "
        f"sealed after the listing ({found} in all), {retries} stream retries"
    )


async def test_copies_of_an_s3_store_in_use_hold_consistent_streams(
    tmp_path: Path, moto_s3_server: str, make_s3_storage: Callable[..., SessionStorage]
) -> None:
    async with make_s3_storage() as src, make_s3_storage() as dst:
        await _fill(src, 20)
        url = src.url
        raced, found, retries = await _copies_under_load(
            src, dst, url, s3_storage_options(moto_s3_server), tmp_path, COPIES_S3
        )
    print(
        f"\ns3: {COPIES_S3} copies under appends: {raced} found segments sealed after "
        f"the listing ({found} in all), {retries} stream retries"
    )
    assert raced >= 1


def _rewrite(root: Path) -> Callable[[CopyProgress], None]:
    """A progress callback that, after every file the copy finishes, truncates the
    source stream to nothing and appends its 300 items again: every segment the copy
    saw is deleted, and the new tail names new ones."""

    def rewrite(_: CopyProgress) -> None:
        with SyncSessionStorage(root) as other:
            other.truncate_events(SESSION, STREAM, 0)
            other.append_events(SESSION, STREAM, list(range(READY_AT)))

    return rewrite


async def test_a_stream_rewritten_under_every_read_fails_the_copy_naming_it(
    tmp_path: Path,
) -> None:
    async with SessionStorage(tmp_path / "src") as src, SessionStorage(tmp_path / "dst") as dst:
        await src.append_events(SESSION, STREAM, list(range(READY_AT)))
        await src.store_session(SESSION, {"count": READY_AT, "pad": ""})
        assert (await copy_sessions(src, dst)).streams == 1
        await src.append_events(SESSION, STREAM, ["more"])
        with pytest.raises(ConflictError) as caught:
            await copy_sessions(src, dst, progress=_rewrite(tmp_path / "src"))
        error = caught.value
        assert (error.session_id, error.filename, error.backend) == (SESSION, STREAM, "file")
        assert "copy event stream of session 'chat' file 'log'" in str(error)
        assert "under 10 reads in a row" in str(error)
        # The destination's stream is the one copied before, whole.
        assert await dst.read_events(SESSION, STREAM) == list(range(READY_AT))


async def test_a_stream_missing_a_segment_its_tail_names_fails_the_copy(tmp_path: Path) -> None:
    async with SessionStorage(tmp_path / "src") as src, SessionStorage(tmp_path / "dst") as dst:
        await src.append_events(SESSION, STREAM, list(range(READY_AT)))
        segment = next((tmp_path / "src" / SESSION / STREAM).glob("seg-000000000128-*.json"))
        os.remove(segment)
        with pytest.raises(CorruptDataError, match="a segment its tail names is missing") as caught:
            await copy_sessions(src, dst)
        assert (caught.value.session_id, caught.value.filename) == (SESSION, STREAM)
        assert await dst.event_count(SESSION, STREAM) == 0  # no tail was written


async def test_a_file_deleted_after_the_listing_is_counted_as_vanished(tmp_path: Path) -> None:
    root = tmp_path / "src"
    async with SessionStorage(root) as src, SessionStorage(tmp_path / "dst") as dst:
        for name in ("a", "b", "c"):
            await src.store_session(name, {"name": name})

        def delete_c(progress: CopyProgress) -> None:
            if progress.files_done == 1:  # files are copied in order, one at a time here
                os.remove(root / "c" / "state.json")

        result = await copy_sessions(src, dst, max_concurrency=1, progress=delete_c)
        assert (result.files, result.copied, result.vanished) == (3, 2, 1)
        assert await dst.list_sessions() == ["a", "b"]


async def test_a_file_that_cannot_be_read_fails_the_copy(tmp_path: Path) -> None:
    root = tmp_path / "src"
    async with SessionStorage(root) as src, SessionStorage(tmp_path / "dst") as dst:
        for name in ("a", "b"):
            await src.store_session(name, {"name": name})

        def fifo_for_b(progress: CopyProgress) -> None:
            if progress.files_done == 1:
                os.remove(root / "b" / "state.json")
                os.mkfifo(root / "b" / "state.json")

        with pytest.raises(UnsafePathError) as caught:
            await copy_sessions(src, dst, max_concurrency=1, progress=fifo_for_b)
        assert caught.value.session_id == "b"


async def test_a_quiet_copy_reads_each_source_file_once(
    make_s3_storage: Callable[..., SessionStorage], s3_requests: RequestLog
) -> None:
    async with make_s3_storage() as src, SessionStorage(f"memory://q-{uuid.uuid4().hex}") as dst:
        await src.append_events(SESSION, STREAM, list(range(1000)))  # 7 sealed segments
        await src.store_session(SESSION, {"count": 1000, "pad": ""})
        await src.store_session("other", {})
        files = len(await src.list_files(SESSION)) + 1
        s3_requests.take()
        result = await copy_sessions(src, dst)
        requests = s3_requests.take()
    assert (result.files, result.copied, result.streams) == (files, files, 1)
    lists = [target for method, target in requests if "list-type" in target]
    gets = [target for method, target in requests if method == "GET" and "list-type" not in target]
    assert len(lists) == 1  # one listing of the source root
    assert sorted(gets) == sorted(set(gets)) and len(gets) == files  # each file read once
    assert await dst.read_events(SESSION, STREAM) == list(range(1000))
