"""Local disk under hostile roots and crashes: markers, own files, links, FIFOs, kill -9."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest

from session_storage import (
    ConfigurationError,
    ForeignRootError,
    InvalidKeyError,
    PermissionDeniedError,
    SessionStorage,
    UnsafePathError,
)
from session_storage.backends.local.paths import MARKER_NAME


def _fast(root: Path | str) -> SessionStorage:
    """A storage without fsync, for tests about something else than durability."""
    return SessionStorage(root, {"fsync": False})


# -- item 2: empty paths, marked roots, own files --------------------------------------


@pytest.mark.parametrize("url", ["file://", "file:", "file:///", "local://"])
def test_an_empty_local_path_is_refused(url: str) -> None:
    if url == "file:///":
        SessionStorage(url)  # the filesystem root, said explicitly: allowed
        return
    with pytest.raises(ConfigurationError, match="names no folder"):
        SessionStorage(url)


async def test_first_write_marks_the_root(tmp_path: Path) -> None:
    storage = _fast(tmp_path / "store")
    await storage.store_session("s", {})
    marker = orjson.loads((tmp_path / "store" / MARKER_NAME).read_bytes())
    assert marker["format"] == 1 and marker["library"] == "session-storage"
    assert await storage.list_sessions() == ["s"]


async def test_nothing_is_deleted_in_a_folder_the_library_did_not_make(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.py").write_text("print('hi')\n")
    (project / "docs").mkdir()
    (project / "docs" / "index.md").write_text("# docs\n")
    (project / "README.md").write_text("readme\n")
    old = time.time() - 90 * 86400
    for path in project.rglob("*"):
        os.utime(path, (old, old))
    storage = _fast(project)
    assert await storage.list_sessions() == ["docs", "src"]  # they look like sessions
    with pytest.raises(ForeignRootError) as info:
        await storage.delete_sessions_older_than(30 * 86400)
    assert str(project) in str(info.value) and MARKER_NAME in str(info.value)
    assert isinstance(info.value, PermissionDeniedError)
    with pytest.raises(ForeignRootError):
        await storage.delete_sessions_older_than(30 * 86400, dry_run=True)
    with pytest.raises(ForeignRootError, match="'src'"):
        await storage.delete_session("src")
    with pytest.raises(Exception) as batch:
        await storage.delete_sessions(["src", "docs"])
    assert all(isinstance(e, ForeignRootError) for e in batch.value.errors.values())  # type: ignore[attr-defined]
    # A write still works there, but does not adopt the folder: deletes stay refused.
    await storage.store_session("new", {})
    assert not (project / MARKER_NAME).exists()
    with pytest.raises(ForeignRootError):
        await storage.delete_session("new")
    assert (project / "src" / "main.py").read_text() == "print('hi')\n"
    assert (project / "docs" / "index.md").exists() and (project / "README.md").exists()


async def test_a_store_from_before_the_marker_is_adopted_on_its_next_write(
    tmp_path: Path,
) -> None:
    storage = _fast(tmp_path)
    await storage.store_session("a", {}, "x/y.json")
    await storage.append_event("b", "log", 1, idempotency_key="k")
    (tmp_path / MARKER_NAME).unlink()  # as written by a release without markers
    fresh = _fast(tmp_path)
    with pytest.raises(ForeignRootError):  # unmarked: a delete refuses
        await fresh.delete_session("a")
    await fresh.store_session("c", {})  # every entry is the library's: adopted
    assert (tmp_path / MARKER_NAME).exists()
    assert await fresh.delete_session("a") is True
    assert await fresh.list_sessions() == ["b", "c"]


async def test_a_root_below_a_marked_store_is_part_of_it(tmp_path: Path) -> None:
    await _fast(tmp_path).narrow("tenant").store_session("s", {})
    direct = _fast(tmp_path / "tenant")  # the same folder, opened directly
    assert await direct.delete_session("s") is True
    assert not (tmp_path / "tenant" / MARKER_NAME).exists()


async def test_a_delete_leaves_files_the_library_does_not_list(tmp_path: Path) -> None:
    storage = _fast(tmp_path)
    await storage.store_session("s", {})
    await storage.store_session("s", {}, "nested/cp.json")
    (tmp_path / "s" / "my notes.txt").write_text("mine")
    (tmp_path / "s" / "nested" / ".hidden").write_text("mine too")
    assert await storage.list_files("s") == ["nested/cp.json", "state.json"]
    assert await storage.delete_session("s") is True
    assert (tmp_path / "s" / "my notes.txt").read_text() == "mine"
    assert (tmp_path / "s" / "nested" / ".hidden").read_text() == "mine too"
    assert await storage.list_files("s") == []
    assert await storage.session_exists("s") is False
    # Retention never selects a session that has only someone else's files.
    assert await storage.delete_sessions_older_than(0) == []
    assert (tmp_path / "s" / "my notes.txt").exists()


# -- item 3: symbolic links ------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the root with a file that must never be read or removed."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "state.json").write_bytes(b'{"secret": 1}')
    (folder / "other.json").write_bytes(b"{}")
    return folder


def _outside_intact(outside: Path) -> bool:
    return (
        sorted(os.listdir(outside)) == ["other.json", "state.json"]
        and (outside / "state.json").read_bytes() == b'{"secret": 1}'
    )


# Durable writes (fsync on, the default) open the folder once and create the temp file
# relative to it: a separate path through the same checks.
@pytest.mark.parametrize("fsync", [False, True], ids=["fsync-off", "fsync-on"])
async def test_a_linked_session_folder_is_never_followed(
    tmp_path: Path, outside: Path, fsync: bool
) -> None:
    root = tmp_path / "root"
    storage = SessionStorage(root, {"fsync": fsync})
    await storage.store_session("real", {})
    (root / "linked").symlink_to(outside, target_is_directory=True)
    assert await storage.list_sessions() == ["real"]
    for call in (
        storage.load_session("linked"),
        storage.store_session("linked", {"x": 1}),
        storage.list_files("linked"),
        storage.delete_session("linked"),
        storage.session_exists("linked"),
        storage.get_session_metadata("linked"),
    ):
        with pytest.raises(UnsafePathError) as info:
            await call
        assert "linked" in str(info.value) and "symbolic link" in str(info.value)
    assert await storage.delete_sessions_older_than(0) == ["real"]
    assert _outside_intact(outside)


@pytest.mark.parametrize("fsync", [False, True], ids=["fsync-off", "fsync-on"])
async def test_a_linked_narrow_root_is_never_followed(
    tmp_path: Path, outside: Path, fsync: bool
) -> None:
    root = tmp_path / "root"
    await _fast(root).store_session("s", {})
    (root / "tenant").symlink_to(outside, target_is_directory=True)
    tenant = SessionStorage(root, {"fsync": fsync}).narrow("tenant")
    with pytest.raises(UnsafePathError):
        await tenant.store_session("x", {}, "deep/state.json")
    with pytest.raises(UnsafePathError):
        await tenant.list_sessions()
    with pytest.raises(UnsafePathError):
        await tenant.store_session("x", {})
    with pytest.raises(UnsafePathError):
        await tenant.delete_sessions_older_than(0)
    assert _outside_intact(outside)


async def test_a_linked_file_is_never_read_written_or_followed(
    tmp_path: Path, outside: Path
) -> None:
    storage = _fast(tmp_path / "root")
    await storage.store_session("s", {"v": 1}, "keep.json")
    link = tmp_path / "root" / "s" / "state.json"
    link.symlink_to(outside / "state.json")
    with pytest.raises(UnsafePathError, match="'state.json'"):
        await storage.load_session("s")
    with pytest.raises(UnsafePathError):
        await storage.get_session_metadata("s")
    assert await storage.list_files("s") == ["keep.json"]
    # A store replaces the link itself (rename never follows it), never its target.
    await storage.store_session("s", {"v": 2})
    assert not link.is_symlink() and (await storage.load_session("s") or {})["v"] == 2
    assert _outside_intact(outside)


async def test_a_root_that_is_itself_a_link_is_fine(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    storage = _fast(tmp_path / "alias")
    await storage.store_session("s", {"v": 1})
    assert await storage.list_files("s") == ["state.json"]
    assert (tmp_path / "real" / "s" / "state.json").exists()
    assert [m["filename"] async for m in storage.iter_file_metadata()] == ["state.json"]
    assert await storage.delete_session("s") is True


# -- item 5: FIFOs and other special files ---------------------------------------------


async def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    storage = _fast(tmp_path)
    await storage.store_session("s", {}, "keep.json")
    os.mkfifo(tmp_path / "s" / "state.json")
    with pytest.raises(UnsafePathError) as info:
        await asyncio.wait_for(storage.load_session("s"), timeout=5)
    assert "'s'" in str(info.value) and "'state.json'" in str(info.value)
    assert "not a regular file" in str(info.value)
    with pytest.raises(UnsafePathError):
        await storage.get_session_metadata("s")
    assert await storage.list_files("s") == ["keep.json"]


# -- item 9: file and folder of one name, fsync option, store racing delete -------------


@pytest.mark.parametrize("fsync", [False, True], ids=["fsync-off", "fsync-on"])
async def test_a_file_and_a_folder_of_one_name_give_a_clear_error(
    tmp_path: Path, fsync: bool
) -> None:
    storage = SessionStorage(tmp_path, {"fsync": fsync})
    await storage.store_session("s", {}, "a")
    with pytest.raises(InvalidKeyError) as info:
        await storage.store_session("s", {}, "a/b")
    message = str(info.value)
    assert "'a/b'" in message and "'s/a' is a file" in message
    await storage.store_session("t", {}, "a/b")
    with pytest.raises(InvalidKeyError, match="'t/a' is a folder"):
        await storage.store_session("t", {}, "a")
    assert await storage.list_files("s") == ["a"] and await storage.list_files("t") == ["a/b"]


def test_fsync_is_an_option_and_must_be_a_bool(tmp_path: Path) -> None:
    assert SessionStorage(tmp_path)._scope.driver.fsync is True  # type: ignore[attr-defined]
    assert _fast(tmp_path)._scope.driver.fsync is False  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="fsync"):
        SessionStorage(tmp_path, {"fsync": "no"})


async def test_fsync_writes_load_back(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path)  # fsync on: the default
    await storage.store_session("s", {"v": 1}, "deep/er/state.json")
    assert (await storage.load_session("s", "deep/er/state.json") or {})["v"] == 1


async def test_a_store_racing_a_delete_never_blames_the_bucket(tmp_path: Path) -> None:
    storage = _fast(tmp_path)
    await storage.store_session("s", {"n": 0})
    stop = time.monotonic() + 3
    stores = deletes = 0

    async def store() -> None:
        nonlocal stores
        while time.monotonic() < stop:
            await storage.store_session("s", {"n": stores}, "a/b.json")
            stores += 1

    async def delete() -> None:
        nonlocal deletes
        while time.monotonic() < stop:
            await storage.delete_session("s")
            deletes += 1

    await asyncio.gather(store(), store(), delete())  # any error fails the test
    print(f"\nfile: {stores} stores raced {deletes} deletes of one session: 0 errors")
    assert stores > 20 and deletes > 20
    # A delete that moved a folder away while a writer still held its temp file leaves
    # that temp (and its trash folder) to the next sweep: one gc removes every leftover.
    assert await storage.delete_sessions_older_than(365 * 86400) == []
    leftovers = [p for p in tmp_path.rglob(".*") if p.name not in (MARKER_NAME, ".lock")]
    assert leftovers == []


# -- item 4: phantom sessions and leftovers after kill -9 ------------------------------

# One process imports the library once and forks the writers (a fresh interpreter per
# writer costs a second of imports here); each writer reports every finished operation
# on a pipe, and is killed with SIGKILL a random moment after a random number of them.
_ZYGOTE = textwrap.dedent(
    """
    import asyncio, os, random, signal, sys, time
    from session_storage import SessionStorage

    def writer(root, seed, report):
        async def main():
            rng = random.Random(seed)
            storage = SessionStorage(root)
            big = "x" * rng.choice([10, 50_000, 400_000])
            while True:
                sid = f"s{rng.randrange(40)}"
                kind = rng.randrange(3)
                if kind == 0:
                    await storage.store_session(sid, {"big": big, "n": rng.random()})
                elif kind == 1:
                    await storage.append_event(sid, "log", {"big": big[:1000]})
                else:
                    await storage.update_session(
                        sid, lambda s: {**(s or {}), "n": (s or {}).get("n", 0) + 1}
                    )
                os.write(report, b".")
        asyncio.run(main())

    def spawn(root, rng):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            try:
                writer(root, rng.randrange(1 << 30), write)
            finally:
                os._exit(1)  # only a failure gets here: the parent checks the status
        os.close(write)
        return pid, read

    root, kills = sys.argv[1], int(sys.argv[2])
    rng = random.Random(13)
    running, done, failed = [], 0, 0
    while done < kills:
        while len(running) < 3:
            running.append(spawn(root, rng))
        pid, read = running.pop(0)
        for _ in range(rng.randrange(1, 4)):
            if not os.read(read, 1):
                break  # the writer died on its own
        time.sleep(rng.random() * 0.02)  # a random moment inside a later operation
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(read)
        failed += not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL)
        done += 1
    for pid, read in running:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    print(done, failed)
    """
)

KILLS = int(os.environ.get("SESSION_STORAGE_KILLS", "300"))


def _run_and_kill(root: Path, kills: int) -> int:
    """kill -9 ``kills`` writers of ``root`` at random moments; how many were killed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", _ZYGOTE, str(root), str(kills)],
        env=env,
        capture_output=True,
        check=True,
        timeout=600,
    )
    done, failed = map(int, out.stdout.split())
    assert failed == 0, f"{failed} writers failed instead of being killed: {out.stderr!r}"
    return done


