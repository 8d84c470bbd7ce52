"""Background saves at interpreter exit and at garbage collection: written or reported.

The exit tests run real child interpreters on the file backend, so that what each
child wrote is there to count after it has gone.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from session_storage import SessionStorage
from session_storage.concurrency import exit_drain
from session_storage.concurrency.background import BackgroundSaver

SAVES = 200
CHILD_RUNS = 24
"""Children of the exit-race test; without the fix, 16 saves were lost in 30 runs here."""
AT_ONCE = 4
"""Children running at the same time: a busier machine made the race likelier."""


def _child(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(child: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = child.communicate(timeout=120)
    return child.returncode, err


def _stored(root: Path) -> list[int]:
    """The values of ``i`` stored under ``root``, read straight from the files."""
    found = []
    for i in range(SAVES):
        path = root / f"s{i}" / "state.json"
        if path.is_file() and f'"i":{i}' in path.read_text():
            found.append(i)
    return found


SYNC_CHILD = """
    import sys
    from session_storage import SyncSessionStorage
    storage = SyncSessionStorage(sys.argv[1] if len(sys.argv) > 1 else {root!r})
    for i in range({saves}):
        storage.store_session_nowait("s" + str(i), {{"i": i}})
    # no flush, no close: the exit-time drain must write all of them
"""


def test_a_sync_storage_left_open_writes_every_save_at_exit(tmp_path: Path) -> None:
    """Each child accepts 200 saves and exits at once; every run must find all 200.

    Before the loop thread had worker threads of its own, some runs lost the last
    saves: concurrent.futures shuts its pools down before atexit handlers run, so
    the exit-time writes failed with "cannot schedule new futures after shutdown".
    """
    started = time.perf_counter()
    roots = [tmp_path / f"run-{n}" for n in range(CHILD_RUNS)]
    results: list[tuple[Path, int, str]] = []
    for first in range(0, CHILD_RUNS, AT_ONCE):
        batch = [
            (root, _child(SYNC_CHILD.format(root=str(root), saves=SAVES)))
            for root in roots[first : first + AT_ONCE]
        ]
        results += [(root, *_finish(child)) for root, child in batch]
    elapsed = time.perf_counter() - started
    short = {str(root.name): SAVES - len(_stored(root)) for root, _, _ in results}
    print(
        f"\n{CHILD_RUNS} children x {SAVES} saves left open at exit: "
        f"{sum(short.values())} lost, {elapsed:.1f} s"
    )
    assert sum(short.values()) == 0, short
    assert [(rc, err) for _, rc, err in results] == [(0, "")] * CHILD_RUNS


def test_asyncio_run_returning_with_saves_pending_writes_them_at_exit(tmp_path: Path) -> None:
    root = tmp_path / "store"
    code = f"""
        import asyncio
        from session_storage import SessionStorage

        async def main():
            storage = SessionStorage({str(root)!r})
            for i in range({SAVES}):
                storage.store_session_nowait("s" + str(i), {{"i": i}})
            # returns with every save still queued, and drops the storage

        asyncio.run(main())
    """
    rc, err = _finish(_child(code))
    assert rc == 0, err
    assert len(_stored(root)) == SAVES
    # One warning when the loop ended, one when the exit hook wrote them; both say how many.
    ended = f"cancelled the background saves of SessionStorage('file://{root}') with {SAVES}"
    assert ended + " pending" in err
    assert f"writing {SAVES} background saves of SessionStorage('file://{root}')" in err
    assert "Traceback" not in err


def test_failed_saves_no_flush_reported_are_logged_at_exit(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the store's folder should be")
    code = f"""
        import asyncio
        from session_storage import SessionStorage, SyncSessionStorage

        async def main():
            storage = SessionStorage({str(blocker / "async")!r})
            handle = storage.store_session_nowait("async-chat", {{"v": 1}})
            try:
                await handle  # seen here, but no flush() ever reports it
            except OSError:
                print("handle raised")
            return storage

        kept = asyncio.run(main())
        sync = SyncSessionStorage({str(blocker / "sync")!r})
        sync.store_session_nowait("sync-chat", {{"v": 1}})
        # exits without flush or close
    """
    rc, err = _finish(_child(code))
    assert rc == 0, err
    lines = err.splitlines()
    unreported = [line for line in lines if "no flush reported it" in line]
    at_exit = [line for line in lines if "failed at interpreter exit" in line]
    assert len(unreported) == 1 and "'async-chat'" in unreported[0], err
    assert "'state.json'" in unreported[0]
    assert len(at_exit) == 1 and "'sync-chat'" in at_exit[0], err
    assert "Exception ignored" not in err  # logged, not a traceback from the atexit hook


def test_loop_end_warns_and_the_exit_drain_writes_in_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same path as the exit test, driven by calling the exit hook directly."""
    storage = SessionStorage(tmp_path / "store")

    async def leave_pending() -> None:
        for i in range(20):
            storage.store_session_nowait(f"s{i}", {"i": i})

    with caplog.at_level(logging.WARNING, logger="session_storage"):
        asyncio.run(leave_pending())
        assert [r.getMessage() for r in caplog.records if "cancelled" in r.getMessage()] != []
        assert "with 20 pending" in caplog.text
        exit_drain.drain_at_exit()
    assert "writing 20 background saves" in caplog.text
    stored = sorted(n for n in os.listdir(tmp_path / "store") if not n.startswith("."))
    assert stored == sorted(f"s{i}" for i in range(20))
    assert storage._scope.shared.saver.pending == 0
    assert storage._scope.shared.saver not in exit_drain._held  # nothing pending: collectable again


