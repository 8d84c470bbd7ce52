"""Key rotation: ``rekey`` interrupted and resumed, racing writers, dry runs, and the
``session-storage rekey`` / ``show`` commands with keys from the environment."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from session_storage import ConfigurationError, CopyProgress, SessionStorage, rekey
from session_storage.cli import main
from session_storage.codecs.envelope import parse_header
from session_storage.pytest_plugin import s3_storage_options

from ..support.cloud import new_bucket

OLD = bytes(range(32))
NEW = bytes(range(100, 132))
ROTATED = {"new": NEW, "old": OLD}

Open = Callable[..., SessionStorage]


@pytest.fixture(params=["file", "s3"])
def open_at(request: pytest.FixtureRequest, tmp_path: Path) -> Open:
    """A factory of storages on one fresh root, each with the codecs it is given."""
    if request.param == "file":
        root = tmp_path / "store"
        return lambda **codecs: SessionStorage(root, **codecs)
    endpoint = request.getfixturevalue("moto_s3_server")
    url = f"s3://{new_bucket(endpoint)}"
    options = s3_storage_options(endpoint)
    return lambda **codecs: SessionStorage(url, options, **codecs)


async def key_ids(storage: SessionStorage) -> dict[str, str | None]:
    """``"session/file"`` -> the key id each file is encrypted under (None: not)."""
    out: dict[str, str | None] = {}
    async for meta in storage.iter_file_metadata():
        name = f"{meta['session_id']}/{meta['filename']}"
        path = storage._scope.file(meta["session_id"], meta["filename"]).path
        header = parse_header(await storage.filesystem._cat_file(path))
        out[name] = header.key_id if header is not None else None
    return dict(sorted(out.items()))


class Interrupted(Exception):
    pass


async def seed(open_at: Open, sessions: int) -> None:
    """Files under the old key, plus a plain state and a compressed one."""
    async with open_at(encryption_keys={"old": OLD}) as old:
        await old.store_sessions({f"s{i:02d}": {"n": i} for i in range(sessions)})
        await old.append_event("s00", "log", {"e": 1})
    async with open_at() as plain:
        await plain.store_session("plain", {"n": "plain"})
    async with open_at(compression="zstd") as zstd:
        await zstd.store_bytes("zipped", "big.txt", b"abc" * 1000)


async def test_rekey_interrupted_and_resumed(open_at: Open) -> None:
    await seed(open_at, 10)
    async with open_at(encryption_keys=ROTATED) as storage:
        before = await key_ids(storage)
        total = len(before)
        assert set(before.values()) == {"old", None}

        def stop_after_four(progress: CopyProgress) -> None:
            if progress.files_done == 4:
                raise Interrupted

        with pytest.raises(Interrupted):
            await rekey(storage, progress=stop_after_four, max_concurrency=1)
        midway = await key_ids(storage)
        assert list(midway.values()).count("new") == 4

        result = await rekey(storage)
        assert (result.files, result.rewritten, result.current) == (total, total - 4, 4)
        assert result.failed == {} and result.raced == 0
        assert set((await key_ids(storage)).values()) == {"new"}
        again = await rekey(storage)  # nothing left: the old key can go
        assert (again.rewritten, again.current) == (0, total)

    async with open_at(encryption_keys={"new": NEW}) as retired:
        assert (await retired.load_session("s07") or {})["n"] == 7
        assert (await retired.load_session("plain") or {})["n"] == "plain"
        assert await retired.load_bytes("zipped", "big.txt") == b"abc" * 1000
        assert await retired.read_events("s00", "log") == [{"e": 1}]


async def test_dry_run_counts_and_writes_nothing(open_at: Open) -> None:
    await seed(open_at, 3)
    async with open_at(encryption_keys=ROTATED) as storage:
        before = await key_ids(storage)
        result = await rekey(storage, dry_run=True)
        assert result.rewritten == len(before) and result.current == 0
        assert await key_ids(storage) == before


async def test_a_write_between_rekeys_read_and_write_is_kept(open_at: Open) -> None:
    async with open_at(encryption_keys={"old": OLD}) as writer:
        await writer.store_session("hot", {"n": 0})
        async with open_at(encryption_keys=ROTATED) as storage:
            # Right after rekey has read "hot", the writer (which still has only the old
            # key) stores a newer state: rekey's conditional write must lose, read again
            # and rewrite the newer state, not put back the one it read.
            inner: Any = storage._scope.driver.inner  # type: ignore[attr-defined]
            real_get = inner.get
            target = storage._scope.file("hot", "state.json").path
            interleaved: list[str] = []

            async def get_then_write(path: str) -> Any:
                found = await real_get(path)
                if path == target and not interleaved:
                    interleaved.append(await writer.store_session("hot", {"n": 1}))
                return found

            inner.get = get_then_write
            try:
                result = await rekey(storage)
            finally:
                del inner.get
            assert interleaved and result.raced == 1 and result.rewritten == 1
            assert (await storage.load_session("hot") or {})["n"] == 1
            assert await key_ids(storage) == {"hot/state.json": "new"}


async def test_rekey_racing_concurrent_updates_loses_none(open_at: Open) -> None:
    ids = [f"c{i}" for i in range(4)]
    rounds = 8
    # A writer not yet switched over: it reads the new key but still encrypts under the
    # old one, so every file it writes is one the rekey must rewrite again.
    async with open_at(encryption_keys={"old": OLD, "new": NEW}) as writer:
        await writer.store_sessions({i: {"n": 0} for i in ids})
        async with open_at(encryption_keys=ROTATED) as storage:

            async def write() -> None:
                for _ in range(rounds):
                    for session_id in ids:
                        await writer.update_session(
                            session_id, lambda s: {"n": (s or {"n": 0})["n"] + 1}
                        )

            async def rotate() -> int:
                runs = 0
                while not done.is_set():
                    await rekey(storage)
                    runs += 1
                return runs

            done = asyncio.Event()
            rotating = asyncio.ensure_future(rotate())
            await write()
            done.set()
            assert await rotating >= 1
            await rekey(storage)
            states = await storage.load_sessions(ids)
            assert {i: (s or {})["n"] for i, s in states.items()} == {i: rounds for i in ids}
            assert set((await key_ids(storage)).values()) == {"new"}


async def test_unreadable_files_are_reported_and_left_alone(tmp_path: Path) -> None:
    async with SessionStorage(tmp_path, encryption_keys={"lost": bytes(32)}) as lost:
        await lost.store_session("orphan", {"n": 1})
    async with SessionStorage(tmp_path, encryption_keys=ROTATED) as storage:
        await storage.store_session("fine", {"n": 2})
        result = await rekey(storage)
        assert list(result.failed) == ["orphan/state.json"]
        assert "'lost'" in result.failed["orphan/state.json"]
        assert result.current == 1


async def test_rekey_needs_keys(tmp_path: Path) -> None:
    async with SessionStorage(tmp_path, compression="zstd") as storage:
        with pytest.raises(ConfigurationError, match="rekey needs encryption_keys"):
            await rekey(storage)


# -- the command line ---------------------------------------------------------------------


def _keys_env(keys: dict[str, bytes]) -> str:
    return orjson.dumps({k: base64.b64encode(v).decode() for k, v in keys.items()}).decode()


def test_cli_show_and_rekey_with_keys_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(tmp_path / "store")

    async def write() -> None:
        async with SessionStorage(url, encryption_keys={"old": OLD}) as old:
            await old.store_session("s1", {"secret": "kept"})
            await old.store_session("s2", {"n": 2})

    asyncio.run(write())
    for name in list(__import__("os").environ):
        if name.startswith("SESSION_STORAGE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SESSION_STORAGE_URL", url)
    monkeypatch.setenv("SESSION_STORAGE_ENCRYPTION_KEYS", _keys_env({"new": NEW}))
    assert main(["show", "s1"]) == 2  # encrypted under a key id not given
    assert "'old'" in capsys.readouterr().err

    monkeypatch.setenv("SESSION_STORAGE_ENCRYPTION_KEYS", _keys_env(ROTATED))
    assert main(["show", "s1", "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["secret"] == "kept"
    assert main(["rekey", "--dry-run", "--json"]) == 0
    planned = orjson.loads(capsys.readouterr().out)
    assert (planned["dry_run"], planned["rewritten"], planned["current"]) == (True, 2, 0)
    assert main(["rekey", "--no-progress"]) == 0
    assert "rewrote 2" in capsys.readouterr().out

    monkeypatch.setenv("SESSION_STORAGE_ENCRYPTION_KEYS", _keys_env({"new": NEW}))
    assert main(["show", "s2", "--json"]) == 0  # the old key is retired
    assert orjson.loads(capsys.readouterr().out)["n"] == 2

    monkeypatch.setenv("SESSION_STORAGE_ENCRYPTION_KEYS", _keys_env({"other": OLD}))
    assert main(["rekey", "--no-progress"]) == 4  # nothing readable: reported, kept
    assert "cannot rekey" in capsys.readouterr().err
