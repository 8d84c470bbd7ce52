"""The generic driver beyond the contract: which URLs reach it, the protocols' own
primitives (SFTP's exclusive create, temp files and renames on FTP), refusals that write
nothing, retention, codecs and the CLI, on real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import time
import uuid
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from session_storage import (
    BackendUnavailableError,
    ConfigurationError,
    ConflictError,
    NotSupportedError,
    SessionStorage,
    SyncSessionStorage,
)
from session_storage.backends.generic.files import release
from session_storage.cli import main
from session_storage.storage import scope_of

from ...support.file_servers import USER, Server, ftp_server, sftp_server


@pytest.fixture(scope="module")
def sftp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with sftp_server(tmp_path_factory.mktemp("sftp")) as server:
        yield server


@pytest.fixture(scope="module")
def ftp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with ftp_server(tmp_path_factory.mktemp("ftp")) as server:
        yield server


def _every_file(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# -- which URLs reach the generic driver ----------------------------------------------


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("sftp://user@example.invalid/srv/sessions", "sftp"),
        ("ftp://example.invalid/sessions", "ftp"),
        ("dir::file:///srv/sessions", "dir::file"),
        ("simplecache::memory://cached/sessions", "simplecache::memory"),
        ("dir::memory://chained", "dir::memory"),
    ],
)
def test_other_fsspec_urls_open_through_the_generic_driver(url: str, backend: str) -> None:
    storage = SessionStorage(url)  # no I/O: nothing connects yet
    assert storage.backend == backend
    assert storage.capabilities.compare_and_swap is False
    assert "Instead:" not in storage.capabilities.instead  # the advice, not a message
    assert storage.capabilities.instead


def test_a_scheme_fsspec_does_not_know_is_still_refused() -> None:
    with pytest.raises(ConfigurationError, match="unsupported URL scheme 'nosuch'"):
        SessionStorage("nosuch://bucket/x")


@pytest.mark.parametrize("url", ["sftp://host", "ftp://host/", "sftp://user@host:22/"])
def test_a_url_that_names_no_folder_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="names no folder"):
        SessionStorage(url)


# -- SFTP: the exclusive create ----------------------------------------------------------


async def test_sftp_if_absent_lets_exactly_one_of_many_writers_create(sftp: Server) -> None:
    folder = uuid.uuid4().hex
    peers = [SessionStorage(sftp.url(folder), sftp.options()) for _ in range(6)]

    async def create(i: int) -> str | None:
        try:
            return await peers[i].store_bytes(
                "s", "lock.bin", f"writer {i}".encode(), if_absent=True
            )
        except ConflictError:
            return None

    try:
        results = await asyncio.gather(*(create(i) for i in range(len(peers))))
        winners = [i for i, version in enumerate(results) if version is not None]
        print(f"\nsftp: 6 concurrent if_absent creates -> winners {winners}")
        assert len(winners) == 1
        assert await peers[0].load_bytes("s", "lock.bin") == f"writer {winners[0]}".encode()
        # The losers' temp files are gone; nothing but the one file is left.
        assert _every_file(sftp.root / folder) == ["s/lock.bin"]
    finally:
        for peer in peers:
            await peer.aclose()


async def test_sftp_stores_replace_atomically_and_leave_no_temp_files(sftp: Server) -> None:
    folder = uuid.uuid4().hex
    async with SessionStorage(sftp.url(folder), sftp.options()) as storage:
        assert storage.capabilities.create_only and storage.capabilities.atomic_replace
        first = await storage.store_session("s", {"v": 1})
        second = await storage.store_session("s", {"v": 2})
        assert first != second  # a digest of different bytes
        assert (await storage.load_session("s", with_version=True)).version == second
        with pytest.raises(NotSupportedError, match="compare_and_swap"):
            await storage.store_session("s", {"v": 3}, if_version=second)
        assert (await storage.load_session("s") or {})["v"] == 2
    assert _every_file(sftp.root / folder) == ["s/state.json"]


# -- FTP: no conditions, writes through a temp file ---------------------------------------


async def test_ftp_refuses_every_condition_and_writes_nothing(ftp: Server) -> None:
    folder = uuid.uuid4().hex
    async with SessionStorage(ftp.url(folder), ftp.options()) as storage:
        caps = storage.capabilities
        assert not caps.create_only and not caps.compare_and_swap and caps.atomic_replace
        await storage.store_session("s", {"v": 1})
        for refused in (
            storage.store_session("s", {"v": 2}, if_absent=True),
            storage.update_session("s", lambda state: {"v": 3}),
            storage.append_event("s", "log", {"e": 1}),
        ):
            with pytest.raises(NotSupportedError) as info:
                await refused
            assert "ftp" in str(info.value) and "Instead:" in str(info.value)
        assert (await storage.load_session("s") or {})["v"] == 1
        assert await storage.list_files("s") == ["state.json"]
    assert _every_file(ftp.root / folder) == ["s/state.json"]


# -- the rest of the API on the generic driver -------------------------------------------


async def test_batches_retention_and_narrowing_over_sftp(sftp: Server) -> None:
    folder = uuid.uuid4().hex
    async with SessionStorage(sftp.url(folder), sftp.options()) as storage:
        tenant = storage.narrow("tenant-a")
        await tenant.store_sessions({"old": {"v": 1}, "new": {"v": 2}})
        assert await tenant.load_sessions(["old", "new", "gone"]) == {
            "old": {"v": 1, "_metadata": (await tenant.load_session("old") or {})["_metadata"]},
            "new": {"v": 2, "_metadata": (await tenant.load_session("new") or {})["_metadata"]},
            "gone": None,
        }
        assert await storage.list_sessions() == ["tenant-a"]
        # Retention reads the server's modification times (an hour "later" here).
        later = (await tenant.get_session_metadata("old") or {})["modified"] + timedelta(hours=1)
        assert await tenant.delete_sessions_older_than(timedelta(minutes=30), now=later) == [
            "new",
            "old",
        ]
        assert await tenant.list_sessions() == []
    assert _every_file(sftp.root / folder) == []


def test_codecs_and_the_blocking_facade_over_ftp(ftp: Server) -> None:
    folder = uuid.uuid4().hex
    keys = {"k1": bytes(range(32))}
    with SyncSessionStorage(ftp.url(folder), ftp.options(), encryption_keys=keys) as storage:
        storage.store_session("s", {"secret": "words " * 20})
        assert (storage.load_session("s") or {})["secret"] == "words " * 20
    stored = (ftp.root / folder / "s" / "state.json").read_bytes()
    assert b"words" not in stored  # encrypted on the server


def test_the_cli_lists_and_shows_sessions_on_sftp_and_a_dir_chain(
    sftp: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = uuid.uuid4().hex
    sftp_args = ["--url", sftp.url(folder), "--option", f"password={sftp.options()['password']}"]
    dir_args = ["--url", f"dir::file://{tmp_path}/root"]
    for args in (sftp_args, dir_args):
        with SyncSessionStorage(args[1], dict(sftp.options()) if args is sftp_args else None) as s:
            s.store_session("chat-1", {"turns": 3})
        capsys.readouterr()
        assert main([*args, "ls"]) == 0
        assert capsys.readouterr().out.split() == ["chat-1"]
        assert main([*args, "show", "chat-1"]) == 0
        assert '"turns": 3' in capsys.readouterr().out


@pytest.mark.parametrize("protocol", ["sftp", "ftp"])
async def test_a_closed_port_is_named_as_refusing_connections(protocol: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once the socket closes
    url = f"{protocol}://someone@127.0.0.1:{port}/sessions"
    async with SessionStorage(url, {"password": "x"}, timeout=5) as storage:
        with pytest.raises(BackendUnavailableError) as info:
            await storage.load_session("s")
    assert f"127.0.0.1:{port}" in str(info.value) and "refused" in str(info.value)


async def test_a_caching_chain_reads_its_own_writes_and_says_reads_may_be_stale(
    tmp_path: Path,
) -> None:
    url = f"simplecache::file://{tmp_path}/root"
    async with SessionStorage(url) as cached, SessionStorage(tmp_path / "root") as direct:
        assert cached.capabilities.fresh_reads is False and direct.capabilities.fresh_reads
        for v in (1, 2):
            await cached.store_session("s", {"v": v})
            assert (await cached.load_session("s") or {})["v"] == v  # its own store
        await direct.store_session("s", {"v": 3})  # another writer, past the cache
        assert (await cached.load_session("s") or {})["v"] == 2  # what fresh_reads warns of
        assert await cached.delete_session("s") is True
        assert await cached.load_session("s") is None


# -- check() on backends that enforce less ---------------------------------------------


async def test_check_tries_only_the_conditions_a_backend_claims(
    sftp: Server, tmp_path: Path
) -> None:
    # SFTP enforces a create-only write (a hard link) and no compare-and-swap: the check
    # tries the first, and reports the second as refused by the library.
    async with SessionStorage(sftp.url(f"check-{uuid.uuid4().hex}"), sftp.options()) as storage:
        report = await storage.check()
        assert await storage.list_sessions() == []
    steps = {step.name: step for step in report.steps}
    assert steps["create-only write refused"].ok is True
    assert steps["stale-version write refused"].ok is None
    assert "NotSupportedError" in steps["stale-version write refused"].detail
    assert report.conditional_writes == "partly refused by the library"
    assert report.ok

    async with SessionStorage(f"dir::file://{tmp_path}/store") as chained:
        report = await chained.check()
    skipped = [step.name for step in report.steps if step.ok is None]
    assert skipped == ["create-only write refused", "stale-version write refused"]
    assert report.conditional_writes == "refused by the library" and report.ok


# -- what killed writers leave ------------------------------------------------------------


def _temp_file(folder: Path, age_seconds: float) -> Path:
    """A temp file as a writer leaves it when killed between its write and its rename."""
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".tmp-{uuid.uuid4().hex}-state.json"
    temp.write_bytes(b'{"half":')
    then = time.time() - age_seconds
    os.utime(temp, (then, then))
    return temp


@pytest.mark.parametrize("server", ["sftp", "ftp"])
async def test_dead_writers_temp_files_are_swept_and_leave_no_phantom_session(
    server: str, request: pytest.FixtureRequest
) -> None:
    served: Server = request.getfixturevalue(server)
    folder = uuid.uuid4().hex
    root = served.root / folder
    async with SessionStorage(served.url(folder), served.options()) as storage:
        await storage.store_session("kept", {"v": 1})
        await storage.store_session("gone", {"v": 1})
        beside = _temp_file(root / "gone", age_seconds=2 * 3600)  # died an hour+ ago
        alone = _temp_file(root / "phantom", age_seconds=2 * 3600)  # a first write, died
        live = _temp_file(root / "kept", age_seconds=5)  # a writer still at work
        # The lone temp file's folder lists as a session without data until swept.
        assert await storage.list_sessions() == ["gone", "kept", "phantom"]
        assert await storage.list_files("phantom") == []

        assert await storage.delete_session("gone")
        assert not beside.exists() and not (root / "gone").exists()

        assert await storage.delete_sessions_older_than(timedelta(days=1)) == []
        assert not alone.exists() and not (root / "phantom").exists()
        assert await storage.list_sessions() == ["kept"]
        assert live.exists()  # young: it may be a live writer's, so it stays
        assert (await storage.load_session("kept") or {})["v"] == 1


# -- connections left open ------------------------------------------------------------


@pytest.mark.parametrize("server", ["sftp", "ftp"])
async def test_a_storage_dropped_with_its_connection_open_warns(
    server: str, request: pytest.FixtureRequest
) -> None:
    served: Server = request.getfixturevalue(server)
    storage = SessionStorage(served.url(uuid.uuid4().hex), served.options())
    await storage.store_session("s", {"v": 1})
    opened = scope_of(storage).driver._fs  # to close it for the test afterwards
    with pytest.warns(ResourceWarning, match=f"unclosed {server} storage"):
        del storage
        gc.collect()
    release(opened)

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        async with SessionStorage(served.url(uuid.uuid4().hex), served.options()) as closed:
            await closed.store_session("s", {"v": 1})
        del closed
        gc.collect()


async def test_a_storage_without_connections_or_given_its_filesystem_never_warns(
    tmp_path: Path, sftp: Server
) -> None:
    import sshfs

    given = sshfs.SSHFileSystem(
        "127.0.0.1", port=sftp.port, username=USER, known_hosts=None, **sftp.options()
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            chained = SessionStorage(f"dir::file://{tmp_path}")
            await chained.store_session("s", {"v": 1})
            on_given = SessionStorage.from_filesystem(given, f"/{uuid.uuid4().hex}")
            await on_given.store_session("s", {"v": 1})
            del chained, on_given
            gc.collect()
    finally:
        release(given)
