"""Google ADK's session service on every backend, against ADK's own reference.

``StorageSessionService`` is driven operation by operation beside ADK's
``InMemorySessionService`` and must answer the same; ADK's ``Runner`` runs a
pure-Python agent (no model) on both; a conversation resumes in a new process; stale
session objects are refused across services; requests are counted on moto.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from google.adk.errors import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events import Event, EventActions
from google.adk.platform import time as platform_time
from google.adk.platform import uuid as platform_uuid
from google.adk.sessions import InMemorySessionService, Session
from google.adk.sessions.base_session_service import GetSessionConfig
from google.genai import types

from session_storage import SessionStorage, copy_sessions
from session_storage.core.errors import SessionStorageError
from session_storage.integrations.adk import (
    EVENTS_STREAM,
    AdkSessionExistsError,
    AdkStaleSessionError,
    StorageSessionService,
)
from session_storage.integrations.adk.records import SessionRecord

from ..support.adk_agent import converse
from ..support.cloud import RequestLog

SRC = Path(__file__).resolve().parents[2] / "src"
Opener = Callable[[], SessionStorage]


# -- storages --------------------------------------------------------------------------


@pytest.fixture(params=["memory", "file", "s3", "gcs", "azure"])
def open_root(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens storages on one fresh root of the parametrized backend: each call gives a
    new storage object there (memory: the same one, its store is private to it)."""
    backend = request.param
    if backend == "memory":
        storage = SessionStorage(f"memory://adk-{uuid.uuid4().hex}")
        return lambda: storage
    if backend == "file":
        return lambda: SessionStorage(tmp_path / "adk")
    factory = request.getfixturevalue(f"make_{backend}_storage")
    settings = factory().settings
    return lambda: SessionStorage.from_settings(settings)


def _cloud_root(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Opener:
    if backend == "file":
        return lambda: SessionStorage(tmp_path / "adk")
    settings = request.getfixturevalue(f"make_{backend}_storage")().settings
    return lambda: SessionStorage.from_settings(settings)


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[Callable[[float], None]]:
    """Lets a test set what ADK's clock says, so both services stamp the same times."""
    now = [1_767_225_600.0]
    platform_time.set_time_provider(lambda: now[0])
    ids = itertools.count()
    platform_uuid.set_id_provider(lambda: f"generated-{next(ids)}")

    def set_now(value: float) -> None:
        now[0] = value

    yield set_now
    platform_time.reset_time_provider()
    platform_uuid.reset_id_provider()


# -- comparing with InMemorySessionService ---------------------------------------------


def _event(n: int, delta: dict[str, Any] | None = None, **fields: Any) -> Event:
    return Event(
        id=f"event-{n}",
        invocation_id=f"inv-{n // 2}",
        author="user" if n % 2 == 0 else "agent",
        timestamp=1_767_225_700.0 + n,
        content=types.Content(role="user", parts=[types.Part(text=f"message {n}")]),
        actions=EventActions(state_delta=delta or {}),
        **fields,
    )


def _view(value: Any) -> Any:
    """What a service answered, as comparable JSON (sessions, lists, responses)."""
    if isinstance(value, Session):
        return value.model_dump(mode="json")
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_view(v) for v in value]
    return value


