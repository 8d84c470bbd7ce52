"""Event logs shared by several workers: no ghost events, atomic pops, any interleaving.

Every worker is a storage of its own (its own connections and cached tails), on all
five backends; memory storages share fsspec's global store to see one another. The
ghost-event scenarios also run with the other worker in a separate process (every
backend but memory, which a process cannot share).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from session_storage import ConflictError, InvalidArgumentError, SessionStorage
from session_storage.backends.write_ids import WriteCondition

BACKENDS = ["memory", "file", "s3", "gcs", "azure"]
SRC = str(Path(__file__).resolve().parents[2] / "src")

Factory = Callable[[], SessionStorage]


@pytest.fixture(params=BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStorage]:
    """An empty storage on each backend; ``peer(storage)`` gives more workers on it."""
    backend = request.param
    if backend == "memory":
        made = SessionStorage(f"memory://events-{uuid.uuid4().hex}", {"global_store": True})
    elif backend == "file":
        made = SessionStorage(tmp_path / "root")
    else:
        made = request.getfixturevalue(f"make_{backend}_storage")()
    async with made:
        yield made
        if backend == "memory":  # fsspec's global store outlives the test
            for session in await made.list_sessions():
                await made.delete_session(session)


def peer(storage: SessionStorage) -> SessionStorage:
    """Another worker on the same root, with its own connections and caches."""
    return SessionStorage.from_settings(storage.settings)


def in_process(storage: SessionStorage, script: str) -> None:
    """Run ``script`` (with ``storage`` bound to a new storage on the same root) in a
    separate Python process, and wait for it."""
    settings = storage.settings
    program = (
        "import asyncio, json, sys\n"
        "from session_storage import SessionStorage\n"
        "async def main():\n"
        "    url, options = json.loads(sys.argv[1])\n"
        "    async with SessionStorage(url, options) as storage:\n"
        + "".join(f"        {line}\n" for line in script.splitlines())
        + "asyncio.run(main())\n"
    )
    argument = json.dumps([settings.url, dict(settings.storage_options)])
    env = {**os.environ, "PYTHONPATH": SRC}
    subprocess.run([sys.executable, "-c", program, argument], check=True, env=env, timeout=120)


# -- the stores' conditions ------------------------------------------------------------


async def test_if_version_on_a_missing_object_is_a_conflict(storage: SessionStorage) -> None:
    # What makes a stale appender's write fail after a delete: every driver must refuse.
    driver = storage._scope.driver
    path = storage._scope.file("s", "gone.json").path
    version = await driver.put(path, b"{}", "application/json")
    await driver.delete_file(path)
    with pytest.raises(FileExistsError):
        await driver.put(path, b"{}", "application/json", WriteCondition(if_version=version))
    unverified = WriteCondition(if_version=version, verify_own=False)
    with pytest.raises(FileExistsError):
        await driver.put(path, b"{}", "application/json", unverified)
    assert await driver.get(path) is None


# -- ghost events ------------------------------------------------------------------------


async def _ghost_scenario(storage: SessionStorage, rewind: Callable[[], Any], how: str) -> None:
    """The issue's scenario: A appends 3, someone rewinds the stream, A appends again."""
    a = storage
    for i in range(3):
        assert await a.append_event("s", "log", f"a-{i}") == i
    await rewind()
    new = await a.append_event("s", "log", "new")
    fresh = peer(storage)
    async with fresh:
        seen_by_a, seen_fresh = await a.read_events("s", "log"), await fresh.read_events("s", "log")
        c = peer(storage)
        async with c:
            got = [await c.append_event("s", "log", f"c-{i}") for i in range(4)]
        final = await fresh.read_events("s", "log")
    print(f"\n{storage.backend} {how}: 'new' at {new}, then c at {got}: {final}")
    assert new == 0
    assert seen_by_a == seen_fresh == ["new"]
    assert got == [1, 2, 3, 4]
    assert final == ["new", "c-0", "c-1", "c-2", "c-3"]
    assert await a.event_count("s", "log") == 5


@pytest.mark.parametrize("how", ["truncate", "delete_session", "pop"])
async def test_no_ghost_events_after_another_storage_rewinds(
    storage: SessionStorage, how: str
) -> None:
    b = peer(storage)

    async def rewind() -> None:
        if how == "truncate":
            assert await b.truncate_events("s", "log", 0) == 3
        elif how == "pop":
            assert await b.pop_events("s", "log", 5) == ["a-0", "a-1", "a-2"]
        else:
            assert await b.delete_session("s") is True

    async with b:
        await _ghost_scenario(storage, rewind, how)


