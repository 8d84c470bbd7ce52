"""Conditional writes whose reply is lost are applied once and reported truthfully.

A fault proxy between client and emulator forwards each write, lets the server apply
it, and then (with a seeded 20% chance) closes the connection instead of relaying the
reply. The client resends the write, which now fails its condition (412/409): the
library must recognise its own earlier write and report success, not a conflict.
Run with ``-s`` to see the figures.
"""

from __future__ import annotations

from typing import Any

import pytest

from session_storage import ConflictError

from ..support.cloud import FaultyStorageFactory

BACKENDS = ["s3", "gcs", "azure"]
# obstore on GCS reaches fake-gcs-server through tests/support/gcs_xml_shim.py; the proxy
# sits in front of the shim, so the client's own requests are the ones faulted.
LANES = [
    *(pytest.param(b, "fsspec", id=b) for b in BACKENDS),
    *(pytest.param(b, "obstore", id=f"{b}-obstore") for b in BACKENDS),
]
WRITES = ("PUT", "POST")  # S3, Azure and GCS's XML API upload with PUT, GCS's JSON API with POST
LOSS = 0.2


def _increment(state: dict[str, Any] | None) -> dict[str, Any]:
    return {"n": (state or {}).get("n", 0) + 1}


@pytest.mark.parametrize(("backend", "engine"), LANES)
async def test_update_session_counts_each_update_once(
    make_faulty_storage: FaultyStorageFactory, backend: str, engine: str
) -> None:
    storage, proxy = make_faulty_storage(backend, seed=1, engine=engine)
    proxy.inject("drop_reply", methods=WRITES, probability=LOSS)
    async with storage:
        for _ in range(30):
            await storage.update_session("counter", _increment)
        proxy.clear()
        state = await storage.load_session("counter")
    print(
        f"\n{backend}: 30 update_session, {proxy.applied['drop_reply']} replies lost "
        f"-> counter {state and state['n']}"
    )
    assert proxy.applied["drop_reply"] >= 3  # the faults really happened
    assert state is not None and state["n"] == 30


@pytest.mark.parametrize(("backend", "engine"), LANES)
async def test_keyed_updates_resent_by_the_client_count_once(
    make_faulty_storage: FaultyStorageFactory, backend: str, engine: str
) -> None:
    """A client that resends every request (its own reply was lost) calls
    update_session twice with the same key, while 20% of the storage's own write
    replies are lost too: each key counts once, and both calls return the same state."""
    storage, proxy = make_faulty_storage(backend, seed=7, engine=engine)
    calls = 0

    def increment(state: dict[str, Any] | None) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return _increment(state)

    proxy.inject("drop_reply", methods=WRITES, probability=LOSS)
    async with storage:
        for i in range(15):
            first = await storage.update_session("counter", increment, idempotency_key=f"r{i}")
            again = await storage.update_session("counter", increment, idempotency_key=f"r{i}")
            assert first is not None and again is not None
            assert first["n"] == again["n"] == i + 1
        proxy.clear()
        state = await storage.load_session("counter")
    print(
        f"\n{backend}: 15 keyed updates sent twice, {proxy.applied['drop_reply']} replies "
        f"lost -> counter {state and state['n']}, fn called {calls} times"
    )
    assert proxy.applied["drop_reply"] >= 2
    assert state is not None and state["n"] == 15
    assert calls >= 15


@pytest.mark.parametrize(("backend", "engine"), LANES)
async def test_append_event_appends_each_event_once(
    make_faulty_storage: FaultyStorageFactory, backend: str, engine: str
) -> None:
    storage, proxy = make_faulty_storage(backend, seed=2, engine=engine)
    proxy.inject("drop_reply", methods=WRITES, probability=LOSS)
    async with storage:
        indices = [await storage.append_event("s", "log", i) for i in range(30)]
        proxy.clear()
        events = await storage.read_events("s", "log")
    print(
        f"\n{backend}: 30 append_event, {proxy.applied['drop_reply']} replies lost "
        f"-> {len(events)} events"
    )
    assert proxy.applied["drop_reply"] >= 3
    assert indices == list(range(30))
    assert events == list(range(30))


@pytest.mark.parametrize(("backend", "engine"), LANES)
async def test_keyed_append_with_lost_replies_is_written_once(
    make_faulty_storage: FaultyStorageFactory, backend: str, engine: str
) -> None:
    storage, proxy = make_faulty_storage(backend, seed=3, engine=engine)
    async with storage:
        # The marker's reply is lost first (the claim), then the event's.
        proxy.inject("drop_reply", methods=WRITES, count=2)
        first = await storage.append_event("s", "log", "a", idempotency_key="k")
        again = await storage.append_event("s", "log", "a", idempotency_key="k")
        proxy.clear()
        events = await storage.read_events("s", "log")
    assert proxy.applied["drop_reply"] == 2
    assert first == again == 0
    assert events == ["a"]


@pytest.mark.parametrize(("backend", "engine"), LANES)
async def test_if_absent_stores_are_not_false_conflicts(
    make_faulty_storage: FaultyStorageFactory, backend: str, engine: str
) -> None:
    storage, proxy = make_faulty_storage(backend, seed=4, engine=engine)
    proxy.inject("drop_reply", methods=WRITES, probability=LOSS)
    conflicts = 0
    async with storage:
        for i in range(20):
            try:
                await storage.store_session(f"fresh-{i}", {"i": i}, if_absent=True)
            except ConflictError:
                conflicts += 1
        proxy.clear()
        stored = [await storage.load_session(f"fresh-{i}") for i in range(20)]
        # A real conflict is still one: the file exists and was not written by us.
        with pytest.raises(ConflictError):
            await storage.store_session("fresh-0", {"i": -1}, if_absent=True)
    print(
        f"\n{backend}: 20 if_absent stores, {proxy.applied['drop_reply']} replies lost "
        f"-> {conflicts} ConflictErrors"
    )
    assert proxy.applied["drop_reply"] >= 2
    assert conflicts == 0
    assert [s and s["i"] for s in stored] == list(range(20))


@pytest.mark.parametrize(("backend", "engine"), LANES)
async def test_deletes_with_lost_replies_finish_and_leave_nothing(
    make_faulty_storage: FaultyStorageFactory, backend: str, engine: str
) -> None:
    """Whole-session deletes (a listing, then batch deletes) and single-file deletes
    whose replies are lost: each call returns, the files are gone, and a whole-session
    delete still says the session existed (its listing tells)."""
    storage, proxy = make_faulty_storage(backend, seed=6, engine=engine)
    async with storage:
        for i in range(12):
            await storage.store_session(f"s{i}", {"i": i})
            await storage.store_bytes(f"s{i}", "extra.bin", b"x")
        proxy.inject("drop_reply", methods=("DELETE", "POST"), probability=0.5)
        whole = [await storage.delete_session(f"s{i}") for i in range(6)]
        for i in range(6, 12):
            # May say False for a file it deleted: GCS and Azure answer the client's
            # resend of a DELETE whose reply was lost with 404 (README "Guarantees").
            await storage.delete_session(f"s{i}", "extra.bin")
        proxy.clear()
        left = await storage.list_sessions()
        files = [await storage.list_files(session) for session in left]
    print(f"\n{backend}: 12 deletes, {proxy.applied['drop_reply']} replies lost")
    assert proxy.applied["drop_reply"] >= 3
    assert whole == [True] * 6
    assert left == sorted(f"s{i}" for i in range(6, 12))
    assert files == [["state.json"]] * 6