def test_kill_9_during_writes_leaves_no_corrupt_file_no_phantom_and_no_temp(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    started = time.monotonic()
    kills = _run_and_kill(root, KILLS)
    killed_in = time.monotonic() - started

    async def check() -> tuple[int, int, list[str], int, int]:
        storage = SessionStorage(root)
        ids = await storage.list_sessions()
        phantoms = [s for s in ids if not await storage.session_exists(s)]
        files = 0
        for session_id in ids:
            for name in await storage.list_files(session_id):
                await storage.load_session(session_id, name)  # raises if corrupt
                files += 1
        temps_before = sum(1 for p in root.rglob("*.tmp"))
        await storage.delete_sessions_older_than(10**9)  # one gc: deletes nothing
        assert await storage.list_sessions() == ids
        return len(ids), files, phantoms, temps_before, len(list(root.rglob("*.tmp")))

    sessions, files, phantoms, temps_before, temps_after = asyncio.run(check())
    hidden = sorted(
        str(p.relative_to(root)) for p in root.rglob(".*") if p.name not in (MARKER_NAME, ".lock")
    )
    print(
        f"\nfile: {kills} kill -9 of writers in {killed_in:.1f} s -> {sessions} sessions, "
        f"{files} files, 0 corrupt, {len(phantoms)} phantom sessions, "
        f"{temps_before} temp files before one gc, {temps_after} after; "
        f"other hidden leftovers: {len(hidden)}"
    )
    assert phantoms == []
    assert temps_after == 0 and hidden == []
