"""A process forked while one of its threads holds a local lock does not keep that lock.

``flock`` locks belong to open file descriptions, which ``fork`` shares with the
child: without care, the child's copy keeps a lock held after the parent's thread let
go of it, for as long as the child lives (a pre-fork server's worker: for hours).
Each test forks a real child that stays alive, then checks that the parent's next
write, or the sweep of a dead writer's temp file, does not wait for it.
"""

from __future__ import annotations

import fcntl
import os
import select
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from session_storage import SyncSessionStorage
from session_storage.backends.local import held
from session_storage.backends.local.delete import is_dead_temp
from session_storage.backends.local.locking import FolderLock
from session_storage.backends.local.write import _new_temp

from ...support.required import require

require(hasattr(os, "fork"), "no fork on this platform")


@contextmanager
def child_alive() -> Iterator[int]:
    """Fork a child that does nothing until the block ends, then exits; its pid.

    The block starts once the child runs (its fork hooks have run by then).
    """
    read_end, write_end = os.pipe()
    up_read, up_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: say it runs, wait for the parent's word, touch nothing else
        os.write(up_write, b"1")
        os.read(read_end, 1)
        os._exit(0)
    try:
        ready, _, _ = select.select([up_read], [], [], 10)
        assert ready, "the forked child never ran"
        yield pid
    finally:
        os.write(write_end, b"x")
        _, status = os.waitpid(pid, 0)
        for end in (read_end, write_end, up_read, up_write):
            os.close(end)
        assert os.waitstatus_to_exitcode(status) == 0


def finishes(call: Callable[[], object], seconds: float = 10.0) -> bool:
    """Whether ``call()`` returns within ``seconds`` (it runs on in a thread if not)."""
    done = threading.Event()

    def run() -> None:
        call()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(seconds)


def test_a_folder_lock_held_at_fork_is_not_kept_by_the_child(tmp_path: Path) -> None:
    storage = SyncSessionStorage(str(tmp_path))
    try:
        storage.store_session("s", {"n": 0})
        storage.store_session("s", {"n": 1})  # a second write makes the folder's lock file
        taken, release = threading.Event(), threading.Event()

        def holder() -> None:
            with FolderLock(str(tmp_path / "s")):
                taken.set()
                release.wait(10)

        thread = threading.Thread(target=holder)
        thread.start()
        assert taken.wait(10)
        with child_alive():
            release.set()
            thread.join(10)
            assert finishes(lambda: storage.store_session("s", {"n": 2})), (
                "the store waited for the forked child's copy of the folder lock"
            )
        state = storage.load_session("s")
        assert state is not None and state["n"] == 2
    finally:
        storage.close()


def test_a_temp_file_being_written_at_fork_is_swept_while_the_child_lives(
    tmp_path: Path,
) -> None:
    temp = _new_temp(str(tmp_path))  # a writer in the middle of its write
    assert not is_dead_temp(temp.path)
    with child_alive():
        held.close(temp.fd)  # the writer is gone without publishing (as when it dies)
        assert is_dead_temp(temp.path), "the child kept the dead writer's temp file locked"


def test_a_forked_child_takes_and_holds_locks_of_its_own(tmp_path: Path) -> None:
    # The child closed only what it inherited: a lock it takes itself excludes the
    # parent as any other process's would.
    (tmp_path / "s").mkdir()
    took_read, took_write = os.pipe()
    go_read, go_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        with FolderLock(str(tmp_path / "s")):
            os.write(took_write, b"1")
            os.read(go_read, 1)
        os._exit(0)
    try:
        ready, _, _ = select.select([took_read], [], [], 10)
        assert ready, "the child could not take a lock after the fork"
        fd = os.open(tmp_path / "s" / ".lock", os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    finally:
        os.write(go_write, b"x")
        _, status = os.waitpid(pid, 0)
        for end in (took_read, took_write, go_read, go_write):
            os.close(end)
    assert os.waitstatus_to_exitcode(status) == 0


def test_forks_amid_busy_writers_leave_children_no_lock_and_writers_unblocked(
    tmp_path: Path,
) -> None:
    # Four threads write without pause while the process forks twenty times: each
    # child must start with no descriptor of the parent's locks (the fork waited for
    # opens under way), and every write must finish, children alive or not.
    storage = SyncSessionStorage(str(tmp_path), {"fsync": False})
    stop = threading.Event()
    written = [0] * 4

    def writer(i: int) -> None:
        while not stop.is_set():
            storage.store_session(f"s{i % 2}", {"n": written[i]})
            written[i] += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(20):
            pid = os.fork()
            if pid == 0:
                os._exit(0 if not held._open else 1)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, "a child inherited a held lock"
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not any(thread.is_alive() for thread in threads), "a writer never finished"
    assert all(written), written
    assert finishes(lambda: storage.store_session("s0", {"n": -1}))
    storage.close()
