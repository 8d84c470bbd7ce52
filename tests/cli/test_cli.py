"""The command line: as a subprocess where the process's exit code or a terminal
matters, in-process through ``main(argv)`` elsewhere; on file, memory and S3 (moto)."""

from __future__ import annotations

import argparse
import io
import json
import os
import pty
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from session_storage import DEFAULT_FILENAME, SyncSessionStorage, errors
from session_storage.cli import main
from session_storage.cli.exits import UsageError, exit_code_for
from session_storage.cli.guards import check_copy
from session_storage.cli.parser import build_parser
from session_storage.pytest_plugin import s3_storage_options
from session_storage.settings import StorageSettings

from ..support.cloud import new_bucket


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
    if target.url.startswith("s3://"):  # an empty bucket
        assert (empty.returncode, empty.stdout) == (0, "")
    else:  # the folder is made by the first write: not there yet
        assert (empty.returncode, empty.stdout) == (1, "")
        assert "does not exist" in one_line_error(empty)
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
    keep = target.run("gc", "--older-than", "30d", "--yes")
    assert keep.returncode == 0 and keep.stdout.startswith("deleted 0 sessions")
    would = json.loads(target.run("gc", "--older-than", "0s", "--dry-run", "--json").stdout)
    assert would["dry_run"] is True
    assert would["sessions"] == ["chat-42", "chat-7", "line\nbreak"]
    assert len(target.storage.list_sessions()) == 3
    if target.storage.backend == "file":  # set one session's file times back 40 days
        old = time.time() - 40 * 86400
        for path in (Path(target.url) / "chat-7").rglob("*"):
            os.utime(path, (old, old))
        done = target.run("gc", "--older-than", "30d", "-y")
        assert done.stdout.splitlines() == [
            done.stdout.splitlines()[0],
            "  chat-7",
        ] and done.stdout.startswith("deleted 1 session whose newest file is older than 30d")
        assert target.storage.list_sessions() == ["chat-42", "line\nbreak"]
    everything = target.run("gc", "--older-than", "0s", "--yes")
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


