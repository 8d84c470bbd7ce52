"""What an import costs on S3 (moto), counted at the server: per session, a first run and
a second one that finds everything in place. Prints the figures; asserts the budgets
docs/integrations.md gives."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from google.adk.sessions.database_session_service import DatabaseSessionService
from langgraph.checkpoint.sqlite import SqliteSaver

from session_storage import SessionStorage
from session_storage.admin.importing import ImportResult, run_import
from session_storage.integrations.importers import open_importer

from ..support.adk_agent import converse
from ..support.cloud import RequestLog
from .test_import_langgraph import THREADS, config, graph
from .test_import_openai import build_source


async def _import(source: str, path: Path, storage: SessionStorage) -> ImportResult:
    importer = open_importer(source, str(path), storage)
    try:
        return await run_import(importer)
    finally:
        await importer.aclose()


async def _sources(tmp_path: Path) -> dict[str, Path]:
    openai = tmp_path / "agents.db"
    await build_source(openai)
    langgraph = tmp_path / "checkpoints.sqlite"
    with sqlite3.connect(langgraph, check_same_thread=False) as connection:
        app = graph(SqliteSaver(connection))
        for thread_id in THREADS:
            app.invoke({"log": [thread_id]}, config(thread_id))
    connection.close()
    adk = tmp_path / "sessions.db"
    service = DatabaseSessionService(f"sqlite+aiosqlite:///{adk}")
    await converse(service, ["hello", "again"])
    await service.close()
    return {"openai-sqlite": openai, "langgraph-sqlite": langgraph, "adk-sqlite": adk}


def _namespaces(path: Path) -> int:
    with sqlite3.connect(path) as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM (SELECT DISTINCT thread_id, checkpoint_ns FROM checkpoints)"
        ).fetchone()
    return int(count)


async def test_requests_per_session_on_s3(
    tmp_path: Path, make_s3_storage: Callable[..., SessionStorage], s3_requests: RequestLog
) -> None:
    counted: dict[str, tuple[ImportResult, int, int]] = {}
    sources = await _sources(tmp_path)
    for source, path in sources.items():
        async with make_s3_storage() as storage:
            s3_requests.take()
            first = await _import(source, path, storage)
            written = len(s3_requests.take())
            again = await _import(source, path, storage)
            checked = len(s3_requests.take())
        assert first.imported_sessions == again.complete == first.sessions
        counted[source] = (first, written, checked)
        print(
            f"\n{source}: {first.sessions} sessions, {first.items} items: first run "
            f"{written} requests, a second run {checked}"
        )
    # One read of the stream's length and one append per conversation; then the read.
    result, written, checked = counted["openai-sqlite"]
    assert (written, checked) == (2 * result.sessions, result.sessions)
    # One listing per namespace; per checkpoint one write, one for its writes if any.
    result, written, checked = counted["langgraph-sqlite"]
    namespaces = _namespaces(sources["langgraph-sqlite"])
    assert written <= namespaces + 2 * result.items and checked == namespaces
    # Per session: its record, its length, one append, the record written; once per run
    # the app's and the user's state read, and written as a key differs. Then the reads,
    # and the stream's newest event.
    result, written, checked = counted["adk-sqlite"]
    assert (result.sessions, written, checked) == (1, 4 + 4, 3 + 2)
