"""The pytest plugin, used the way a user's own tests use it: only its public fixtures.

These tests name nothing from this repository's conftest; the fixtures come from the
``pytest11`` entry point of the installed package.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from session_storage import SessionStorage, StorageSettings, SyncSessionStorage

_seen_buckets: list[str] = []


def test_moto_server_is_a_local_endpoint(moto_s3_server: str) -> None:
    assert moto_s3_server.startswith("http://127.0.0.1:")
    assert int(moto_s3_server.rsplit(":", 1)[1]) > 0


@pytest.mark.parametrize("round", [1, 2])
async def test_each_test_gets_a_fresh_bucket(
    s3_session_storage: SessionStorage, round: int
) -> None:
    assert s3_session_storage.backend == "s3"
    assert await s3_session_storage.list_sessions() == []  # the other round's session is not here
    await s3_session_storage.store_session("chat-1", {"round": round})
    assert (await s3_session_storage.load_session("chat-1") or {})["round"] == round
    bucket = s3_session_storage.url.removeprefix("s3://").split("/")[0]
    assert bucket not in _seen_buckets
    _seen_buckets.append(bucket)


@pytest.mark.parametrize("round", [1, 2])
async def test_memory_storage_is_private_to_the_test(
    memory_session_storage: SessionStorage, round: int
) -> None:
    assert memory_session_storage.backend == "memory"
    assert await memory_session_storage.list_sessions() == []
    await memory_session_storage.store_session("chat-1", {"round": round})
    assert await SessionStorage(memory_session_storage.url).list_sessions() == []


async def test_file_storage_lives_in_tmp_path(
    file_session_storage: SessionStorage, tmp_path: Path
) -> None:
    assert file_session_storage.backend == "file"
    await file_session_storage.store_session("chat-1", {"v": 1})
    assert (tmp_path / "sessions" / "chat-1" / "state.json").is_file()


def test_settings_fixture_serves_the_sync_api(s3_session_settings: StorageSettings) -> None:
    with SyncSessionStorage.from_settings(s3_session_settings) as storage:
        assert storage.list_sessions() == []
        storage.store_session("chat-1", {"v": 1})
        assert storage.list_sessions() == ["chat-1"]


async def test_background_saves_are_flushed_by_the_fixture(
    memory_session_storage: SessionStorage,
) -> None:
    handle = memory_session_storage.store_session_nowait("chat-1", {"v": 1})
    await memory_session_storage.flush()
    assert handle.done()


def test_importing_the_plugin_imports_no_heavy_dependency() -> None:
    code = textwrap.dedent(
        """
        import sys
        import session_storage.pytest_plugin
        heavy = ("moto", "boto3", "botocore", "s3fs", "aiobotocore", "werkzeug", "flask")
        print(sorted(m for m in heavy if m in sys.modules))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_users_own_test_file_runs_with_the_installed_plugin(tmp_path: Path) -> None:
    """The README's example, as a user would write it, in a project of its own."""
    (tmp_path / "test_mine.py").write_text(
        textwrap.dedent(
            """
            import pytest

            async def save_turn(storage, chat_id, message):
                await storage.store_session(chat_id, {"last_message": message})

            @pytest.mark.asyncio
            async def test_saves_the_turn(s3_session_storage):
                await save_turn(s3_session_storage, "chat-1", "hello")
                state = await s3_session_storage.load_session("chat-1")
                assert state["last_message"] == "hello"

            @pytest.mark.asyncio
            async def test_in_memory(memory_session_storage):
                assert await memory_session_storage.list_sessions() == []
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mine.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_s3_fixtures_without_the_testing_extra_say_how_to_install_it(tmp_path: Path) -> None:
    """A user's suite in an environment without moto: the S3 fixture fails in one line
    naming the extra, and the memory fixture still works.

    moto is made unimportable by a module of that name first on the path that raises
    ModuleNotFoundError, as a missing package does; the rest of the environment is this
    one. .ci/users_suite/ holds a user file that `make test-testing-extra` runs in a venv
    that has only the extra."""
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "moto.py").write_text(
        'raise ModuleNotFoundError("No module named \'moto\'", name="moto")\n'
    )
    (tmp_path / "test_mine.py").write_text(
        textwrap.dedent(
            """
            import pytest

            def test_on_s3(s3_session_settings):
                pass

            @pytest.mark.asyncio
            async def test_in_memory(memory_session_storage):
                assert await memory_session_storage.list_sessions() == []
            """
        )
    )
    path = [str(blocked), *sys.path]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mine.py"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "1 passed, 1 error" in out
    lines = [line for line in out.splitlines() if 'pip install "session-storage[testing]"' in line]
    assert lines, out
    assert "need moto, not installed" in lines[0]
    assert "ModuleNotFoundError" not in out  # no traceback, only the line
