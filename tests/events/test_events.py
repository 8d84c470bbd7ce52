"""The event-log layout: tail and sealed segments, records, keys, garbage, corruption.

The layout is the same on every backend, so memory and local disk stand for all of
them here; tests/events/test_events_workers.py and the contract suite cover the rest.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from session_storage import CorruptDataError, EventRecord, SessionStorage
from session_storage.events.documents import Events, Stored
from session_storage.events.layout import TAIL_NAME, segment_name
from session_storage.operations.events import KEY_WINDOW, SEGMENT_SIZE

from ..support.contract import Raw

S = SEGMENT_SIZE


@pytest.fixture(params=["memory", "file"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStorage]:
    url = f"memory://events-{uuid.uuid4().hex}" if request.param == "memory" else str(tmp_path)
    async with SessionStorage(url) as storage:
        yield storage


def cold(storage: SessionStorage) -> SessionStorage:
    """A storage that has seen nothing (memory: the same object; its caches do not
    change what is read, only how many requests it takes)."""
    if storage.backend == "memory":
        return storage
    return SessionStorage.from_settings(storage.settings)


async def test_segments_are_sealed_at_fixed_size(storage: SessionStorage) -> None:
    raw = Raw(storage)
    assert await storage.append_events("s", "log", list(range(S - 1))) == 0
    assert await raw.files() == [f"s/log/{TAIL_NAME}"]
    assert await storage.append_event("s", "log", S - 1) == S - 1  # fills: sealed
    names = [name.rpartition("/")[2] for name in await raw.files()]
    assert len(names) == 2 and names[0].startswith("seg-000000000000-") and names[1] == TAIL_NAME
    tail = orjson.loads(await raw.get(f"s/log/{TAIL_NAME}"))
    assert tail["first"] == S and tail["events"] == []
    assert tail["prev"]["first"] == 0 and names[0] == segment_name(0, tail["prev"]["id"])
    segment = orjson.loads(await raw.get(f"s/log/{names[0]}"))
    assert [event["v"] for event in segment["events"]] == list(range(S))
    # A batch larger than a segment seals as many as it fills, in one append.
    assert await storage.append_events("s", "log", list(range(S, 4 * S + 5))) == S
    assert len(await raw.files()) == 5
    reader = cold(storage)
    assert await reader.read_events("s", "log") == list(range(4 * S + 5))
    assert await reader.read_events("s", "log", -7) == list(range(4 * S - 2, 4 * S + 5))
    assert await reader.read_events("s", "log", S - 2, 4) == [S - 2, S - 1, S, S + 1]
    assert await reader.event_count("s", "log") == 4 * S + 5
    assert [i async for i in reader.iter_events("s", "log", -300, page_size=64)] == list(
        range(4 * S + 5 - 300, 4 * S + 5)
    )
    if reader is not storage:
        await reader.aclose()


async def test_records_carry_index_and_utc_append_time(storage: SessionStorage) -> None:
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    await storage.append_events("s", "log", [{"a": 1}, {"b": 2}])
    records = await storage.read_events("s", "log", with_records=True)
    assert [(r.index, r.item) for r in records] == [(0, {"a": 1}), (1, {"b": 2})]
    assert all(isinstance(r, EventRecord) for r in records)
    stamp = records[0].appended_at
    assert stamp.tzinfo is not None and stamp.utcoffset() == timedelta(0)
    assert before <= stamp <= datetime.now(timezone.utc)
    later = [r async for r in storage.iter_events("s", "log", -1, with_records=True)]
    assert [(r.index, r.item) for r in later] == [(1, {"b": 2})]


async def test_records_unpack_as_index_time_item(storage: SessionStorage) -> None:
    await storage.append_events("s", "log", ["a", "b"])
    for index, appended_at, item in await storage.read_events("s", "log", with_records=True):
        assert isinstance(index, int) and isinstance(appended_at, datetime)
        assert item == "ab"[index]
    (record,) = [r async for r in storage.iter_events("s", "log", 1, with_records=True)]
    index, appended_at, item = record
    assert (index, item) == (record.index, record.item) == (1, "b")
    assert appended_at is record.appended_at and tuple(record) == (1, appended_at, "b")


async def test_an_item_changed_after_appending_stays_as_appended(storage: SessionStorage) -> None:
    item = {"text": "hi", "tags": ["a"]}
    await storage.append_event("s", "log", item)
    item["tags"].append("changed after the append")
    await storage.append_event("s", "log", 2)  # rewrites the tail from what it holds
    got = await storage.read_events("s", "log")
    assert got == [{"text": "hi", "tags": ["a"]}, 2]
    got[0]["text"] = "a reader's change"
    assert (await storage.read_events("s", "log"))[0]["text"] == "hi"


async def test_a_reader_changing_what_it_read_changes_nothing_stored(
    storage: SessionStorage,
) -> None:
    # Read cold, items come straight from the parsed documents; the caches keep the
    # documents' bytes, so neither a second read nor a rewrite of the tail sees the change.
    await storage.append_events("s", "log", [{"n": n, "tags": []} for n in range(S + 3)])
    reader = cold(storage)
    if reader is storage:
        storage._scope.shared.event_logs.forget(storage._scope.root)
    for _ in range(2):  # read cold, then from the cache
        got = await reader.read_events("s", "log")
        records = await reader.read_events("s", "log", -2, with_records=True)
        for item in [*got, *(record.item for record in records)]:
            item["tags"].append("changed by a reader")
    expected = [{"n": n, "tags": []} for n in range(S + 3)]
    assert await reader.read_events("s", "log") == expected
    await reader.append_event("s", "log", "after")  # rewrites the tail it fetched
    assert await reader.read_events("s", "log") == [*expected, "after"]
    assert await reader.pop_events("s", "log", 5) == [*expected[-4:], "after"]
    assert await reader.read_events("s", "log", S - 2) == expected[S - 2 : S - 1]
    if reader is not storage:
        await reader.aclose()


@pytest.mark.parametrize(
    ("event", "with_records"),
    [
        ({"v": 1}, False),
        ("v", False),
        ({"t": "2026-01-01T00:00:00+00:00"}, False),
        ({"t": "not a time", "v": 1}, True),
    ],
)
async def test_an_unreadable_event_is_reported_by_its_index(
    storage: SessionStorage, event: object, with_records: bool
) -> None:
    raw = Raw(storage)
    good = {"t": "2026-01-01T00:00:00+00:00", "v": 0}
    await raw.put(
        f"s/log/{TAIL_NAME}",
        orjson.dumps({"first": 0, "events": [good, good, event, good], "prev": None, "id": "x"}),
    )
    reader = cold(storage)
    if reader is storage:
        storage._scope.shared.event_logs.forget(storage._scope.root)
    with pytest.raises(CorruptDataError) as info:
        await reader.read_events("s", "log", 1, with_records=with_records)
    assert "event 2 is unreadable" in str(info.value) and "'s'" in str(info.value)
    assert await reader.read_events("s", "log", 0, 2) == [0, 0]  # the rest still reads
    if reader is not storage:
        await reader.aclose()


def test_events_slice_and_join_across_stored_and_encoded_parts() -> None:
    stored = orjson.dumps({"events": [{"t": "x", "v": n} for n in range(5)]})
    events = Events((Stored(stored, 1, 4),)) + Events.of((b'{"t":"x","v":9}',))
    events += Events.of((b'{"t":"x","v":10}',))
    assert len(events) == 5 and len(events.parts) == 2  # encoded runs merge
    assert [e["v"] for e in events.values()] == [1, 2, 3, 9, 10]
    assert [e["v"] for e in events[2:4].values()] == [3, 9]
    assert events[1:1].parts == () and events[:0] + events[3:] == events[3:]
    encoded = events.encoded()
    assert all(isinstance(part, tuple) for part in encoded.parts)
    assert orjson.loads(encoded.array()) == events.values() == orjson.loads(events.array())


async def test_keys_are_remembered_for_a_window_and_forgotten_when_dropped(
    storage: SessionStorage,
) -> None:
    assert await storage.append_events("s", "log", ["a", "b"], idempotency_key="turn-1") == 0
    assert await storage.append_events("s", "log", ["a", "b"], idempotency_key="turn-1") == 0
    assert await storage.append_event("s", "log", "x", idempotency_key="long " * 500) == 2
    assert await storage.append_event("s", "log", "y", idempotency_key="long " * 500) == 2
    assert await storage.event_count("s", "log") == 3
    for i in range(KEY_WINDOW):
        await storage.append_event("s", "log", i, idempotency_key=f"k{i}")
    # The window holds the latest KEY_WINDOW keys: turn-1 has left it, k0 has not.
    assert await storage.append_event("s", "log", "k0 again", idempotency_key="k0") == 3
    count = await storage.event_count("s", "log")
    assert await storage.append_events("s", "log", ["a"], idempotency_key="turn-1") == count
    assert await storage.truncate_events("s", "log", 3) == count + 1 - 3
    assert await storage.append_event("s", "log", "k0 new", idempotency_key="k0") == 3


async def test_garbage_segments_are_never_read(storage: SessionStorage) -> None:
    raw = Raw(storage)
    await storage.append_events("s", "log", list(range(S + 3)))
    # A sealer whose commit lost its race left a segment of the same range behind.
    fake = orjson.dumps(
        {
            "first": 0,
            "events": [{"t": "2026-01-01T00:00:00+00:00", "v": "ghost"}] * S,
            "prev": None,
            "id": "0" * 16,
        }
    )
    await raw.put(f"s/log/{segment_name(0, '0' * 16)}", fake)
    reader = cold(storage)
    assert await reader.read_events("s", "log") == list(range(S + 3))
    assert await reader.pop_events("s", "log", 5) == list(range(S - 2, S + 3))
    assert await reader.read_events("s", "log", -2) == [S - 4, S - 3]
    assert await storage.delete_session("s") is True
    assert await raw.files() == []  # garbage included
    if reader is not storage:
        await reader.aclose()


async def test_corrupt_tail_is_reported_with_its_file(storage: SessionStorage) -> None:
    raw = Raw(storage)
    await storage.append_event("s", "log", 1)
    await raw.put(f"s/log/{TAIL_NAME}", b"{not json")
    with pytest.raises(CorruptDataError) as info:
        await storage.read_events("s", "log")
    message = str(info.value)
    assert storage.backend in message and "'s'" in message and f"log/{TAIL_NAME}" in message
    with pytest.raises(CorruptDataError):
        await storage.append_event("s", "log", 2)  # nothing is written over it
    assert await raw.get(f"s/log/{TAIL_NAME}") == b"{not json"


async def test_missing_segment_is_reported_not_skipped(storage: SessionStorage) -> None:
    raw = Raw(storage)
    await storage.append_events("s", "log", list(range(S + 1)))
    segment = next(name for name in await raw.files() if "seg-" in name)
    await raw.fs._rm_file(raw.path(segment))
    reader = cold(storage)
    if reader is storage:  # drop what the writer cached
        storage._scope.shared.event_logs.forget(storage._scope.root)
    with pytest.raises(CorruptDataError) as info:
        await reader.read_events("s", "log")
    assert "missing" in str(info.value)
    assert await reader.read_events("s", "log", -1) == [S]  # the tail still reads
    if reader is not storage:
        await reader.aclose()


_APPENDER = """
import asyncio, json, sys
from session_storage import SessionStorage

