"""``import openai-sqlite``: a SQLiteSession database, built by the SDK itself, read back
through StorageSession item for item; resumed after an interruption without a
duplicate; diverged sessions left alone; a dry run writes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from agents.memory import SQLiteSession

from session_storage import InvalidArgumentError, SessionStorage
from session_storage.admin.importing import ImportProgress, run_import
from session_storage.errors import CorruptDataError
from session_storage.integrations.importers import open_importer
from session_storage.integrations.openai_agents import StorageSession

SESSIONS = {
    "chat-1": [{"role": "user", "content": f"turn {i}"} for i in range(7)],
    "chat/2 ü": [
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": "c1", "name": "w", "arguments": '{"city":"Oslo"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "-3°C"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "cold", "x": 1.5}]},
    ],
    "empty-ish": [{"role": "user", "content": ""}],
}


async def build_source(path: Path) -> dict[str, list[Any]]:
    """The database as the SDK writes it; what SQLiteSession.get_items gives back."""
    for session_id, items in SESSIONS.items():
        session = SQLiteSession(session_id, path)
        await session.add_items(items[:2])
        await session.add_items(items[2:])
        session.close()
    # A row that is not JSON: the SDK skips it when reading.
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO agent_messages (session_id, message_data) VALUES (?, ?)",
            ("chat-1", "{not json"),
        )
    expected = {}
    for session_id in SESSIONS:
        session = SQLiteSession(session_id, path)
        expected[session_id] = await session.get_items()
        session.close()
    return expected


def dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return list(db.iterdump())


async def read_back(storage: SessionStorage, ids: Any) -> dict[str, list[Any]]:
    return {sid: await StorageSession(sid, storage).get_items() for sid in ids}


async def run(path: Path, storage: SessionStorage, **kwargs: Any) -> Any:
    importer = open_importer("openai-sqlite", str(path), storage)
    try:
        return await run_import(importer, **kwargs)
    finally:
        await importer.aclose()


@pytest.fixture
async def storage(tmp_path: Path) -> Any:
    async with SessionStorage(tmp_path / "store") as opened:
        yield opened


async def test_every_item_reads_back_as_the_sdk_reads_it(
    tmp_path: Path, storage: SessionStorage
) -> None:
    db = tmp_path / "agents.db"
    expected = await build_source(db)
    before = dump(db)
    seen: list[ImportProgress] = []
    result = await run(db, storage, progress=seen.append)
    assert await read_back(storage, SESSIONS) == expected
    assert expected["chat-1"] == SESSIONS["chat-1"]  # the bad row is skipped by both
    assert (result.sessions, result.items) == (3, 12)
    assert (result.imported_sessions, result.imported_items, result.complete) == (3, 12, 0)
    assert seen[0] == ImportProgress(0, 3, 0, 13) and seen[-1] == ImportProgress(3, 3, 13, 13)
    assert dump(db) == before  # the source is opened read-only
    again = await run(db, storage)
    assert (again.imported_items, again.complete) == (0, 3)


async def test_an_interrupted_import_resumes_without_duplicates(
    tmp_path: Path, storage: SessionStorage
) -> None:
    db = tmp_path / "agents.db"
    expected = await build_source(db)
    # Stopped after the first session (chat-1), and half-way through another.

    def stop(progress: ImportProgress) -> None:
        if progress.sessions_done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await run(db, storage, progress=stop, concurrency=1)
    await StorageSession("chat/2 ü", storage).add_items(expected["chat/2 ü"][:3])
    assert set(await storage.list_sessions()) == {"chat-1", "chat/2 ü"}
    dry = await run(db, storage, dry_run=True)
    assert (dry.imported_sessions, dry.imported_items, dry.complete) == (2, 1 + 1, 1)
    result = await run(db, storage)
    assert (result.imported_sessions, result.imported_items, result.complete) == (2, 2, 1)
    assert await read_back(storage, SESSIONS) == expected


async def test_a_session_with_other_items_is_left_alone(
    tmp_path: Path, storage: SessionStorage
) -> None:
    db = tmp_path / "agents.db"
    expected = await build_source(db)
    await StorageSession("chat-1", storage).add_items([{"role": "user", "content": "other"}])
    await StorageSession("empty-ish", storage).add_items(expected["empty-ish"] * 2)
    result = await run(db, storage)
    assert set(result.diverged) == {"chat-1", "empty-ish"}
    assert "item 0 in the store is not the source's" in result.diverged["chat-1"]
    assert "holds 2 items, the source 1" in result.diverged["empty-ish"]
    got = await read_back(storage, SESSIONS)
    assert got["chat-1"] == [{"role": "user", "content": "other"}]
    assert got["chat/2 ü"] == expected["chat/2 ü"]


async def test_a_dry_run_counts_and_writes_nothing(tmp_path: Path, storage: SessionStorage) -> None:
    db = tmp_path / "agents.db"
    await build_source(db)
    result = await run(db, storage, dry_run=True)
    assert result.dry_run and (result.imported_sessions, result.imported_items) == (3, 12)
    assert await storage.list_sessions() == []


async def test_a_missing_or_foreign_database_is_named(
    tmp_path: Path, storage: SessionStorage
) -> None:
    with pytest.raises(InvalidArgumentError, match="no such file"):
        open_importer("openai-sqlite", str(tmp_path / "nope.db"), storage)
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(InvalidArgumentError, match=r"other\.db is not .*'agent_messages'"):
        open_importer("openai-sqlite", str(tmp_path / "other.db"), storage)
    (tmp_path / "junk.db").write_bytes(b"x" * 4096)
    with pytest.raises(CorruptDataError, match=r"junk\.db is not a SQLite database"):
        open_importer("openai-sqlite", str(tmp_path / "junk.db"), storage)
    with pytest.raises(InvalidArgumentError, match="unknown import source"):
        open_importer("nope", str(tmp_path / "other.db"), storage)