# A memory store lives in one process: the other process needs a shared backend.
@pytest.mark.parametrize("storage", [b for b in BACKENDS if b != "memory"], indirect=True)
@pytest.mark.parametrize("how", ["truncate", "delete_session"])
async def test_no_ghost_events_after_another_process_rewinds(
    storage: SessionStorage, how: str
) -> None:
    call = (
        'assert await storage.truncate_events("s", "log", 0) == 3'
        if how == "truncate"
        else 'assert await storage.delete_session("s") is True'
    )

    async def rewind() -> None:
        await asyncio.to_thread(in_process, storage, call)

    await _ghost_scenario(storage, rewind, f"{how} in another process")


async def test_stale_appender_lands_after_a_truncate_into_sealed_segments(
    storage: SessionStorage,
) -> None:
    b = peer(storage)
    async with b:
        await storage.append_events("s", "log", list(range(300)))  # two sealed segments
        assert await b.truncate_events("s", "log", 100) == 200  # the tail is unsealed
        assert await storage.append_events("s", "log", ["x", "y"]) == 100
        assert await b.read_events("s", "log", 98) == [98, 99, "x", "y"]
        assert await b.read_events("s", "log") == [*range(100), "x", "y"]


@pytest.mark.parametrize("how", ["truncate", "delete_session"])
async def test_a_writer_that_saw_n_events_refuses_a_rewound_stream(
    storage: SessionStorage, how: str
) -> None:
    """``if_count_at_least``: after another worker truncated the stream or deleted the
    session, the append is refused by the store's condition and writes nothing; on a
    stream as long as required it appends as usual."""
    b = peer(storage)
    async with b:
        assert await storage.append_events("s", "log", ["a", "b", "c"]) == 0
        assert await storage.append_event("s", "log", "d", if_count_at_least=3) == 3
        if how == "truncate":
            assert await b.truncate_events("s", "log", 1) == 3
        else:
            assert await b.delete_session("s") is True
        with pytest.raises(ConflictError) as info:
            await storage.append_events("s", "log", ["x", "y"], if_count_at_least=4)
        assert info.value.session_id == "s" and info.value.filename == "log"
        assert "fewer than the 4" in str(info.value)
        # Nothing was written: the stream (and, deleted, the session) as b left it.
        if how == "truncate":
            assert await b.read_events("s", "log") == ["a"]
            assert await storage.append_event("s", "log", "e", if_count_at_least=1) == 1
            assert await b.read_events("s", "log") == ["a", "e"]
        else:
            assert not await b.session_exists("s")
            assert await b.list_sessions() == []
            assert await storage.append_event("s", "log", "e", if_count_at_least=0) == 0
    for bad in (-1, "3", 1.5):
        with pytest.raises(InvalidArgumentError):
            await storage.append_event("s", "log", "z", if_count_at_least=bad)  # type: ignore[arg-type]


async def test_if_count_appends_only_onto_the_stream_the_writer_saw(
    storage: SessionStorage,
) -> None:
    """``if_count``: the optimistic check of an event store. The writer's cached tail
    says 3; another worker appended a fourth: the store refuses the write (the cache
    cannot make it pass) and nothing is written."""
    b = peer(storage)
    async with b:
        assert await storage.append_events("s", "log", ["a", "b", "c"], if_count=0) == 0
        assert await b.append_event("s", "log", "d", if_count=3) == 3
        with pytest.raises(ConflictError) as info:
            await storage.append_event("s", "log", "late", if_count=3)
        assert "not the 3" in str(info.value)
        assert await b.read_events("s", "log") == ["a", "b", "c", "d"]
        assert await storage.append_event("s", "log", "e", if_count=4) == 4
        await b.delete_session("s")
        with pytest.raises(ConflictError):
            await storage.append_event("s", "log", "f", if_count=5)
        assert not await b.session_exists("s")
        assert await storage.append_event("s", "log", "new", if_count=0) == 0


async def test_two_workers_popping_one_item_exactly_one_gets_it(storage: SessionStorage) -> None:
    workers = [peer(storage) for _ in range(3)]
    try:
        for round_ in range(3):
            await storage.append_event("s", "log", f"only-{round_}")
            for worker in workers:  # every worker knows the one-item tail
                assert await worker.event_count("s", "log") == 1
            got = await asyncio.gather(*(w.pop_events("s", "log") for w in workers))
            assert sorted(got, key=len) == [[], [], [f"only-{round_}"]]
            assert await storage.event_count("s", "log") == 0
    finally:
        for worker in workers:
            await worker.aclose()


# -- any interleaving -------------------------------------------------------------------


def _sizes(backend: str) -> tuple[int, int]:
    """Operations of the turn-taking and of the concurrent phase, per backend."""
    return (300, 200) if backend in ("memory", "file") else (120, 80)