async def main() -> None:
    url, options = json.loads(sys.argv[1])
    async with SessionStorage(url, options) as storage:
        batch = int(sys.argv[2])
        while True:
            size = 1 + batch % 37  # batches of 1 .. 37 items, crossing segment ends
            await storage.append_events(
                "s", "log", [{"b": batch, "i": i, "n": size} for i in range(size)]
            )
            batch += 1

asyncio.run(main())
"""


@pytest.mark.parametrize("backend", ["file", "s3", "gcs", "azure"])
async def test_killed_appender_leaves_only_whole_batches(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A worker appending batches is killed (SIGKILL) at a random moment, four times;
    the stream holds whole batches only, numbered without a gap, and goes on."""
    import json
    import os
    import signal
    import subprocess
    import sys

    if backend == "file":
        storage = SessionStorage(tmp_path)
    else:
        storage = request.getfixturevalue(f"make_{backend}_storage")()
    where = json.dumps([storage.settings.url, dict(storage.settings.storage_options)])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    async with storage:
        batches = 0
        for round_ in range(4):
            child = subprocess.Popen(
                [sys.executable, "-c", _APPENDER, where, str(batches)], env=env
            )
            target = (round_ + 1) * 150
            try:
                while await storage.event_count("s", "log") < target:
                    assert child.poll() is None, "the appender died by itself"
                    await asyncio.sleep(0.01)  # polling for progress, not for a race
            finally:
                os.kill(child.pid, signal.SIGKILL)
                child.wait()
            events = await storage.read_events("s", "log")
            # Whole batches, numbered from 0 without a gap, each in order.
            position = 0
            batch = 0
            while position < len(events):
                head = events[position]
                assert head == {"b": batch, "i": 0, "n": head["n"]}, position
                size = head["n"]
                assert events[position : position + size] == [
                    {"b": batch, "i": i, "n": size} for i in range(size)
                ], position
                position += size
                batch += 1
            batches = batch
        print(f"\n{backend}: 4 kill -9 rounds: {batches} whole batches, {len(events)} events")
        assert len(events) >= 600
