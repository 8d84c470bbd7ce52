"""Event-log recovery paths that need a planted marker: an appender that died.

The layout (``<stream>/~keys/<sha256(key)>.json``) is the same on every backend, so
memory and local disk stand for all of them here; the contract suite covers the rest.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from session_storage import CorruptDataError, SessionStorage
from session_storage.events import CLAIM_LEASE_SECONDS, INDEX_WIDTH, MAX_EVENTS, event_name

from .contract import Raw


@pytest.fixture(params=["memory", "file"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStorage]:
    url = f"memory://events-{uuid.uuid4().hex}" if request.param == "memory" else str(tmp_path)
    async with SessionStorage(url) as storage:
        yield storage


def marker(key: str) -> str:
    return f"s/log/~keys/{hashlib.sha256(key.encode()).hexdigest()}.json"


def claim(key: str, start: int, age: float) -> bytes:
    return orjson.dumps({"key": key, "start": start, "claimed_at": time.time() - age})


async def event(storage: SessionStorage, index: int) -> dict[str, object]:
    record = await storage.load_session("s", f"log/{event_name(index)}")
    assert record is not None
    return record


def test_index_width_allows_a_very_long_stream() -> None:
    assert event_name(42) == "000000000042.json"
    assert INDEX_WIDTH == 12 and MAX_EVENTS == 10**12
    assert sorted(event_name(i) for i in (10, 9, 100, 1)) == [
        event_name(i) for i in (1, 9, 10, 100)
    ]


async def test_dead_claim_without_event_is_taken_over(storage: SessionStorage) -> None:
    raw = Raw(storage)
    await storage.append_event("s", "log", "e0")
    await raw.put(marker("k"), claim("k", 1, age=CLAIM_LEASE_SECONDS + 5))
    index = await storage.append_event("s", "log", "mine", idempotency_key="k")
    assert index == 1
    assert await storage.read_events("s", "log") == ["e0", "mine"]
    # The marker is ours now; a replay from a storage with a cold cache agrees.
    again = SessionStorage.from_settings(storage.settings)
    if storage.backend == "memory":
        again = storage
    assert await again.append_event("s", "log", "again", idempotency_key="k") == 1
    assert await storage.event_count("s", "log") == 2


async def test_dead_claim_whose_event_was_written_is_found_not_duplicated(
    storage: SessionStorage,
) -> None:
    raw = Raw(storage)
    await storage.append_event("s", "log", "e0")
    # The dead appender claimed from index 0, lost index 0 to someone else, wrote its
    # event at 1 and died before recording the index in its marker.
    await storage.append_event("s", "log", "dead", idempotency_key="k")
    await raw.put(marker("k"), claim("k", 0, age=CLAIM_LEASE_SECONDS + 5))
    files = await raw.files()
    assert await storage.append_event("s", "log", "retry", idempotency_key="k") == 1
    assert await storage.read_events("s", "log") == ["e0", "dead"]
    assert await raw.files() == files
    final = orjson.loads(await raw.get(marker("k")))
    assert final == {"key": "k", "index": 1}


async def test_event_at_the_claimed_index_answers_a_live_claim(storage: SessionStorage) -> None:
    raw = Raw(storage)
    assert await storage.append_event("s", "log", "x", idempotency_key="k") == 0
    # A claim made a moment ago whose event sits where it said: no need to wait.
    await raw.put(marker("k"), claim("k", 0, age=0))
    assert await storage.append_event("s", "log", "y", idempotency_key="k") == 0
    assert await storage.event_count("s", "log") == 1


async def test_event_records_carry_item_and_stamp(storage: SessionStorage) -> None:
    await storage.append_event("s", "log", {"text": "hi"}, idempotency_key="m-1")
    record = await event(storage, 0)
    assert record["item"] == {"text": "hi"}
    meta = record["_metadata"]
    assert isinstance(meta, dict)
    assert meta["session_id"] == "s" and meta["stream"] == "log"
    assert meta["backend"] == storage.backend and meta["idempotency_key"] == "m-1"
    assert isinstance(meta["appended_at"], str) and meta["appended_at"].endswith("+00:00")


async def test_corrupt_event_is_reported_with_its_file(storage: SessionStorage) -> None:
    raw = Raw(storage)
    await storage.append_event("s", "log", 1)
    await raw.put(f"s/log/{event_name(1)}", b"{not json")
    with pytest.raises(CorruptDataError) as info:
        await storage.read_events("s", "log")
    message = str(info.value)
    assert storage.backend in message and "'s'" in message and event_name(1) in message


async def test_many_events_count_and_read_from_a_cold_storage(storage: SessionStorage) -> None:
    for i in range(300):
        await storage.append_event("s", "log", i)
    cold = (
        storage if storage.backend == "memory" else SessionStorage.from_settings(storage.settings)
    )
    assert await cold.event_count("s", "log") == 300
    assert await cold.read_events("s", "log", 290) == list(range(290, 300))
    assert await cold.append_event("s", "log", 300) == 300
