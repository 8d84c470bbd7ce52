"""``session-storage cp`` of a store in use, as a subprocess: every copied stream is a
consistent snapshot; a stream that cannot be copied whole fails the command."""

from __future__ import annotations

import json
import os
from pathlib import Path

from session_storage import SyncSessionStorage

from ..admin.live_writer import READY_AT, SESSION, STREAM, appending, check_snapshot
from .test_cli import one_line_error, run_cli

COPIES = 6


def test_cp_of_a_local_store_in_use_copies_consistent_streams(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    with SyncSessionStorage(src) as storage:
        for i in range(200):
            storage.store_session(f"other-{i:03d}", {"i": i})
    retries = 0
    with appending(str(src), {}, tmp_path) as writer:
        for _ in range(COPIES):
            before = writer.count()
            done = run_cli("cp", str(src), str(dst), "--json")
            assert done.returncode == 0, done.stderr
            report = json.loads(done.stdout)
            assert (report["streams"], report["vanished"]) == (1, 0)
            retries += report["stream_retries"]
            with SyncSessionStorage(dst) as copy:
                events = copy.read_events(SESSION, STREAM)
                check_snapshot(events, copy.load_session(SESSION), before)
            writer.wait_for_appends(6)
    print(f"\nfile: {COPIES} `cp` runs under appends, all consistent; {retries} stream retries")
    with SyncSessionStorage(dst) as copy:
        assert copy.event_count(SESSION, STREAM) <= writer.appended


def test_cp_of_a_stream_missing_a_segment_fails_naming_it(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    with SyncSessionStorage(src) as storage:
        storage.append_events(SESSION, STREAM, list(range(READY_AT)))
        storage.store_session("other", {})
    os.remove(next((src / SESSION / STREAM).glob("seg-000000000000-*.json")))
    done = run_cli("cp", str(src), str(dst), "--json")
    assert done.returncode == 4 and done.stdout == ""
    line = one_line_error(done)
    assert "cannot copy event stream of session 'chat' file 'log'" in line
    assert "a segment its tail names is missing" in line
    with SyncSessionStorage(dst) as copy:
        assert copy.event_count(SESSION, STREAM) == 0  # no tail naming a missing segment