class Pair:
    """The service under test beside ADK's in-memory reference, called alike."""

    def __init__(self, ours: StorageSessionService) -> None:
        self.ours = ours
        self.reference = InMemorySessionService()
        self.sessions: dict[str, tuple[Session, Session]] = {}
        self.calls = itertools.count()

    async def same(self, method: str, **kwargs: Any) -> Any:
        """Call ``method`` on both; both must return the same or raise the same type."""
        got: list[Any] = []
        generated = f"generated-{next(self.calls)}"  # the same new id for both
        for service in (self.reference, self.ours):
            platform_uuid.set_id_provider(lambda: generated)
            try:
                got.append(await getattr(service, method)(**copy.deepcopy(kwargs)))
            except Exception as exc:  # the reference's type must be ours too
                got.append(exc)
        expected, ours = got
        if isinstance(expected, Exception):
            assert isinstance(ours, type(expected)), (method, kwargs, expected, ours)
            return ours
        assert _view(ours) == _view(expected), (method, kwargs)
        return expected, ours

    async def create(self, **kwargs: Any) -> str:
        expected, ours = await self.same("create_session", **kwargs)
        self.sessions[ours.id] = (expected, ours)
        return str(ours.id)

    async def append(self, session_id: str, event: Event) -> None:
        expected_session, our_session = self.sessions[session_id]
        results = []
        for service, session in ((self.reference, expected_session), (self.ours, our_session)):
            results.append(await service.append_event(session, copy.deepcopy(event)))
        assert _view(results[1]) == _view(results[0])
        assert _view(our_session) == _view(expected_session)


async def test_behaves_like_in_memory_session_service(
    open_root: Opener, fixed_clock: Callable[[float], None]
) -> None:
    async with open_root() as storage:
        pair = Pair(StorageSessionService(storage))
        app = "demo-app"
        initial = {"k": 1, "app:theme": "dark", "user:name": "Ann", "temp:scratch": 9}
        s1 = await pair.create(app_name=app, user_id="u1", state=initial, session_id="s1")
        fixed_clock(1_767_225_601.0)
        s2 = await pair.create(app_name=app, user_id="u1")  # a generated id
        assert s2 == "generated-1"
        fixed_clock(1_767_225_602.0)
        await pair.create(app_name=app, user_id="u2", session_id="  padded  ", state={"x": [1]})
        error = await pair.same("create_session", app_name=app, user_id="u1", session_id="s1")
        assert isinstance(error, AdkSessionExistsError) and isinstance(error, SessionStorageError)
        assert isinstance(error, AlreadyExistsError) and "s1" in str(error)

        for n, delta in enumerate(
            [
                {},
                {"k": 2, "temp:t": 1},
                {"app:theme": "light", "user:name": "Bo", "plain": {"nested": [1, 2]}},
                {"user:visits": 1},
                {"k": 3},
            ]
        ):
            await pair.append(s1, _event(n, delta))
        await pair.append(s1, _event(5, {"k": "never"}, partial=True))
        await pair.append(s1, _event(6, {"k": 4}, turn_complete=True))

        for config in [
            None,
            GetSessionConfig(num_recent_events=2),
            GetSessionConfig(num_recent_events=0),
            GetSessionConfig(num_recent_events=50),
            GetSessionConfig(after_timestamp=1_767_225_703.0),
            GetSessionConfig(after_timestamp=1_767_225_703.5),
            GetSessionConfig(after_timestamp=2_000_000_000.0),
            GetSessionConfig(after_timestamp=0.0),
            GetSessionConfig(num_recent_events=3, after_timestamp=1_767_225_705.0),
        ]:
            await pair.same("get_session", app_name=app, user_id="u1", session_id=s1, config=config)
        for user, session_id in [("u1", s2), ("u2", "padded"), ("u2", " padded"), ("u1", "nope")]:
            await pair.same("get_session", app_name=app, user_id=user, session_id=session_id)
        await pair.same("get_session", app_name="other", user_id="u1", session_id=s1)

        for user in ["u1", "u2", "nobody", None]:
            await pair.same("list_sessions", app_name=app, user_id=user)
        await pair.same("list_sessions", app_name="other")
        for user in ["u1", "u2", "nobody"]:
            await pair.same("get_user_state", app_name=app, user_id=user)

        await pair.same("delete_session", app_name=app, user_id="u1", session_id=s2)
        await pair.same("delete_session", app_name=app, user_id="u1", session_id="missing")
        await pair.same("get_session", app_name=app, user_id="u1", session_id=s2)
        await pair.same("list_sessions", app_name=app)
        gone = pair.sessions[s2]
        for service, session in zip((pair.reference, pair.ours), gone, strict=True):
            with pytest.raises(SessionNotFoundError):
                await service.append_event(session, _event(20, {"k": 1}))


