"""The README's programs run as a new user would run them, each on its backend."""

from __future__ import annotations

import importlib.util
import os
import runpy
import shlex
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(script: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,  # the assertion below shows stderr on failure
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quickstart_runs_on_the_local_default(tmp_path: Path) -> None:
    env = {k: "" for k in os.environ if k.startswith("SESSION_STORAGE_")}
    out = run("quickstart.py", env=env, cwd=tmp_path)
    root = tmp_path / ".data" / "sessions"
    assert f"storage: file://{root}" in out
    assert "chat-42 is at turn 1" in out
    assert "appended message 0: {'role': 'user', 'content': 'hello #1'}" in out
    assert "loaded chat-42: status=active turns=1" in out
    assert "sessions at the root: ['../sneaky/id', 'chat-42', 'tenant-a']" in out
    assert "sessions left: ['chat-42']" in out

    # A second run continues the conversation it left behind.
    again = run("quickstart.py", env=env, cwd=tmp_path)
    assert "chat-42 is at turn 2" in again
    assert "appended message 1: {'role': 'user', 'content': 'hello #2'}" in again

    # What it leaves behind is there for the command line to show, with the command it
    # prints, run as printed from the folder it ran in.
    printed = [line for line in again.splitlines() if line.startswith("try: ")]
    assert len(printed) == 1, again
    shown = subprocess.run(
        shlex.split(printed[0].removeprefix("try: ")),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
        cwd=tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    assert '"turns": 2' in shown.stdout


def test_quickstart_prints_the_venv_script_relative_to_the_repository(tmp_path: Path) -> None:
    """From the repository root after `make quickstart`: `.venv/bin/session-storage`, not
    a bare `session-storage` that is not on PATH; without the script, `python -m`."""
    spec = importlib.util.spec_from_file_location("quickstart", EXAMPLES / "quickstart.py")
    assert spec is not None and spec.loader is not None
    quickstart = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quickstart)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.touch()
    fallback = quickstart.cli_command(str(python), str(tmp_path))
    assert fallback == ".venv/bin/python -m session_storage"
    script = bin_dir / "session-storage"
    script.touch(mode=0o755)
    assert quickstart.cli_command(str(python), str(tmp_path)) == ".venv/bin/session-storage"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert quickstart.cli_command(str(python), str(elsewhere)) == str(script)


def _check_walk_through(out: str, backend: str) -> None:
    assert f"(backend: {backend})" in out
    assert "loaded chat-42: {'status': 'active'" in out
    assert "files of chat-42: ['state.json', 'uploads/photo.png']" in out
    assert "deleted chat-42: True" in out and "sessions left: []" in out


def test_s3_example_on_moto(moto_s3_server: str) -> None:
    env = {
        "AWS_ENDPOINT_URL": moto_s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    bucket = f"demo-{uuid.uuid4().hex[:8]}"
    _check_walk_through(run("s3_example.py", f"s3://{bucket}", "--create-bucket", env=env), "s3")


def test_gcs_example_on_fake_gcs_server(gcs_endpoint: str) -> None:
    env = {"STORAGE_EMULATOR_HOST": gcs_endpoint}
    bucket = f"demo-{uuid.uuid4().hex[:8]}"
    _check_walk_through(run("gcs_example.py", f"gs://{bucket}", "--create-bucket", env=env), "gcs")


def test_azure_example_on_azurite(azurite_connection_string: str) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string}
    container = f"demo-{uuid.uuid4().hex[:8]}"
    out = run("azure_example.py", f"az://{container}", "--create-bucket", env=env)
    _check_walk_through(out, "azure")


def test_langgraph_example_runs_on_local_disk_and_goes_on(tmp_path: Path) -> None:
    out = run("langgraph_example.py", cwd=tmp_path)
    assert f"storage: file://{tmp_path / '.data' / 'langgraph'}" in out
    assert "turn 1: waiting at ['approve']" in out
    assert "resumed: [\"bot: you said 'user: hello #1'\", 'human: approved']" in out
    assert "thread chat-1: 1 turns, 4 checkpoints" in out
    again = run("langgraph_example.py", cwd=tmp_path)
    assert "thread chat-1: 2 turns, 8 checkpoints" in again


def test_langgraph_example_on_moto(moto_s3_server: str) -> None:
    env = {
        "AWS_ENDPOINT_URL": moto_s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    url = f"s3://demo-{uuid.uuid4().hex[:8]}/langgraph"
    out = run("langgraph_example.py", url, "--create-bucket", env=env)
    assert "(backend: s3)" in out and "human: approved" in out
    assert "thread chat-1: 1 turns, 4 checkpoints" in out


def test_adk_example_resumes_on_local_files_in_a_new_process(tmp_path: Path) -> None:
    first = run("adk_example.py", "hi there", cwd=tmp_path)
    assert f"storage: file://{tmp_path / '.data' / 'adk'}" in first
    assert "created session demo-session" in first
    assert "echo: turn 1: you said 'hi there'" in first
    assert "2 events, state {'turns': 1, 'app:turns': 1, 'user:turns': 1}" in first
    again = run("adk_example.py", "again", cwd=tmp_path)
    assert "created session" not in again
    assert "echo: turn 2: you said 'again'" in again
    assert "4 events, state {'turns': 2, 'app:turns': 2, 'user:turns': 2}" in again
    assert "sessions of ann: ['demo-session']" in again


def test_adk_example_on_moto(moto_s3_server: str) -> None:
    env = {
        "AWS_ENDPOINT_URL": moto_s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    url = f"s3://demo-{uuid.uuid4().hex[:8]}/adk"
    out = run("adk_example.py", "hello", "--url", url, "--create-bucket", env=env)
    assert f"storage: {url} (backend: s3)" in out
    assert "echo: turn 1: you said 'hello'" in out
    assert "2 events, state {'turns': 1, 'app:turns': 1, 'user:turns': 1}" in out


def test_openai_agents_example_continues_the_chat_in_each_run(tmp_path: Path) -> None:
    env = {k: "" for k in os.environ if k.startswith("SESSION_STORAGE_")}
    out = run("openai_agents_example.py", env=env, cwd=tmp_path)
    assert f"storage: file://{tmp_path / '.data' / 'sessions'} (backend: file)" in out
    assert "turn 1: 0 items in the history so far" in out
    assert "assistant: In Paris it is sunny, 21 °C." in out
    assert "history now: 4 items, kept as the event stream 'openai-agents'" in out

    again = run("openai_agents_example.py", env=env, cwd=tmp_path)
    assert "turn 2: 4 items in the history so far" in again
    assert "the model was sent 5 items in its first call" in again
    assert "history now: 8 items" in again


def test_openai_agents_example_on_moto(moto_s3_server: str) -> None:
    env = {
        "AWS_ENDPOINT_URL": moto_s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    url = f"s3://demo-{uuid.uuid4().hex[:8]}/agents"
    out = run("openai_agents_example.py", url, "--create-bucket", env=env)
    assert "(backend: s3)" in out and "assistant: In Paris it is sunny, 21 °C." in out
    assert "history now: 4 items" in out


def _run_again_here(script: str, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> str:
    """A second run of ``script`` in this process (its framework is imported already,
    which saves a new interpreter's seconds of imports); what it printed."""
    monkeypatch.setattr(sys, "argv", [script])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    return str(capsys.readouterr().out)


@pytest.mark.filterwarnings("ignore::langchain_core._api.LangChainDeprecationWarning")
@pytest.mark.parametrize(
    ("script", "first", "second"),
    [
        (
            "strands_example.py",
            ["restored 0 messages", "agent: turn 1: you said 'hello'", "2 messages"],
            ["restored 2 messages", "agent: turn 2: you said 'hello'", "4 messages"],
        ),
        (
            "langchain_example.py",
            ["turn 1: answer 1", "history: ['human: question 1', 'ai: answer 1']"],
            ["turn 2: answer 2", "'human: question 2', 'ai: answer 2']"],
        ),
        (
            "llama_index_example.py",
            ["turn 1: memory holds ['question 1', 'answer 1']", "chat keys: ['ann']"],
            ["turn 2: memory holds ['question 1', 'answer 1', 'question 2', 'answer 2']"],
        ),
    ],
)
def test_chat_framework_examples_carry_on_in_the_next_run(
    script: str,
    first: list[str],
    second: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    out = run(script, cwd=tmp_path)
    assert f"storage: file://{tmp_path / '.data'}/" in out
    for line in first:
        assert line in out
    monkeypatch.chdir(tmp_path)
    again = _run_again_here(script, monkeypatch, capsys)
    for line in second:
        assert line in again


def test_adk_server_example_runs_adks_api_server_on_local_files(tmp_path: Path) -> None:
    env = {k: "" for k in os.environ if k.startswith("SESSION_STORAGE_")}
    out = run("adk_server_example.py", "hello", env=env, cwd=tmp_path)
    assert "agent: #1: noted 'hello' as notes.txt version 0" in out
    assert "session demo: 2 events by ['notes', 'user'], turns=1" in out
    assert "notes.txt: 1 versions, latest 'turn 1: hello'" in out
    assert (tmp_path / ".data" / "adk-server" / "notes_agent" / "artifacts").is_dir()


def test_import_example_moves_conversations_from_sqlite_and_a_second_run_writes_nothing(
    tmp_path: Path,
) -> None:
    out = run("import_example.py", str(tmp_path / "imported"))
    assert "imported 5 items into 2 sessions, 0 complete already" in out
    assert "imported 0 items into 0 sessions, 2 complete already" in out
    assert "'weather-chat': 4 item(s), the same as in SQLite" in out
    assert "'support/ticket 7': 1 item(s), the same as in SQLite" in out