# -- in-process runs ---------------------------------------------------------------


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def error_line(self) -> str:
        """The one line a failed run prints on stderr (no traceback)."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert "Traceback" not in self.err
        return lines[0]


Cli = Callable[..., Ran]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``main(argv)`` in this process, with no SESSION_STORAGE_* settings and a stdin
    that is not a terminal; ``env`` sets variables for the run."""
    for name in list(os.environ):
        if name.startswith("SESSION_STORAGE_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))

    def run(*argv: str, env: dict[str, str] | None = None) -> Ran:
        with monkeypatch.context() as scoped:
            for name, value in (env or {}).items():
                scoped.setenv(name, value)
            capsys.readouterr()
            code = main(list(argv))
            captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A file store holding the seeded sessions."""
    root = tmp_path / "store"
    with SyncSessionStorage(root) as storage:
        seed(storage)
    return root


def _sessions(root: Path) -> list[str]:
    with SyncSessionStorage(root) as storage:
        return storage.list_sessions()


def _age(root: Path, session: str, days: float) -> None:
    old = time.time() - days * 86400
    for path in (root / session).rglob("*"):
        os.utime(path, (old, old))


def test_gc_deletes_only_with_yes_when_stdin_is_not_a_terminal(cli: Cli, store: Path) -> None:
    _age(store, "chat-7", 40)
    url = str(store)
    refused = cli("--url", url, "gc", "--older-than", "30d")
    assert refused.code == 2
    assert "--yes" in refused.error_line() and "not a terminal" in refused.err
    # --older-than 0 selects everything: even a terminal's answer is not enough.
    everything = cli("--url", url, "gc", "--older-than", "0")
    assert everything.code == 2 and "every session" in everything.error_line()
    assert _sessions(store) == ["chat-42", "chat-7", "line\nbreak"]

    would = cli("--url", url, "gc", "--older-than", "30d", "--dry-run")
    assert would.code == 0 and would.out.splitlines()[1:] == ["  chat-7"]
    assert _sessions(store) == ["chat-42", "chat-7", "line\nbreak"]
    done = cli("--url", url, "gc", "--older-than", "30d", "--yes")
    assert done.code == 0 and done.out.startswith("deleted 1 session ")
    assert _sessions(store) == ["chat-42", "line\nbreak"]
    assert cli("--url", url, "gc", "--older-than", "0", "-y").code == 0
    assert _sessions(store) == []


def test_gc_asks_at_a_terminal(store: Path) -> None:
    _age(store, "chat-7", 40)
    env = {"SESSION_STORAGE_URL": str(store)}
    code, shown = _run_in_terminal(["gc", "--older-than", "30d"], env, b"n\n")
    assert code == 5 and "nothing deleted" in shown
    assert "Delete 1 session whose newest file is older than 30d" in shown
    assert _sessions(store) == ["chat-42", "chat-7", "line\nbreak"]
    code, shown = _run_in_terminal(["gc", "--older-than", "0s"], env, None)
    assert code == 2 and "[y/N]" not in shown and "--yes" in shown
    code, _ = _run_in_terminal(["gc", "--older-than", "30d"], env, b"y\n")
    assert code == 0 and _sessions(store) == ["chat-42", "line\nbreak"]


def test_cp_refuses_overlapping_roots(cli: Cli, store: Path, tmp_path: Path) -> None:
    before = _tree(store)
    (tmp_path / "link").symlink_to(store)
    for src, dst, why in [
        (str(store), str(store / "chat-42"), "the destination lies inside the source"),
        (str(store / "chat-42"), str(store), "the source lies inside the destination"),
        (str(store), f"file://{tmp_path}/../{tmp_path.name}/store/", "the same store"),
        (str(store), str(tmp_path / "link" / "copy"), "the destination lies inside"),
        (f"local://{store}", f"{store}/a/b", "the destination lies inside"),
    ]:
        refused = cli("cp", src, dst)
        assert refused.code == 2, (src, dst)
        line = refused.error_line()
        assert line.startswith("session-storage: error: refusing to copy") and why in line
    assert _tree(store) == before and not (store / "a").exists()

    # A sibling whose name merely starts with the source's is no overlap.
    beside = cli("cp", str(store), f"{store}-copy", "--json")
    assert beside.code == 0, beside.err
    assert _tree(tmp_path / "store-copy") == before


def test_cp_overlap_on_s3(cli: Cli, moto_s3_server: str) -> None:
    options = s3_storage_options(moto_s3_server)
    env = {"SESSION_STORAGE_OPTIONS": json.dumps(options)}
    bucket = new_bucket(moto_s3_server)
    with SyncSessionStorage(f"s3://{bucket}/app", options) as storage:
        storage.store_session("s0", {"n": 0})
    refused = cli("cp", f"s3://{bucket}/app", f"s3a://{bucket}/app/s0/", env=env)
    assert refused.code == 2 and "inside the source" in refused.error_line()
    beside = cli("cp", f"s3://{bucket}/app", f"s3://{bucket}/apps", "--json", env=env)
    assert beside.code == 0 and json.loads(beside.out)["copied"] == 1, beside.err
    with SyncSessionStorage(f"s3://{bucket}", options) as storage:
        assert storage.list_sessions() == ["app", "apps"]


def test_cp_overlap_depends_on_the_server() -> None:
    def s3(url: str, endpoint: str) -> StorageSettings:
        return StorageSettings(url, {"endpoint_url": endpoint})

    check_copy(s3("s3://b/app", "http://one:9000"), s3("s3://b/app/x", "http://two:9000"))
    with pytest.raises(UsageError, match="inside the source"):
        check_copy(s3("s3://b/app", "http://one:9000"), s3("s3://b/app/x", "http://one:9000"))
    check_copy(s3("s3://b/app", "http://one:9000"), s3("gs://b/app/x", "http://one:9000"))


def test_cp_refuses_a_memory_destination(cli: Cli, store: Path) -> None:
    refused = cli("cp", str(store), "memory://copy")
    assert refused.code == 2
    line = refused.error_line()
    assert "memory://copy" in line and "lives inside one process" in line
    # A memory source is allowed (and, in a new process, empty).
    empty = cli("cp", "memory://nothing", str(store), "--json")
    assert empty.code == 0 and json.loads(empty.out)["files"] == 0


def test_unknown_storage_options_are_usage_errors(cli: Cli, store: Path) -> None:
    url = str(store)
    for where in (url, "memory://m"):
        refused = cli("--url", where, "-o", "bogus=1", "ls")
        assert refused.code == 2
        line = refused.error_line()
        assert "'bogus' (from --option)" in line and where in line
    assert "accepts fsync" in cli("--url", url, "-o", "x=1", "ls").err
    assert "accepts global_store" in cli("--url", "memory://m", "-o", "x=1", "ls").err
    from_env = cli("--url", url, "ls", env={"SESSION_STORAGE_OPTIONS": '{"endpoint_url": "x"}'})
    assert from_env.code == 2 and "SESSION_STORAGE_OPTIONS" in from_env.error_line()
    from_json = cli("--url", url, "--options", '{"typo": true}', "ls")
    assert from_json.code == 2 and "'typo' (from --options)" in from_json.error_line()

    accepted = cli("--url", url, "-o", "fsync=false", "ls")
    assert accepted.code == 0 and "chat-42" in accepted.out.splitlines()
    assert cli("--url", "memory://m", "-o", "global_store=false", "ls").code == 0

    # cp: options given for both sides go where they are taken; one side's own
    # options must be taken by that side.
    both = cli("cp", url, "memory://x", "-o", "fsync=false")
    assert both.code == 2 and "memory://" in both.error_line()  # refused for memory only
    neither = cli("cp", url, str(store.parent / "b"), "-o", "global_store=true")
    assert neither.code == 2 and neither.error_line().count("accepts fsync") == 2
    one_side = cli("cp", url, str(store.parent / "b"), "--src-option", "global_store=true")
    assert one_side.code == 2 and "(from --src-option)" in one_side.error_line()
    assert not (store.parent / "b").exists()


def test_an_option_the_s3_client_refuses_is_a_usage_error(cli: Cli) -> None:
    # aiobotocore rejects the keyword when the client is created, before any request.
    refused = cli("--url", "s3://some-bucket", "-o", "bogus=1", "ls")
    assert refused.code == 2
    assert "storage option 'bogus' is not one the client takes" in refused.error_line()


def test_traceback_adds_the_trace_and_keeps_the_exit_code(
    tmp_path: Path, moto_s3_server: str
) -> None:
    env = {"SESSION_STORAGE_URL": str(tmp_path)}
    usage = run_cli("--traceback", "--url", "nope://x", "ls", env=env)
    assert usage.returncode == 2 and "Traceback (most recent call last)" in usage.stderr
    assert (
        usage.stderr.strip()
        .splitlines()[-1]
        .startswith("session-storage: error: unsupported URL scheme")
    )
    options = json.dumps(s3_storage_options(moto_s3_server))
    backend = run_cli(
        "ls",
        "--traceback",
        "--url",
        "s3://no-such-bucket-cli",
        env={"SESSION_STORAGE_OPTIONS": options},
    )
    assert backend.returncode == 3 and "StorageNotFoundError" in backend.stderr
    assert "no-such-bucket-cli" in backend.stderr.strip().splitlines()[-1]


# Every error class and its exit code, as the README's table and --help state them.
_EXIT_CODES: dict[type[errors.SessionStorageError], int] = {
    errors.InvalidArgumentError: 2,
    errors.InvalidKeyError: 2,
    errors.ConfigurationError: 2,
    errors.MissingDependencyError: 2,
    errors.SerializationError: 2,
    errors.CorruptDataError: 4,
    errors.StorageNotFoundError: 3,
    errors.PermissionDeniedError: 3,
    errors.BackendUnavailableError: 3,
    errors.ConflictError: 3,
    errors.NotSupportedError: 3,
    errors.BackendError: 3,
}


def test_exit_codes_follow_the_error_classes() -> None:
    for cls, code in _EXIT_CODES.items():
        assert exit_code_for(cls("x")) == code, cls
    # Any other library error (a batch, a background save, a newer class) still maps
    # to one of the documented codes.
    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, errors.SessionStorageError):
            error = (
                cls([errors.BackendError("x")]) if cls is errors.BackgroundSaveError else cls("x")
            )
            assert exit_code_for(error) in (2, 3, 4), name
    # A client that refuses a storage option when it is created: fixed in the options.
    try:
        try:
            raise TypeError("AioSession.__init__() got an unexpected keyword argument 'x'")
        except TypeError as cause:
            raise errors.BackendError("s3: cannot list sessions") from cause
    except errors.BackendError as error:
        assert exit_code_for(error) == 2


def test_show_reads_the_library_default_file() -> None:
    args = build_parser().parse_args(["show", "s"])
    assert args.file == DEFAULT_FILENAME


def _subcommands() -> set[str]:
    parser = build_parser()
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(action.choices)


def test_wrong_arguments_exit_2_with_one_line(cli: Cli, store: Path) -> None:
    """Every subcommand, given wrong types, out-of-range values, bad options and
    unknown backends: exit code 2, one line on stderr, nothing changed."""
    url = str(store)
    elsewhere = str(store.parent / "elsewhere")
    database = str(store.parent / "agents.db")  # an OpenAI Agents SQLiteSession database
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE agent_messages (id INTEGER PRIMARY KEY, session_id, message_data)")
        db.execute("INSERT INTO agent_messages VALUES (1, 's', '{\"role\": \"user\"}')")
    db.close()
    with SyncSessionStorage(url) as storage:
        storage.append_event("chat-42", "log", {"n": 0})
    # A valid invocation of each subcommand; each wrong one below differs from it in
    # one argument, so the error comes from that argument.
    valid: dict[str, list[str]] = {
        "ls": ["ls"],
        "files": ["files", "chat-42"],
        "show": ["show", "chat-42"],
        "info": ["info", "chat-42"],
        "rm": ["rm", "chat-7", "--yes"],
        "cp": ["cp", url, elsewhere],
        "gc": ["gc", "--older-than", "30d", "--yes"],
        "rekey": ["rekey", "--dry-run"],
        "check": ["check"],
        "import": ["import", "openai-sqlite", database],
        "events": ["events", "chat-42", "log"],
        "serve": ["serve", "--port", "0"],  # checked up to the point where it would serve
    }
    # rekey needs keys: each of its runs gets them, but for the one run without.
    keys = {"SESSION_STORAGE_ENCRYPTION_KEYS": '{"k": "' + "A" * 43 + '="}'}
    env_of = {"rekey": keys}
    wrong: dict[str, list[list[str]]] = {
        "ls": [["ls", "a", "b"], ["ls", "--limit", "-1"]],
        "files": [["files"], ["files", ""], ["files", "s", "extra"]],
        "show": [["show"], ["show", ""], ["show", "chat-42", ""], ["show", "s", "f", "--raw=1"]],
        "info": [["info"], ["info", ""], ["info", "chat-42", ""]],
        "rm": [["rm"], ["rm", "", "--yes"], ["rm", "chat-42", "", "--yes"], ["rm", "chat-7"]],
        "cp": [
            ["cp", url],
            ["cp", url, f"{url}/inner"],
            ["cp", url, "memory://m"],
            ["cp", "nope://x", elsewhere],
            ["cp", url, elsewhere, "--src-option", "bogus=1"],
            ["cp", url, elsewhere, "--dst-option", "=1"],
        ],
        "gc": [
            ["gc"],
            ["gc", "--older-than", "30d"],  # no --yes, no terminal
            ["gc", "--older-than", "0"],
            ["gc", "--older-than", "-1d"],
            ["gc", "--older-than", "30x"],
            ["gc", "--older-than", "99999999999d"],
            ["gc", "--older-than", "1e400"],
            ["gc", "--older-than", "inf"],
            ["gc", "--older-than", "nan"],
            ["gc", "--older-than", ""],
        ],
        "rekey": [["rekey", "extra"], ["rekey", "--dry-run=1"], ["rekey", "--no-such-flag"]],
        "check": [["check", "extra"], ["check", "--json=1"], ["check", "--no-such-flag"]],
        "import": [
            ["import"],
            ["import", "openai-sqlite"],
            ["import", "nope-sqlite", database],
            ["import", "openai-sqlite", f"{database}.missing"],
            ["import", "langgraph-sqlite", database],
            ["import", "openai-sqlite", database, "--dry-run=1"],
        ],
        "events": [
            ["events", "chat-42"],
            ["events", "", "log"],
            ["events", "chat-42", "log", "--tail", "-1"],
            ["events", "chat-42", "log", "--start", "1", "--tail", "1"],
            ["events", "chat-42", "log", "--interval", "0"],
        ],
        "serve": [
            ["serve", "--host", "0.0.0.0", "--port", "0"],
            ["serve", "--port", "70000"],
            ["serve", "--port", "0", "--token", "short"],
            ["serve", "--port", "0", "--as", "nope"],
        ],
    }
    common = [
        ["-o", "bogus=1"],
        ["-o", "no-equals-sign"],
        ["--options", "[1]"],
        ["--options", "{nope"],
        ["--url", "nope://x"],
        ["--url", "memory://m", "-o", "bogus=1"],
    ]
    assert set(wrong) == set(valid) == _subcommands(), "every subcommand needs its cases"
    runs: list[tuple[list[str], dict[str, str]]] = []
    for command, argvs in wrong.items():
        env = env_of.get(command, {})
        runs += [(["--url", url, *argv], env) for argv in argvs]
        for extra in common:
            if command == "cp" and extra[0] == "--url":
                continue  # cp takes its two URLs as arguments, never --url
            runs.append((["--url", url, *extra, *valid[command]], env))
        # settings from the environment: an unknown backend, options that are not JSON
        runs.append((valid[command], {**env, "SESSION_STORAGE_BACKEND": "nope"}))
        runs.append(
            (valid[command], {**env, "SESSION_STORAGE_URL": url, "SESSION_STORAGE_OPTIONS": "[1]"})
        )
    runs.append((["--url", url, *valid["rekey"]], {}))  # no keys: nothing to rekey to
    runs.append((["--url", url, *valid["rekey"]], {**keys, "SESSION_STORAGE_COMPRESSION": "gz"}))
    before = _tree(store)
    for argv, env in runs:
        done = cli(*argv, env=env)
        assert done.code == 2, (argv, env, done.err)
        assert done.error_line().startswith("session-storage"), (argv, env)
    assert _tree(store) == before and not Path(elsewhere).exists()
    for command, argv in valid.items():
        if command == "serve":
            continue  # it serves until stopped: tests/cli/test_cli_views.py starts it
        assert cli("--url", url, *argv, env=env_of.get(command, {})).code == 0, argv


def test_gc_and_rm_refuse_a_folder_that_is_not_a_store(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project folder is never deleted from, whatever the flags: exit 2, named."""
    project = tmp_path / "project"
    for name in ("src/app.py", "docs/index.md", "README.md"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("keep me")
        os.utime(project / name, (0, 0))  # older than any age
    before = sorted(p.relative_to(project).as_posix() for p in project.rglob("*"))
    for argv in (
        ("--url", str(project), "gc", "--older-than", "30d", "--yes"),
        ("--url", str(project), "gc", "--older-than", "0", "--yes"),
        ("--url", str(project), "rm", "src", "--yes"),
    ):
        refused = cli(*argv)
        assert refused.code == 2, argv
        assert str(project) in refused.error_line()
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*")) == before
    # The current directory as a URL (file://, file:) is refused before anything runs.
    monkeypatch.chdir(project)
    for url in ("file://", "file:"):
        empty = cli("--url", url, "gc", "--older-than", "30d", "--yes")
        assert empty.code == 2 and "Traceback" not in empty.err
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*")) == before


def test_ls_of_a_missing_folder_says_so_and_exits_1(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    for args in (("ls",), ("ls", "--json"), ("ls", "chat-")):
        done = run_cli("--url", str(missing), *args)
        assert done.returncode == 1 and done.stdout == ""
        assert f"the folder {missing} does not exist" in one_line_error(done)
    assert not missing.exists()  # listing made nothing
    (tmp_path / "empty").mkdir()
    empty = run_cli("--url", str(tmp_path / "empty"), "ls")  # a store with no session yet
    assert (empty.returncode, empty.stdout, empty.stderr) == (0, "", "")


def test_show_of_an_encrypted_file_without_keys_names_its_key_id(tmp_path: Path) -> None:
    with SyncSessionStorage(tmp_path, encryption_keys={"2026-11": bytes(32)}) as storage:
        storage.store_session("chat-1", {"secret": 1})
    done = run_cli("--url", str(tmp_path), "show", "chat-1")
    line = one_line_error(done)
    assert done.returncode == 2 and done.stdout == ""
    assert "encrypted under key id '2026-11'" in line and "'chat-1'" in line
    assert "SESSION_STORAGE_ENCRYPTION_KEYS" in line and "not JSON" not in line
    raw = subprocess.run(
        [sys.executable, "-m", "session_storage", "--url", str(tmp_path), "show", "chat-1"]
        + ["--raw"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert raw.returncode == 0 and raw.stdout.startswith(b"\x89SSe")