# -- the real runtime, no model ----------------------------------------------------------


def _normalized(session: Session | None) -> dict[str, Any]:
    """A session without what differs from run to run (ids, times)."""
    assert session is not None
    dumped = session.model_dump(mode="json", exclude={"last_update_time"})
    for event in dumped["events"]:
        for volatile in ("id", "invocation_id", "timestamp"):
            event.pop(volatile)
    return dumped


async def test_runner_with_a_pure_python_agent_matches_in_memory(open_root: Opener) -> None:
    platform_time.reset_time_provider()  # the runner orders events by real time
    messages = ["hello", "again", "bye"]
    reference = InMemorySessionService()
    expected_replies = await converse(reference, messages)
    async with open_root() as storage:
        ours = StorageSessionService(storage)
        assert (
            await converse(ours, messages)
            == expected_replies
            == ["#1: hello", "#2: again", "#3: bye"]
        )
        get = {"app_name": "chat", "user_id": "ann", "session_id": "c1"}
        expected = _normalized(await reference.get_session(**get))
        assert _normalized(await ours.get_session(**get)) == expected
        assert expected["state"] == {
            "turns": 3,
            "app:calls": 3,
            "user:last": "bye",
            "history": ["bye"] * 3,
        }
        # A new service on a new storage object reads the same from the store.
        async with open_root() as again:
            assert _normalized(await StorageSessionService(again).get_session(**get)) == expected
        recent = await ours.get_session(**get, config=GetSessionConfig(num_recent_events=2))
        assert recent is not None and [e.author for e in recent.events] == ["counter", "counter"]


# -- a conversation resumed in a new process ---------------------------------------------