async def test_random_interleavings_of_four_workers(storage: SessionStorage) -> None:
    rng = random.Random(11)
    workers = [peer(storage) for _ in range(4)]
    turns, concurrent = _sizes(storage.backend)
    try:
        model = await _turn_taking(rng, workers, storage, turns)
        await _concurrent(rng, workers, storage, concurrent, len(model))
    finally:
        for worker in workers:
            await worker.aclose()


async def _turn_taking(
    rng: random.Random, workers: list[SessionStorage], reader: SessionStorage, steps: int
) -> list[Any]:
    """Workers act one at a time in random order, each with whatever it has cached;
    after every step the stream must equal the model, for every reader."""
    model: list[Any] = []
    tally: dict[str, int] = {}
    for step in range(steps):
        worker = rng.choice(workers)
        roll = rng.random()
        if roll < 0.4:
            item = f"e{step}"
            assert await worker.append_event("s", "log", item) == len(model)
            model.append(item)
            what = "append"
        elif roll < 0.78:
            items = [f"b{step}-{i}" for i in range(rng.randint(1, 60))]
            assert await worker.append_events("s", "log", items) == len(model)
            model.extend(items)
            what = "append_events"
        elif roll < 0.92:
            # Mostly shallow (the stream grows across many segments), now and then deep.
            length = rng.randint(0 if rng.random() < 0.15 else len(model) * 3 // 4, len(model))
            assert await worker.truncate_events("s", "log", length) == len(model) - length
            del model[length:]
            what = "truncate"
        else:
            n = rng.randint(1, 140)
            popped = await worker.pop_events("s", "log", n)
            assert popped == model[max(0, len(model) - n) :]
            del model[max(0, len(model) - n) :]
            what = "pop"
        tally[what] = tally.get(what, 0) + 1
        checker = rng.choice([reader, *workers])
        assert await checker.event_count("s", "log") == len(model), (step, what)
        if model:
            tail = await checker.read_events("s", "log", -rng.randint(1, 200))
            assert tail == model[len(model) - len(tail) :], (step, what)
        if step % 25 == 0 or step == steps - 1:
            assert await checker.read_events("s", "log") == model, (step, what)
    print(f"\n{reader.backend}: {steps} turns {tally}, {len(model)} events at the end")
    return model


async def _concurrent(
    rng: random.Random,
    workers: list[SessionStorage],
    reader: SessionStorage,
    steps: int,
    start: int,
) -> None:
    """Workers act at once. An append's items must read back at the reported indices
    unless a rewind started meanwhile; no item is ever found at another index, and
    popped items are never found again."""
    rewinds = 0  # rewinds started so far, by any worker
    running = 0  # rewinds under way now
    reported: dict[str, int] = {}  # item -> index its append reported
    popped: set[str] = set()
    checked = 0

    async def work(number: int, worker: SessionStorage, count: int) -> None:
        nonlocal rewinds, running, checked
        local = random.Random(rng.random())
        for step in range(count):
            roll = local.random()
            if roll < 0.7:
                items = [f"w{number}-{step}-{i}" for i in range(local.choice([1, 1, 3, 20]))]
                before = None if running else rewinds
                first = await worker.append_events("s", "log", items)
                for offset, item in enumerate(items):
                    reported[item] = first + offset
                seen = await worker.read_events("s", "log", first, len(items))
                if rewinds == before:  # no rewind overlapped the append and the read
                    assert seen == items, (number, step, first)
                    checked += 1
            elif roll < 0.85:
                rewinds, running = rewinds + 1, running + 1
                length = max(0, await worker.event_count("s", "log") - local.randint(0, 30))
                await worker.truncate_events("s", "log", length)
                running -= 1
            else:
                rewinds, running = rewinds + 1, running + 1
                got = await worker.pop_events("s", "log", local.randint(1, 5))
                running -= 1
                for item in got:
                    assert item not in popped
                    popped.add(item)

    per_worker = steps // len(workers)
    await asyncio.gather(*(work(n, w, per_worker) for n, w in enumerate(workers)))
    final = await reader.read_events("s", "log")
    print(
        f"{reader.backend}: {per_worker} concurrent steps x {len(workers)} workers, "
        f"{checked} appends read back at once, {len(popped)} popped, {len(final)} at the end"
    )
    assert checked > 0
    seen: set[Any] = set()
    for index, item in enumerate(final):
        assert item not in seen  # nothing twice
        seen.add(item)
        if index >= start or item in reported:
            assert reported.get(item) == index, (item, index)  # only where reported
        assert item not in popped
    assert await reader.event_count("s", "log") == len(final)