def _saver_with_writes_that_never_end() -> None:
    """A saver, two writes waiting forever, and their loop closed without cancelling them."""
    loop = asyncio.new_event_loop()
    saver = BackgroundSaver(label="SessionStorage('memory://dropped')")
    never: asyncio.Future[str] = loop.create_future()

    async def write() -> str:
        return await never

    async def accept() -> None:
        saver.submit("/dropped/s1/state.json", write, "s1", "state.json")
        saver.submit("/dropped/s2/state.json", write, "s2", "state.json")
        await asyncio.sleep(0)  # both writes start and wait forever

    loop.run_until_complete(accept())
    loop.close()


def test_a_saver_dropped_with_saves_never_written_warns(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing is left to write such saves: the saver says what is lost when collected."""
    gc.collect()  # earlier tests' garbage (an unclosed client session) is not this test's
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.ERROR):
        warnings.simplefilter("always")
        _saver_with_writes_that_never_end()
        gc.collect()
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert messages == [
        (
            "SessionStorage('memory://dropped') was garbage collected with 2 background "
            "saves never written; flush() or close the storage before dropping it"
        )
    ]
    assert "/dropped/s1/state.json" in caplog.text and "/dropped/s2/state.json" in caplog.text


def test_failures_no_flush_reported_are_logged_when_the_storage_is_collected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")

    async def save_and_look() -> None:
        storage = SessionStorage(blocker / "store")
        with pytest.raises(OSError):
            await storage.store_session_nowait("chat-7", {"v": 1})
        # dropped here without a flush

    with caplog.at_level(logging.ERROR, logger="session_storage"):
        asyncio.run(save_and_look())
        gc.collect()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "no flush reported it" in errors[0]
    assert "'chat-7'" in errors[0] and "'state.json'" in errors[0]


def test_an_s3_storage_dropped_unclosed_warns(
    make_s3_storage: Callable[..., SessionStorage],
) -> None:
    async def use_and_drop() -> None:
        storage = make_s3_storage()
        await storage.store_session("s", {"v": 1})  # opens the filesystem, never closed

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(use_and_drop())
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert any(m.startswith("unclosed s3 storage") for m in unclosed), unclosed


def test_closed_and_local_storages_drop_quietly(
    tmp_path: Path, make_s3_storage: Callable[..., SessionStorage]
) -> None:
    async def use_and_drop() -> None:
        async with make_s3_storage() as s3:
            await s3.store_session("s", {"v": 1})
        local = SessionStorage(tmp_path / "local")
        memory = SessionStorage("memory://drop-quietly")
        for plain in (local, memory):  # never closed: they hold no connections
            await plain.store_session("s", {"v": 1})
            plain.store_session_nowait("t", {"v": 2})
            await plain.flush()

    gc.collect()  # what earlier tests left behind warns now, not below
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(use_and_drop())
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
