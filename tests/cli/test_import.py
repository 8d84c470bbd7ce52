"""``session-storage import``: what it prints, its dry run, its JSON, its progress bar on a
terminal, a bucket as the destination (S3 on moto), the errors it ends with, and an
import killed half-way and run again.

What each importer stores is held against the frameworks in
tests/integrations/test_import_*.py."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from agents.memory import SQLiteSession

from session_storage import SessionStorage
from session_storage.admin.importing import ImportResult, run_import
from session_storage.cli import main
from session_storage.integrations.importers import open_importer
from session_storage.integrations.openai_agents import StorageSession
from session_storage.pytest_plugin import s3_storage_options

from ..integrations.test_import_openai import SESSIONS, build_source
from ..support.cloud import new_bucket
from .test_cli import Cli, Ran


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``main(argv)`` in this process, with no SESSION_STORAGE_* settings."""
    for name in list(os.environ):
        if name.startswith("SESSION_STORAGE_"):
            monkeypatch.delenv(name)

    def run(*argv: str) -> Ran:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "agents.db"
    asyncio.run(build_source(path))
    return path


async def _items(url: str, options: dict[str, str] | None = None) -> dict[str, object]:
    async with SessionStorage(url, options) as storage:
        return {sid: await StorageSession(sid, storage).get_items() for sid in SESSIONS}


def test_import_prints_what_it_did_and_a_second_run_nothing(
    cli: Cli, database: Path, tmp_path: Path
) -> None:
    url = str(tmp_path / "store")
    dry = cli("import", "openai-sqlite", str(database), "--url", url, "--dry-run")
    assert dry.code == 0 and not (tmp_path / "store").exists()
    assert dry.out == (
        f"3 sessions (12 items) in {database}: would import 12 items into 3 sessions, "
        f"0 complete already; file://{url}\n"
    )
    done = cli("import", "openai-sqlite", str(database), "--url", url)
    assert done.code == 0 and "imported 12 items into 3 sessions" in done.out
    assert asyncio.run(_items(url)) == SESSIONS
    again = cli("import", "openai-sqlite", str(database), "--url", url, "--json")
    assert again.code == 0
    reported = json.loads(again.out)
    assert reported["source"] == "openai-sqlite" and reported["database"] == str(database)
    assert (reported["imported_items"], reported["complete"], reported["diverged"]) == (0, 3, {})


def test_a_diverged_session_is_named_on_stderr(cli: Cli, database: Path, tmp_path: Path) -> None:
    url = str(tmp_path / "store")

    async def other() -> None:
        async with SessionStorage(url) as storage:
            await StorageSession("chat-1", storage).add_items([{"role": "user", "content": "x"}])

    asyncio.run(other())
    done = cli("import", "openai-sqlite", str(database), "--url", url)
    assert done.code == 0 and "1 diverged (left alone)" in done.out
    assert done.error_line() == (
        "session-storage: left chat-1 alone: item 0 in the store is not the source's"
    )


def test_import_into_a_bucket(cli: Cli, database: Path, moto_s3_server: str) -> None:
    url = f"s3://{new_bucket(moto_s3_server)}/agents"
    options = s3_storage_options(moto_s3_server)
    done = cli(
        "import",
        "openai-sqlite",
        str(database),
        "--url",
        url,
        "--options",
        orjson.dumps(options).decode(),
    )
    assert done.code == 0 and "imported 12 items into 3 sessions" in done.out, done.err
    assert asyncio.run(_items(url, options)) == SESSIONS


def test_errors_end_as_one_line(
    cli: Cli, database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = str(tmp_path / "store")
    missing = cli("import", "openai-sqlite", str(tmp_path / "nope.db"), "--url", url)
    assert missing.code == 2 and "nope.db: no such file" in missing.error_line()
    foreign = cli("import", "langgraph-sqlite", str(database), "--url", url)
    assert foreign.code == 2 and "is not a LangGraph SqliteSaver database" in (foreign.error_line())
    unknown = cli("import", "sqlite", str(database))
    assert unknown.code == 2
    # Without the framework: the extra to install is named.
    monkeypatch.setitem(sys.modules, "agents", None)
    for name in list(sys.modules):
        if name.startswith(
            (
                "session_storage.integrations.openai_agents",
                "session_storage.integrations.importers.",
            )
        ):
            monkeypatch.delitem(sys.modules, name)
    without = cli("import", "openai-sqlite", str(database), "--url", url)
    assert without.code == 2 and "pip install 'session-storage[openai-agents]'" in (
        without.error_line()
    )


def test_an_import_killed_mid_way_resumes_without_a_duplicate(tmp_path: Path) -> None:
    """``kill -9`` of a running import (drawing its progress bar on a terminal), then the
    import again: every conversation reads back as the SDK reads it, no item twice."""
    database, url = tmp_path / "many.db", tmp_path / "store"
    count = 300

    async def build() -> dict[str, list[Any]]:
        # One conversation written by the SDK, its rows then repeated in SQL for the
        # others (the SDK takes ~50 ms a conversation to write one).
        first = SQLiteSession("c0000", database)
        await first.add_items([{"role": "user", "content": f"0/{i}"} for i in range(5)])
        first.close()
        with sqlite3.connect(database) as db:
            for n in range(1, count):
                db.execute(
                    "INSERT INTO agent_messages (session_id, message_data) SELECT ?, "
                    "replace(message_data, '\"0/', ?) FROM agent_messages "
                    "WHERE session_id = 'c0000' ORDER BY id",
                    (f"c{n:04}", f'"{n}/'),
                )
        expected = {}
        for n in (0, 1, count - 1):
            session = SQLiteSession(f"c{n:04}", database)
            expected[session.session_id] = await session.get_items()
            session.close()
        assert expected["c0299"][4] == {"role": "user", "content": "299/4"}
        return {
            f"c{n:04}": [{"role": "user", "content": f"{n}/{i}"} for i in range(5)]
            for n in range(count)
        } | expected

    expected = asyncio.run(build())
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_STORAGE_")}
    command = [sys.executable, "-m", "session_storage", "import", "openai-sqlite"]
    # No fsync: what is tested is the resumption, not the disk. On a terminal, so the
    # progress bar is drawn.
    options = ["--url", str(url), "-o", "fsync=false"]
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [*command, str(database), *options], env=env, stdout=follower, stderr=follower
    )
    os.close(follower)
    try:
        # Killed once a few conversations are in: the rest, or part of one, is not.
        while child.poll() is None and len(os.listdir(url) if url.exists() else []) < 20:
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    finally:
        assert child.wait(timeout=60) == -signal.SIGKILL, "the import ended before the kill"
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert b"importing [" in shown and re.search(rb" \d+/300 sessions \d+/1500 items", shown)

    async def resume() -> tuple[ImportResult, dict[str, list[Any]]]:
        async with SessionStorage(url, {"fsync": False}) as storage:
            importer = open_importer("openai-sqlite", str(database), storage)
            try:
                result = await run_import(importer)
            finally:
                await importer.aclose()
            ids = await storage.list_sessions()
            got = {sid: await StorageSession(sid, storage).get_items() for sid in ids}
            return result, got

    result, got = asyncio.run(resume())
    assert got == expected
    assert 0 < result.complete < count and result.imported_items == 5 * (count - result.complete)
    print(f"killed after {result.complete} of {count} conversations; the rest imported")
