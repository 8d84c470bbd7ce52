"""``session-storage import``: what it prints, its dry run, its JSON, its progress bar on a
terminal, a bucket as the destination (S3 on moto), and the errors it ends with.

What each importer stores is held against the frameworks in
tests/integrations/test_import_*.py."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import orjson
import pytest

from session_storage import SessionStorage
from session_storage.cli import main
from session_storage.integrations.openai_agents import StorageSession
from session_storage.pytest_plugin import s3_storage_options

from ..integrations.test_import_openai import SESSIONS, build_source
from ..support.cloud import new_bucket
from .test_cli import Cli, Ran, _run_in_terminal


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


def test_import_draws_a_progress_bar_on_a_terminal(database: Path, tmp_path: Path) -> None:
    url = str(tmp_path / "store")
    code, shown = _run_in_terminal(
        ["import", "openai-sqlite", str(database), "--url", url], {}, None
    )
    assert code == 0, shown
    assert "importing [" in shown and "100% 3/3 sessions 13/13 items" in shown


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
