"""The command line, run as a subprocess against a file store and an S3 (moto) store."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from session_storage import SyncSessionStorage
from session_storage.pytest_plugin import s3_storage_options

from .conftest import new_bucket


@dataclass
class Target:
    """A store the CLI is pointed at through the environment, and a handle to check it."""

    url: str
    env: dict[str, str]
    storage: SyncSessionStorage

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=self.env, stdin=stdin)


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_STORAGE_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "session_storage", *args],
        env=full_env,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The stderr of a failed run: exactly one line, no traceback."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.fixture(params=["file", "s3"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "file":
        url = str(tmp_path / "store")
        env = {"SESSION_STORAGE_URL": url}
        options: dict[str, str] = {}
    else:
        endpoint = request.getfixturevalue("moto_s3_server")
        url = f"s3://{new_bucket(endpoint)}"
        options = s3_storage_options(endpoint)
        env = {"SESSION_STORAGE_URL": url, "SESSION_STORAGE_OPTIONS": json.dumps(options)}
    with SyncSessionStorage(url, options) as storage:
        yield Target(url, env, storage)


def seed(storage: SyncSessionStorage) -> None:
    storage.store_session("chat-42", {"status": "active", "turns": 3})
    storage.store_session("chat-42", {"n": 1}, "checkpoints/001.json")
    storage.store_bytes("chat-42", "upload.bin", b"\x00\xffbinary")
    storage.store_session("chat-7", {"status": "done"})
    storage.store_session("line\nbreak", {"odd": True})


def test_ls_files_show_info(target: Target) -> None:
    empty = target.run("ls")
    assert (empty.returncode, empty.stdout) == (0, "")
    seed(target.storage)

    ls = target.run("ls")
    assert ls.returncode == 0 and ls.stdout.splitlines() == ["chat-42", "chat-7", "'line\\nbreak'"]
    assert target.run("ls", "chat-4").stdout == "chat-42\n"
    as_json = target.run("--json", "ls")
    assert json.loads(as_json.stdout) == ["chat-42", "chat-7", "line\nbreak"]

    files = target.run("files", "chat-42")
    assert files.stdout.splitlines() == ["checkpoints/001.json", "state.json", "upload.bin"]
    missing = target.run("files", "nope")
    assert missing.returncode == 1 and "nope" in one_line_error(missing)

    show = target.run("show", "chat-42")
    assert show.returncode == 0 and show.stdout.startswith('{\n  "status": "active"')
    shown = json.loads(show.stdout)
    assert shown["turns"] == 3 and shown["_metadata"]["session_id"] == "chat-42"
    compact = target.run("show", "chat-42", "checkpoints/001.json", "--json")
    assert compact.stdout.count("\n") == 1 and json.loads(compact.stdout)["n"] == 1
    not_json = target.run("show", "chat-42", "upload.bin")
    assert not_json.returncode == 4 and "--raw" in one_line_error(not_json)
    raw = subprocess.run(
        [sys.executable, "-m", "session_storage", "show", "chat-42", "upload.bin", "--raw"],
        env={**os.environ, **target.env},
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert raw.returncode == 0 and raw.stdout == b"\x00\xffbinary"
    gone = target.run("show", "chat-42", "nope.json")
    assert gone.returncode == 1 and "'nope.json'" in one_line_error(gone)

    info = target.run("info", "chat-42")
    lines = info.stdout.splitlines()
    assert info.returncode == 0 and len(lines) == 4
    assert lines[2].split()[0] == "8" and lines[2].endswith("upload.bin")
    assert lines[3].startswith("3 files, ")
    one = json.loads(target.run("info", "chat-42", "state.json", "--json").stdout)
    meta = target.storage.get_session_metadata("chat-42")
    assert meta is not None
    assert one["size"] == meta["size"] and one["version"] == meta["version"]
    assert one["backend"] == target.storage.backend and one["modified"].endswith("+00:00")
    plain_info = target.run("info", "chat-42", "state.json").stdout
    assert f"size       {meta['size']}" in plain_info
    assert target.run("info", "chat-42", "nope.json").returncode == 1


def test_rm_asks_unless_yes_and_refuses_without_a_terminal(target: Target) -> None:
    seed(target.storage)
    refused = target.run("rm", "chat-7")
    assert refused.returncode == 2 and "--yes" in one_line_error(refused)
    assert target.storage.session_exists("chat-7")

    removed = target.run("rm", "chat-7", "--yes")
    assert removed.returncode == 0 and "deleted session 'chat-7'" in removed.stdout
    assert not target.storage.session_exists("chat-7")

    one_file = target.run("rm", "chat-42", "upload.bin", "-y", "--json")
    assert json.loads(one_file.stdout) == {
        "session_id": "chat-42",
        "filename": "upload.bin",
        "deleted": True,
    }
    assert target.storage.list_files("chat-42") == ["checkpoints/001.json", "state.json"]
    assert target.run("rm", "chat-7", "--yes").returncode == 1
    assert target.run("rm", "chat-42", "upload.bin", "--yes").returncode == 1


def test_gc(target: Target) -> None:
    seed(target.storage)
    keep = target.run("gc", "--older-than", "30d")
    assert keep.returncode == 0 and keep.stdout.startswith("deleted 0 sessions")
    would = json.loads(target.run("gc", "--older-than", "0s", "--dry-run", "--json").stdout)
    assert would["dry_run"] is True
    assert would["sessions"] == ["chat-42", "chat-7", "line\nbreak"]
    assert len(target.storage.list_sessions()) == 3
    if target.storage.backend == "file":  # set one session's file times back 40 days
        old = time.time() - 40 * 86400
        for path in (Path(target.url) / "chat-7").rglob("*"):
            os.utime(path, (old, old))
        done = target.run("gc", "--older-than", "30d")
        assert done.stdout.splitlines() == [
            done.stdout.splitlines()[0],
            "  chat-7",
        ] and done.stdout.startswith("deleted 1 session whose newest file is older than 30d")
        assert target.storage.list_sessions() == ["chat-42", "line\nbreak"]
    everything = target.run("gc", "--older-than", "0s")
    assert everything.returncode == 0
    assert target.storage.list_sessions() == []


def test_errors_are_one_line_with_meaningful_exit_codes(
    tmp_path: Path, moto_s3_server: str
) -> None:
    env = {"SESSION_STORAGE_URL": str(tmp_path)}
    bad_scheme = run_cli("--url", "nope://x", "ls", env=env)
    assert bad_scheme.returncode == 2 and "unsupported URL scheme" in one_line_error(bad_scheme)
    bad_duration = run_cli("gc", "--older-than", "30x", env=env)
    assert bad_duration.returncode == 2 and "invalid duration" in one_line_error(bad_duration)
    bad_options = run_cli("--options", "[1]", "ls", env=env)
    assert bad_options.returncode == 2 and "JSON object" in one_line_error(bad_options)
    no_command = run_cli(env=env)
    assert no_command.returncode == 2 and "COMMAND" in one_line_error(no_command)
    bad_env = run_cli("ls", env={**env, "SESSION_STORAGE_OPTIONS": "{nope"})
    assert bad_env.returncode == 2 and "SESSION_STORAGE_OPTIONS" in one_line_error(bad_env)
    bad_key = run_cli("show", "", env=env)
    assert bad_key.returncode == 2 and "empty" in one_line_error(bad_key)
    options = json.dumps(s3_storage_options(moto_s3_server))
    no_bucket = run_cli(
        "--url",
        "s3://no-such-bucket-cli",
        "ls",
        env={"SESSION_STORAGE_OPTIONS": options},
    )
    assert no_bucket.returncode == 3
    assert "no-such-bucket-cli" in one_line_error(no_bucket)


def test_options_on_the_command_line(moto_s3_server: str) -> None:
    bucket = new_bucket(moto_s3_server)
    with SyncSessionStorage(f"s3://{bucket}", s3_storage_options(moto_s3_server)) as storage:
        storage.store_session("abc", {})
    done = run_cli(
        "ls",
        "--url",
        f"s3://{bucket}",
        "-o",
        f"endpoint_url={moto_s3_server}",
        "--option",
        "key=testing",
        "--options",
        '{"secret": "testing"}',
    )
    assert (done.returncode, done.stdout) == (0, "abc\n"), done.stderr


def test_help_lists_exit_codes_and_the_console_script_works() -> None:
    help_text = run_cli("--help").stdout
    assert "exit codes:" in help_text and "130 interrupted" in help_text
    for command in ("ls", "files", "show", "info", "rm", "cp", "gc"):
        assert command in help_text
    assert "exit codes:" in run_cli("gc", "--help").stdout
    script = Path(sys.executable).parent / "session-storage"
    done = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0 and done.stdout.startswith("session-storage ")


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def test_cp_file_to_s3_to_file_round_trips_byte_for_byte(
    tmp_path: Path, moto_s3_server: str
) -> None:
    src, back = tmp_path / "src", tmp_path / "back"
    with SyncSessionStorage(src) as storage:
        seed(storage)
        for i in range(20):
            storage.store_session(f"s{i:02d}", {"i": i, "text": "x" * i})
        storage.narrow("tenant-a", "alice").store_session("deep", {"who": "alice"})
        storage.store_session("☃ ../weird", {"snow": "man"})
        storage.store_bytes("blobs", "a/b/c.bin", bytes(range(256)) * 4)
    bucket = new_bucket(moto_s3_server)
    env = {"SESSION_STORAGE_OPTIONS": json.dumps(s3_storage_options(moto_s3_server))}

    up = run_cli("cp", str(src), f"s3://{bucket}/copy", "--json", env=env)
    assert up.returncode == 0, up.stderr
    report = json.loads(up.stdout)
    files = len(_tree(src))
    assert (report["files"], report["copied"], report["skipped"]) == (files, files, 0)
    assert report["sessions"] == 26  # 3 seeded, 20, tenant-a, the snowman, blobs

    down = run_cli("cp", f"s3://{bucket}/copy", str(back), env=env)
    assert down.returncode == 0, down.stderr
    assert down.stdout.startswith(f"26 sessions, {files} files: copied {files} ")
    assert _tree(back) == _tree(src)  # every path and every byte

    again = json.loads(run_cli("cp", str(src), f"s3://{bucket}/copy", "--json", env=env).stdout)
    assert (again["copied"], again["skipped"]) == (0, files)

    # Same size, different bytes: compared byte for byte, so it is copied.
    (src / "blobs" / "a" / "b" / "c.bin").write_bytes(bytes(reversed(range(256))) * 4)
    changed = json.loads(run_cli("cp", str(src), f"s3://{bucket}/copy", "--json", env=env).stdout)
    assert (changed["copied"], changed["skipped"]) == (1, files - 1)


def _run_in_terminal(args: list[str], env: dict[str, str], answer: bytes | None) -> tuple[int, str]:
    """Run the CLI with stdin and stderr on a pseudo-terminal; its exit code and terminal output."""
    leader, follower = pty.openpty()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_STORAGE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "session_storage", *args],
        env={**full_env, **env, "COLUMNS": "100"},
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    output = b""
    if answer is not None:
        while b"[y/N]" not in output:
            chunk = os.read(leader, 1024)
            assert chunk, output
            output += chunk
        os.write(leader, answer)
    code = proc.wait(timeout=120)
    assert proc.stdout is not None
    proc.stdout.close()
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    return code, output.decode(errors="replace")


def test_rm_confirmation_at_a_terminal(tmp_path: Path) -> None:
    env = {"SESSION_STORAGE_URL": str(tmp_path)}
    with SyncSessionStorage(tmp_path) as storage:
        seed(storage)
    code, shown = _run_in_terminal(["rm", "chat-7"], env, b"n\n")
    assert code == 5 and "Delete session 'chat-7' (1 file)" in shown and "nothing deleted" in shown
    assert (tmp_path / "chat-7" / "state.json").exists()
    code, _ = _run_in_terminal(["rm", "chat-7"], env, b"y\n")
    assert code == 0 and not (tmp_path / "chat-7").exists()


def test_cp_draws_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    with SyncSessionStorage(tmp_path / "a") as storage:
        for i in range(30):
            storage.store_session(f"s{i}", {"i": i})
    code, shown = _run_in_terminal(["cp", str(tmp_path / "a"), str(tmp_path / "b")], {}, None)
    assert code == 0, shown
    assert "copying [" in shown and "100% 30/30 files" in shown
    assert orjson.loads((tmp_path / "b" / "s7" / "state.json").read_bytes())["i"] == 7