_RESUME = textwrap.dedent(
    """
    import asyncio, json, sys
    from session_storage import SessionStorage
    from session_storage.integrations.adk import StorageSessionService
    from tests.support.adk_agent import converse

    async def main() -> None:
        settings = json.loads(sys.argv[1])
        async with SessionStorage(settings["url"], settings["options"]) as storage:
            print(json.dumps(await converse(StorageSessionService(storage), ["from the child"])))

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("backend", ["file", "s3"])
async def test_conversation_resumes_in_a_new_process(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    platform_time.reset_time_provider()
    open_storage = _cloud_root(request, tmp_path, backend)
    async with open_storage() as storage:
        assert await converse(StorageSessionService(storage), ["first"]) == ["#1: first"]
        settings = {"url": storage.url, "options": dict(storage.settings.storage_options)}
    child = await anyio.run_process(
        [sys.executable, "-c", _RESUME, json.dumps(settings)],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
        check=False,
    )
    assert child.returncode == 0, child.stderr.decode()
    assert json.loads(child.stdout.decode().splitlines()[-1]) == ["#2: from the child"]
    async with open_storage() as storage:
        service = StorageSessionService(storage)
        session = await service.get_session(app_name="chat", user_id="ann", session_id="c1")
        assert session is not None
        assert session.state["turns"] == 2 and session.state["user:last"] == "from the child"
        assert len(session.events) == 6  # two turns: the message and two answers each
        assert await converse(service, ["third"]) == ["#3: third"]


# -- stale sessions and workers ----------------------------------------------------------


@pytest.mark.parametrize("backend", ["file", "s3", "gcs", "azure"])
async def test_an_outdated_session_object_is_refused_not_merged(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    open_storage = _cloud_root(request, tmp_path, backend)
    key = {"app_name": "app", "user_id": "u", "session_id": "s"}
    async with open_storage() as storage_a, open_storage() as storage_b:
        worker_a, worker_b = StorageSessionService(storage_a), StorageSessionService(storage_b)
        await worker_a.create_session(**key, state={"n": 0})
        seen_by_a = await worker_a.get_session(**key)
        seen_by_b = await worker_b.get_session(**key)
        assert seen_by_a is not None and seen_by_b is not None
        await worker_b.append_event(seen_by_b, _event(0, {"n": 1, "user:by": "b"}))

        with pytest.raises(AdkStaleSessionError) as refused:
            await worker_a.append_event(seen_by_a, _event(1, {"n": 2, "user:by": "a"}))
        assert isinstance(refused.value, StaleSessionError)
        assert refused.value.backend == storage_a.backend and refused.value.session_id == "s"
        fresh = await worker_b.get_session(**key)
        assert fresh is not None
        assert [e.id for e in fresh.events] == ["event-0"]
        assert fresh.state == {"n": 1, "user:by": "b"}  # nothing of a's was merged

        # Reloaded, a appends; b's object is the outdated one now, even on b's cache path.
        reloaded = await worker_a.get_session(**key)
        assert reloaded is not None
        await worker_a.append_event(reloaded, _event(2, {"n": 2}))
        with pytest.raises(AdkStaleSessionError):
            await worker_b.append_event(seen_by_b, _event(3, {"n": 3}))
        final = await worker_b.get_session(**key)
        assert final is not None and [e.id for e in final.events] == ["event-0", "event-2"]
        assert final.state["n"] == 2
        # The refused appends wrote nothing: the stream holds the two committed events.
        assert await storage_a.narrow("app", "sessions", "u").event_count("s", EVENTS_STREAM) == 2


@pytest.mark.parametrize("backend", ["file", "s3"])
async def test_an_event_a_dead_writer_left_uncommitted_becomes_a_gap(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A writer that appended to the log and died before committing the record leaves
    an event no reader sees; the next append, also through a Session this service
    committed last (its cached path), goes after it and the event stays hidden."""
    open_storage = _cloud_root(request, tmp_path, backend)
    key = {"app_name": "app", "user_id": "u", "session_id": "s"}
    async with open_storage() as storage:
        service = StorageSessionService(storage)
        session = await service.create_session(**key)
        await service.append_event(session, _event(0, {"n": 1}))
        log = storage.narrow("app", "sessions", "u")
        assert await log.append_event("s", EVENTS_STREAM, {"id": "dead"}) == 1  # never committed
        await service.append_event(session, _event(1, {"n": 2}))
        assert await log.event_count("s", EVENTS_STREAM) == 3
        for reader in (service, StorageSessionService(storage)):
            got = await reader.get_session(**key)
            assert got is not None
            assert [e.id for e in got.events] == ["event-0", "event-1"]
            assert got.state == {"n": 2}


@pytest.mark.parametrize("backend", ["file", "s3", "gcs", "azure"])
async def test_appending_to_a_session_another_worker_deleted(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """As InMemorySessionService: SessionNotFoundError; and nothing of the event is
    stored, so the deleted conversation does not reappear in the bucket."""
    open_storage = _cloud_root(request, tmp_path, backend)
    key = {"app_name": "app", "user_id": "u", "session_id": "s"}
    reference = InMemorySessionService()
    async with open_storage() as storage_a, open_storage() as storage_b:
        worker_a, worker_b = StorageSessionService(storage_a), StorageSessionService(storage_b)
        held: list[Session] = []
        for service in (worker_a, reference):
            session = await service.create_session(**key, state={"n": 0})
            await service.append_event(session, _event(0, {"n": 1}))
            held.append(session)
        await worker_b.delete_session(**key)
        await reference.delete_session(**key)
        for service, session in zip((worker_a, reference), held, strict=True):
            with pytest.raises(SessionNotFoundError):
                await service.append_event(session, _event(1, {"n": 2}))
        assert await worker_b.get_session(**key) is None
        assert not await storage_b.narrow("app", "sessions", "u").session_exists("s")
        # Created again under the same id, the old object is refused as stale (as the
        # database service refuses it; the in-memory one would merge it).
        await worker_b.create_session(**key)
        with pytest.raises(AdkStaleSessionError):
            await worker_a.append_event(held[0], _event(2, {"n": 3}))
        again = await worker_b.get_session(**key)
        assert again is not None and again.events == [] and again.state == {}


async def test_sessions_built_elsewhere_and_retried_appends() -> None:
    """A Session without a version (built by hand, or by another service class) is
    checked as DatabaseSessionService checks one; an append retried through a copy
    taken before it succeeded is not stored twice."""
    async with SessionStorage(f"memory://adk-{uuid.uuid4().hex}") as storage:
        service = StorageSessionService(storage)
        key = {"app_name": "app", "user_id": "u", "session_id": "s"}
        session = await service.create_session(**key)
        before = session.model_copy(deep=True)
        await service.append_event(session, _event(0, {"n": 1}))
        # The same event again through the copy from before: already stored, kept once.
        await service.append_event(before, _event(0, {"n": 1}))
        stored = await service.get_session(**key)
        assert stored is not None and [e.id for e in stored.events] == ["event-0"]

        by_hand = Session(id="s", app_name="app", user_id="u", last_update_time=0.0)
        with pytest.raises(AdkStaleSessionError):  # storage moved on since time 0
            await service.append_event(by_hand, _event(1, {"n": 2}))
        current = Session(
            id="s", app_name="app", user_id="u", events=list(stored.events), last_update_time=0.0
        )
        await service.append_event(current, _event(2, {"n": 3}))  # its newest event matches
        final = await service.get_session(**key)
        assert final is not None and [e.id for e in final.events] == ["event-0", "event-2"]
        assert final.state == {"n": 3}


@pytest.mark.parametrize("backend", ["file", "s3"])
async def test_racing_workers_commit_one_append_per_version(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    open_storage = _cloud_root(request, tmp_path, backend)
    key = {"app_name": "app", "user_id": "u", "session_id": "race"}
    workers = 4
    async with open_storage() as first:
        await StorageSessionService(first).create_session(**key)
    committed: list[str] = []

    async def worker(n: int, storage: SessionStorage) -> None:
        service = StorageSessionService(storage)
        for round_ in range(3):
            session = await service.get_session(**key)
            assert session is not None
            event = _event(100 * n + round_, {f"user:w{n}": round_, "last": n})
            try:
                await service.append_event(session, event)
            except AdkStaleSessionError:
                continue
            committed.append(event.id)

    storages = [open_storage() for _ in range(workers)]
    async with anyio.create_task_group() as group:
        for n, storage in enumerate(storages):
            group.start_soon(worker, n, storage)
    async with open_storage() as reader:
        session = await StorageSessionService(reader).get_session(**key)
        assert session is not None
        # Exactly the appends that were told they succeeded, each once, in commit order.
        assert sorted(e.id for e in session.events) == sorted(committed)
        assert len(committed) >= 3  # at least one per round
        # Every committing worker's user: key survives: shared state merges, never overwrites.
        owners = {int(event_id.removeprefix("event-")) // 100 for event_id in committed}
        assert {f"user:w{n}" for n in owners} <= set(session.state)
    for storage in storages:
        await storage.aclose()


# -- the record's bookkeeping --------------------------------------------------------------


def test_record_commits_skip_gaps_and_take_the_latest() -> None:
    record = SessionRecord({}, 0.0)
    assert record.committed() == [] and record.committed(3) == []
    record = record.after_append(0, "a", 1.0, {"k": 1}).after_append(3, "b", 2.0, {"j": 2})
    record = record.after_append(4, "c", 3.0, {}).after_append(6, "d", 4.0, {"k": 5})
    assert record.gaps == ((1, 3), (5, 6))
    assert record.committed() == [0, 3, 4, 6]
    assert record.committed(2) == [4, 6] and record.committed(3) == [3, 4, 6]
    assert record.committed_before(4, 10) == [0, 3] and record.committed(0) == []
    assert record.state == {"k": 5, "j": 2} and record.last_event_id == "d" and record.end == 7
    # A gap that touches the previous one grows it rather than adding another.
    assert SessionRecord({}, 0.0, 3, ((1, 3),)).after_append(5, "e", 1.0, {}).gaps == ((1, 5),)
    with pytest.raises(ValueError, match="below"):
        record.after_append(2, "late", 5.0, {})
    stored = record.to_json("app", "u", "s")
    assert SessionRecord.from_json(stored) == record
    for broken in ({"format": 2}, {**stored, "gaps": [[3, 1]]}, {**stored, "end": -1}):
        with pytest.raises(ValueError):
            SessionRecord.from_json(broken)


def test_without_adk_the_import_names_the_extra() -> None:
    blocked = (
        "import sys; sys.modules['google.adk'] = None\n"
        "try:\n"
        "    import session_storage.integrations.adk\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocked],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("MissingDependencyError")
    assert 'pip install "session-storage[adk]"' in result.stdout


# -- requests per turn, counted at the S3 server -------------------------------------------


async def _seed(prior: int) -> SessionStorage:
    """A memory storage holding session c1 with ``prior`` events, written by the service."""
    storage = SessionStorage(f"memory://adk-seed-{uuid.uuid4().hex}")
    service = StorageSessionService(storage)
    session = await service.create_session(app_name="chat", user_id="ann", session_id="c1")
    for n in range(prior):
        await service.append_event(session, _event(n, {"count": n} if n % 10 == 0 else None))
    return storage


async def test_requests_per_turn_on_s3(
    make_s3_storage: Callable[..., SessionStorage], s3_requests: RequestLog
) -> None:
    prior = 1000
    seed = await _seed(prior)
    target = make_s3_storage()
    async with seed, target:
        await copy_sessions(seed, target, max_concurrency=16)
    key = {"app_name": "chat", "user_id": "ann", "session_id": "c1"}
    figures: dict[str, int] = {}

    async with SessionStorage.from_settings(target.settings) as storage:  # cold: never seen
        service = StorageSessionService(storage)
        s3_requests.take()
        started = time.perf_counter()
        session = await service.get_session(**key)
        assert session is not None and len(session.events) == prior
        figures["get_session (1,000 events), cold"] = len(s3_requests.take())
        for n in (prior, prior + 1):
            delta = {"count": n, "user:seen": n, "app:turns": n, "temp:x": n}
            await service.append_event(session, _event(n, delta))
        figures["two append_event with state deltas"] = len(s3_requests.take())
        turn_seconds = time.perf_counter() - started
        figures["turn"] = (
            figures["get_session (1,000 events), cold"]
            + figures["two append_event with state deltas"]
        )
        recent = await service.get_session(**key, config=GetSessionConfig(num_recent_events=10))
        assert recent is not None and [e.id for e in recent.events][-1] == f"event-{prior + 1}"
        figures["get_session num_recent_events=10, warm"] = len(s3_requests.take())

    async with SessionStorage.from_settings(target.settings) as storage:
        s3_requests.take()
        config = GetSessionConfig(num_recent_events=10)
        recent = await StorageSessionService(storage).get_session(**key, config=config)
        assert recent is not None and len(recent.events) == 10
        assert recent.state["count"] == prior + 1 and recent.state["user:seen"] == prior + 1
        figures["get_session num_recent_events=10, cold"] = len(s3_requests.take())

    print(f"\nADK on S3 (moto), session with {prior} prior events; turn took {turn_seconds:.2f} s")
    for name, count in figures.items():
        print(f"  {name}: {count} requests")
    assert figures["turn"] <= 25, figures
    assert figures["get_session num_recent_events=10, cold"] <= 8, figures
