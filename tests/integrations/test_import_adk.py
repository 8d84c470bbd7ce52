"""``import adk-sqlite``: a DatabaseSessionService or SqliteSessionService database, written
by ADK itself (a Runner conversation, app:, user: and temp: state), read back through
StorageSessionService session for session and event for event; the imported sessions
carry on through ADK's Runner as they would on the database; an interrupted import
resumes appending only the missing events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from google.adk.events import Event, EventActions
from google.adk.sessions import BaseSessionService
from google.adk.sessions.database_session_service import DatabaseSessionService
from google.adk.sessions.sqlite_session_service import SqliteSessionService
from google.genai import types

from session_storage import SessionStorage
from session_storage.admin.importing import ImportResult, run_import
from session_storage.integrations.adk import EVENTS_STREAM, StorageSessionService
from session_storage.integrations.importers import open_importer

from ..support.adk_agent import converse

KEYS = [("chat", "ann", "c1"), ("chat", "bob", "b/1 ü"), ("notes", "ann", "n1")]


def _event(n: int, delta: dict[str, Any]) -> Event:
    return Event(
        invocation_id=f"inv-{n}",
        author="user",
        content=types.Content(role="user", parts=[types.Part(text=f"note {n}")]),
        actions=EventActions(state_delta=delta),
    )


@pytest.fixture(params=["database", "sqlite"])
async def source(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Path, BaseSessionService]]:
    """The database as DatabaseSessionService or SqliteSessionService writes it."""
    path = tmp_path / "sessions.db"
    service: BaseSessionService
    if request.param == "database":
        service = DatabaseSessionService(f"sqlite+aiosqlite:///{path}")
    else:
        service = SqliteSessionService(str(path))
    assert await converse(service, ["hello", "again"]) == ["#1: hello", "#2: again"]
    bob = await service.create_session(
        app_name="chat", user_id="bob", session_id="b/1 ü", state={"user:tier": "gold", "k": 1}
    )
    for n in range(3):
        await service.append_event(bob, _event(n, {"k": n, "app:seen": n}))
    notes = await service.create_session(app_name="notes", user_id="ann", session_id="n1")
    await service.append_event(notes, _event(9, {"temp:t": 1, "done": True}))
    await service.create_session(app_name="notes", user_id="ann", session_id="empty")
    yield path, service
    await service.close()  # type: ignore[attr-defined]


async def run(path: Path, storage: SessionStorage, **kwargs: Any) -> ImportResult:
    importer = open_importer("adk-sqlite", str(path), storage)
    try:
        return await run_import(importer, **kwargs)
    finally:
        await importer.aclose()


async def same_sessions(ours: StorageSessionService, theirs: BaseSessionService) -> None:
    for app_name, user_id, session_id in [*KEYS, ("notes", "ann", "empty")]:
        key = {"app_name": app_name, "user_id": user_id, "session_id": session_id}
        mine, reference = await ours.get_session(**key), await theirs.get_session(**key)
        assert mine is not None and reference is not None
        assert mine.model_dump(mode="json") == reference.model_dump(mode="json"), key
        assert mine.events == reference.events
    for app_name in ("chat", "notes"):
        listed = await ours.list_sessions(app_name=app_name)
        expected = await theirs.list_sessions(app_name=app_name)
        assert [s.model_dump(mode="json") for s in listed.sessions] == [
            s.model_dump(mode="json") for s in expected.sessions
        ]


async def test_every_session_reads_back_as_the_database_service_gives_it(
    tmp_path: Path, source: tuple[Path, BaseSessionService]
) -> None:
    path, theirs = source
    async with SessionStorage(tmp_path / "store") as storage:
        result = await run(path, storage)
        assert (result.sessions, result.items) == (4, 6 + 3 + 1)
        assert (result.imported_sessions, result.imported_items, result.complete) == (4, 10, 0)
        ours = StorageSessionService(storage)
        await same_sessions(ours, theirs)
        assert await ours.get_user_state(app_name="chat", user_id="bob") == {"tier": "gold"}
        # The conversation carries on, on either store alike.
        assert await converse(ours, ["more"]) == await converse(theirs, ["more"]) == ["#3: more"]
        key = {"app_name": "chat", "user_id": "ann", "session_id": "c1"}
        mine, reference = await ours.get_session(**key), await theirs.get_session(**key)
        assert mine is not None and reference is not None
        assert mine.state == reference.state and len(mine.events) == len(reference.events) == 9
        assert [e.content for e in mine.events] == [e.content for e in reference.events]


async def test_an_interrupted_import_appends_only_the_missing_events(
    tmp_path: Path, source: tuple[Path, BaseSessionService]
) -> None:
    path, theirs = source
    async with SessionStorage(tmp_path / "store") as storage:
        await run(path, storage)
        # As if stopped: bob's events stored but not his record, ann's chat half-way.
        bob = storage.narrow("chat", "sessions", "bob")
        await bob.delete_session("b/1 ü", "state.json")
        ann = storage.narrow("chat", "sessions", "ann")
        await ann.delete_session("c1", "state.json")
        await ann.truncate_events("c1", EVENTS_STREAM, 1)
        dry = await run(path, storage, dry_run=True)
        assert (dry.imported_sessions, dry.imported_items, dry.complete) == (2, 5, 2)
        result = await run(path, storage)
        assert (result.imported_sessions, result.imported_items, result.complete) == (2, 5, 2)
        assert await ann.event_count("c1", EVENTS_STREAM) == 6
        await same_sessions(StorageSessionService(storage), theirs)
        assert (await run(path, storage)).complete == 4


async def test_a_session_with_other_events_is_left_alone(
    tmp_path: Path, source: tuple[Path, BaseSessionService]
) -> None:
    path, _ = source
    async with SessionStorage(tmp_path / "store") as storage:
        ours = StorageSessionService(storage)
        other = await ours.create_session(app_name="notes", user_id="ann", session_id="n1")
        await ours.append_event(other, _event(1, {}))
        result = await run(path, storage)
        assert result.diverged == {"notes/ann/n1": "event 0 in the store is not the source's"}
        found = await ours.get_session(app_name="notes", user_id="ann", session_id="n1")
        assert found is not None and [e.id for e in found.events] == [other.events[0].id]


async def test_a_dry_run_counts_and_writes_nothing(
    tmp_path: Path, source: tuple[Path, BaseSessionService]
) -> None:
    path, _ = source
    async with SessionStorage(tmp_path / "store") as storage:
        result = await run(path, storage, dry_run=True)
        assert (result.imported_sessions, result.imported_items) == (4, 10)
        assert await storage.list_sessions() == []
