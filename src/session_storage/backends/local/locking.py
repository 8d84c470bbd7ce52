"""Folder locks on local disk that hold across threads and processes.

Each folder that holds files gets one hidden lock file, ``.lock``. Writers that must
check and then act (compare-and-swap stores, plain stores, deletes) take an exclusive
``flock`` on it for the few system calls between their check and their rename or
unlink. ``flock`` locks belong to an open file description, so two threads of one
process exclude each other as two processes do, and the kernel releases the lock when
its holder dies: a crashed writer never leaves a folder locked.

Folders a delete empties are removed (they would be listed as sessions), and their
lock file with them. Removing a lock file that someone may be waiting on needs a
protocol:

- only a holder of the lock removes the lock file (unlinks it, or renames its folder
  away, see ``delete``), and only when the folder holds no other data;
- every taker, once it holds the lock, checks that the path still names the file it
  locked; if not (the file was unlinked while it waited), it drops it and starts over
  on the new one.

So at any moment at most one process holds the lock that the path names. A process
forked while one of its threads held a lock does not hold it too (see :mod:`.held`).
"""

from __future__ import annotations

import os
from types import TracebackType

from . import held

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock
    fcntl = None  # type: ignore[assignment]

__all__ = ["HAVE_FLOCK", "LOCK_NAME", "FolderLock", "fcntl"]

LOCK_NAME = ".lock"
"""The lock file of a folder. Names starting with a dot are never keys, so listings
skip it and it cannot collide with a stored file."""

HAVE_FLOCK = fcntl is not None
"""Whether this platform has ``flock``; without it local conditional writes are refused."""

# O_NOFOLLOW: a lock file replaced by a link must not make us create or open a file
# somewhere else.
_OPEN_FLAGS = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


class FolderLock:
    """The exclusive lock of one folder, as a context manager.

    ``__enter__`` returns True once the lock is held. It returns False, holding
    nothing, when the folder does not exist (``make_folder=False``) or has no lock file
    (``create=False``): callers use that to skip work that has nothing to act on.
    """

    def __init__(self, folder: str, *, create: bool = True, make_folder: bool = True) -> None:
        self.folder = folder
        self.path = os.path.join(folder, LOCK_NAME)
        self._create = create
        self._make_folder = make_folder
        self._fd: int | None = None

    def __enter__(self) -> bool:
        flags = _OPEN_FLAGS | (os.O_CREAT if self._create else 0)
        while True:
            try:
                fd = held.open_held(self.path, flags)
            except FileNotFoundError:
                if not self._create or not self._make_folder:
                    return False
                os.makedirs(self.folder, exist_ok=True)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if _same_file(fd, self.path):
                    self._fd = fd
                    return True
            except BaseException:
                held.close(fd)
                raise
            held.close(fd)  # the file we locked was unlinked while we waited: retry

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        """Release the lock (closing the descriptor releases the flock)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            held.close(fd)

    def unlink(self) -> None:
        """Remove the lock file; only while holding the lock (see the module doc)."""
        assert self._fd is not None, "unlink() needs the lock held"
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _same_file(fd: int, path: str) -> bool:
    try:
        on_disk = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    locked = os.fstat(fd)
    return (on_disk.st_ino, on_disk.st_dev) == (locked.st_ino, locked.st_dev)
