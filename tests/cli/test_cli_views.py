"""``session-storage events``, ``ls`` and ``show`` with ``--as``, and the rules of
``serve`` that end before it serves (the bind rule, the token's form, the URL line)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest

from session_storage import SessionStorage
from session_storage.cli import main

from ..support.web_stores import CONVERSATION, fill_adk, fill_langgraph

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def go(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return go


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = str(tmp_path / "store")

    async def fill() -> None:
        async with SessionStorage(url) as storage:
            await storage.append_events("chat", "log", [{"n": n} for n in range(300)])
            await storage.append_events("chat", "openai-agents", CONVERSATION)
            await storage.store_session("chat", {"v": 1})

    asyncio.run(fill())
    return url


def test_events_prints_index_time_and_item(run: Run, store: str) -> None:
    code, out, _ = run("--url", store, "events", "chat", "log")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 300
    index, day, time, item = lines[299].split(maxsplit=3)
    assert index == "299" and time.endswith("Z") and orjson.loads(item) == {"n": 299}
    code, out, _ = run("--url", store, "events", "chat", "log", "--tail", "2", "--json")
    rows = [orjson.loads(line) for line in out.splitlines()]
    assert [r["index"] for r in rows] == [298, 299] and rows[1]["item"] == {"n": 299}
    assert rows[0]["appended_at"].endswith(("Z", "+00:00"))
    code, out, _ = run("--url", store, "events", "chat", "log", "--start", "297")
    assert [line.split()[0] for line in out.splitlines()] == ["297", "298", "299"]
    code, _, err = run("--url", store, "events", "chat", "nope")
    assert code == 1 and "no stream 'nope'" in err
    code, _, err = run("--url", store, "events", "chat", "log", "--start", "1", "--tail", "1")
    assert code == 2 and "not allowed with" in err


def test_events_follow_prints_new_events_until_interrupted(store: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "session_storage", "--url", store, "events", "chat", "log"]
        + ["--tail", "1", "--follow", "--interval", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().split()[0] == "299"

        async def more() -> None:
            async with SessionStorage(store) as storage:
                await storage.append_events("chat", "log", [{"n": 300}, {"n": 301}])

        asyncio.run(more())
        assert process.stdout.readline().split()[0] == "300"
        assert orjson.loads(process.stdout.readline().split(maxsplit=3)[3]) == {"n": 301}
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_show_reads_a_conversation(run: Run, store: str) -> None:
    code, out, _ = run("--url", store, "show", "chat", "--as", "openai-agents")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "[0] user (message): What is the weather in Paris?"
    assert lines[1] == '[1] assistant (tool call get_weather): {"city": "Paris"}'
    assert lines[3] == "[3] assistant (message): It is sunny in Paris."
    code, out, _ = run("--url", store, "show", "chat", "--as", "openai-agents", "--json")
    assert orjson.loads(out) == CONVERSATION
    code, out, _ = run("--url", store, "show", "chat")  # a plain store: the state
    assert code == 0 and orjson.loads(out)["v"] == 1


def test_ls_and_show_read_a_langgraph_store(run: Run, tmp_path: Path) -> None:
    url = str(tmp_path / "lg")

    async def fill() -> None:
        async with SessionStorage(url) as storage:
            await fill_langgraph(storage)

    asyncio.run(fill())
    code, out, _ = run("--url", url, "ls")  # found from the layout
    assert code == 0 and out.splitlines()[0] == "thread-1" and "threads" not in out
    code, out, _ = run("--url", url, "ls", "--as", "plain")
    assert out.splitlines() == ["runs", "threads"] or out.splitlines() == ["threads"]
    code, out, _ = run("--url", url, "show", "thread-1", "--json")
    rows = orjson.loads(out)
    assert code == 0 and [r["step"] for r in rows] == sorted(
        (r["step"] for r in rows), reverse=True
    )
    newest = rows[0]["id"]
    code, out, _ = run("--url", url, "show", "thread-1", newest, "--json")
    shown = orjson.loads(out)
    assert shown["checkpoint"]["id"] == newest and "echo:hello" in shown["values"]["messages"]
    assert any(c["channel"] == "messages" for c in shown["changes"])
    code, _, err = run("--url", url, "show", "nobody")
    assert code == 1 and "no checkpoints" in err


def test_ls_and_show_read_an_adk_store(run: Run, tmp_path: Path) -> None:
    url = str(tmp_path / "adk")

    async def fill() -> None:
        async with SessionStorage(url) as storage:
            await fill_adk(storage)

    asyncio.run(fill())
    assert run("--url", url, "ls")[1].splitlines() == ["weather-app"]
    assert run("--url", url, "ls", "--app", "weather-app")[1].splitlines() == ["alice"]
    code, out, _ = run("--url", url, "ls", "--app", "weather-app", "--user", "alice")
    assert out.splitlines()[0] == "session-1"
    code, out, _ = run(
        "--url", url, "show", "session-1", "--app", "weather-app", "--user", "alice", "--json"
    )
    shown = orjson.loads(out)
    assert shown["state"]["city"] == "Paris" and len(shown["events"]) == 3
    assert shown["events"][1]["author"] == "weather_agent"
    code, _, err = run("--url", url, "show", "session-1")
    assert code == 2 and "--app and --user" in err


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if k != "SESSION_STORAGE_SERVE_TOKEN"}
    return subprocess.Popen(
        [sys.executable, "-m", "session_storage", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**full, **(env or {})},
    )


def test_serve_needs_a_token_beyond_127_0_0_1(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SESSION_STORAGE_SERVE_TOKEN", raising=False)
    for host in ("0.0.0.0", "::", "192.0.2.1", "localhost"):
        code, out, err = run("--url", str(tmp_path), "serve", "--host", host, "--port", "0")
        assert code == 2, (host, err)
        assert out == "" and len(err.splitlines()) == 1 and "needs --token" in err
    code, _, err = run("--url", str(tmp_path), "serve", "--token", "short")
    assert code == 2 and "at least 8 characters" in err
    assert list(tmp_path.iterdir()) == []


def test_serve_prints_its_url_first_with_the_token(tmp_path: Path) -> None:
    process = _serve(
        "--url", str(tmp_path), "--port", "0", env={"SESSION_STORAGE_SERVE_TOKEN": "env-token-1"}
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/?token=env-token-1")
        assert int(url.split(":")[2].split("/")[0]) > 0  # --port 0: a port was picked
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert list(tmp_path.iterdir()) == []  # serving an empty folder made nothing


def test_serve_open_hands_its_url_to_the_browser(tmp_path: Path) -> None:
    # The system's browser is whatever BROWSER names: here a program that writes down
    # the URL it was given, which must be the served URL, token included, and work.
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.py"
    browser.write_text(
        f"import sys, pathlib\npathlib.Path({str(opened)!r}).write_text(sys.argv[1])\n"
    )
    store = tmp_path / "store"
    process = _serve(
        "--url", str(store), "--port", "0", "--token", "open-token-1", "--open",
        env={"BROWSER": f"{sys.executable} {browser} %s"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        deadline = time.monotonic() + 30
        while not opened.exists() or not opened.read_text():
            assert time.monotonic() < deadline, "the browser was never started"
            assert process.poll() is None, process.communicate()[1]
            time.sleep(0.05)
        assert opened.read_text() == url
        page = httpx.get(url, follow_redirects=True, timeout=30)
        assert page.status_code == 200 and "Sessions" in page.text
    finally:
        process.terminate()
        process.wait(timeout=30)
