"""Writing on local disk: a temp file, then one atomic rename, under the write's condition.

Conditional writes hold across threads and processes:

- ``if_absent``: the temp file is hard-linked to the target name; ``link`` fails if the
  name exists, so the check and the write are one system call.
- ``if_version``: the check and the rename happen under the folder's ``flock``
  (:mod:`.locking`).
- plain stores take the same lock, so none can slip in between a compare-and-swap
  writer's check and its rename (where it would be lost).

Version tokens are ``mtime_ns-inode-size`` of the written file. Every write creates a
new file (new inode) and stamps it with a modification time later than the file it
replaces, so a token never repeats for a path even when the filesystem reuses an
inode number at once.

A crash at any moment never leaves a listed folder without data: a missing folder is
built under a hidden name and renamed into place with its first file. Writes are
``fsync``ed (the file before the rename, the folder after it) unless told otherwise.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass

from .delete import fsync_folder
from .locking import HAVE_FLOCK, FolderLock, fcntl
from .paths import STAGE_SUFFIX, TEMP_PREFIX, TEMP_SUFFIX, LocalRoot, NameClash
from .read import NOFOLLOW, stat_or_none, version_token

__all__ = ["write"]

_WRITE_ATTEMPTS = 64
"""A write whose folder a concurrent delete keeps removing starts over this often."""

_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | getattr(os, "O_CLOEXEC", 0)

_STAMP_FD = os.utime in os.supports_fd
# Filesystems without hard links answer link() with one of these; create-only writes
# then check and rename under the folder lock instead.
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}


@dataclass
class _Temp:
    """A writer's temp file, and the staging folder it was created in, if any."""

    fd: int
    path: str
    """Where the unpublished file is now."""
    leftover: bool = True
    """Whether ``path`` is still ours to remove when the write ends (False once a
    rename has put the file in place; a hard link leaves the temp name behind)."""
    stage: str | None = None
    """A hidden folder standing in for ``target`` until the first file is in it."""
    target: str | None = None
    """The highest missing folder that ``stage`` becomes."""
    inner: str | None = None
    """The folder inside ``stage`` that holds the file."""


def _clash(root: LocalRoot, path: str, what: str) -> NameClash:
    relative = path[len(root.real.rstrip("/")) + 1 :]
    return NameClash(
        f"{relative!r} is {what}; a file and a folder of the same name "
        f"cannot both exist on local disk"
    )


def _first_missing(root: LocalRoot, folder: str) -> str | None:
    """The highest folder on the way from the root to ``folder`` that does not exist."""
    base = root.real.rstrip("/")
    current = base
    for part in folder[len(base) + 1 :].split("/") if folder != root.real else ():
        current = f"{current}/{part}"
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            return current
        if not stat.S_ISDIR(st.st_mode):
            raise _clash(root, current, "a file where a folder is needed")
    return None


def _new_temp(folder: str) -> _Temp:
    """Create a temp file in ``folder`` and hold its flock (see delete.is_dead_temp)."""
    for _ in range(8):
        temp = os.path.join(folder, f"{TEMP_PREFIX}{os.urandom(8).hex()}{TEMP_SUFFIX}")
        try:
            fd = os.open(temp, _CREATE_FLAGS, 0o644)
        except FileExistsError:  # 64 random bits collided: draw again
            continue
        if HAVE_FLOCK:
            fcntl.flock(fd, fcntl.LOCK_EX)
        return _Temp(fd, temp)
    raise FileExistsError(errno.EEXIST, "no free temp file name", folder)


def _open_temp(root: LocalRoot, path: str) -> _Temp:
    """A temp file beside ``path``, or in a staging folder if ``path``'s folder is missing.

    A missing folder is never created in place: it is built under a hidden name in
    its existing parent and renamed into place together with the file (see _publish),
    so a crash never leaves a visible folder without data. Raises FileNotFoundError if
    a concurrent delete removed the folder meanwhile (the caller starts over).
    """
    folder = os.path.dirname(path)
    try:
        return _new_temp(folder)
    except FileNotFoundError:
        pass
    except NotADirectoryError:
        _first_missing(root, folder)  # names the file in the way
        raise
    if not os.path.isdir(root.real):
        os.makedirs(root.real, exist_ok=True)  # the root is not a session: no staging
    missing = _first_missing(root, folder)
    if missing is None:
        raise FileNotFoundError(errno.ENOENT, "folder appeared and vanished", folder)
    stage = os.path.join(
        os.path.dirname(missing), f"{TEMP_PREFIX}{os.urandom(8).hex()}{STAGE_SUFFIX}"
    )
    inner = stage + folder[len(missing) :]
    try:
        os.makedirs(inner)
        temp = _new_temp(inner)
    except BaseException:
        # Out of inodes or space (ENOSPC, EDQUOT) after some of the folders were
        # made: remove them now rather than leave a hidden folder for the next gc.
        _remove_empty(inner, stage)
        raise
    temp.stage, temp.target, temp.inner = stage, missing, inner
    return temp


def _remove_empty(folder: str, stage: str) -> None:
    """Remove ``folder`` and its parents up to and including ``stage`` while empty."""
    while folder == stage or folder.startswith(stage + "/"):
        try:
            os.rmdir(folder)
        except FileNotFoundError:
            pass  # never made, or made only partly: go on with its parent
        except OSError:
            return
        folder = os.path.dirname(folder)


def _stamp(fd: int, previous: os.stat_result | None) -> os.stat_result:
    """Give the file a modification time after ``previous``'s, and return its stat.

    The kernel's own timestamps may come from a coarse clock (a few milliseconds);
    two quick writes of equal size that get a recycled inode would then share a token.
    """
    if _STAMP_FD:
        now = time.time_ns()
        if previous is not None and now <= previous.st_mtime_ns:
            now = previous.st_mtime_ns + 1
        os.utime(fd, ns=(now, now))
    return os.fstat(fd)


def _precondition_failed(path: str, why: str) -> FileExistsError:
    return FileExistsError(errno.EEXIST, f"precondition failed: {why}", path)


def _link_new(fd: int, temp: str, path: str) -> os.stat_result | None:
    """Publish ``temp`` as ``path`` only if ``path`` does not exist.

    Returns None when the filesystem has no hard links (the caller falls back to the
    folder lock).
    """
    st = _stamp(fd, None)
    try:
        os.link(temp, path)
    except FileExistsError:
        raise _precondition_failed(path, "the file already exists") from None
    except OSError as exc:
        if exc.errno in _NO_HARD_LINKS:
            return None
        raise
    return st


def _replace_locked(
    fd: int, temp: str, path: str, if_version: str | None, if_absent: bool
) -> os.stat_result:
    """Check the condition and rename ``temp`` onto ``path`` under the folder lock."""
    # A folder removed by a delete meanwhile is not made again here: the write starts
    # over and builds it by staging (FileNotFoundError, see :func:`write`).
    with FolderLock(os.path.dirname(path), make_folder=False) as held:
        if not held:
            raise FileNotFoundError(errno.ENOENT, "folder removed meanwhile", path)
        current = stat_or_none(path)
        if if_absent and current is not None:
            raise _precondition_failed(path, "the file already exists")
        if if_version is not None and (current is None or version_token(current) != if_version):
            raise _precondition_failed(path, "the file is missing or at another version")
        st = _stamp(fd, current)
        os.replace(temp, path)  # readers see the old file or the new one, never a part
    return st


def _publish_staged(
    temp: _Temp, path: str, if_version: str | None, fsync: bool
) -> os.stat_result | None:
    """Rename the staging folder, holding the file under its final name, into place.

    Returns None if the folder appeared meanwhile (the caller publishes into it).
    """
    assert temp.stage is not None and temp.target is not None
    if if_version is not None:
        raise _precondition_failed(path, "the file is missing or at another version")
    staged = temp.stage + path[len(temp.target) :]
    st = _stamp(temp.fd, None)
    os.rename(temp.path, staged)
    temp.path = staged
    temp.inner = os.path.dirname(staged)
    if fsync:
        folder = os.path.dirname(staged)
        while folder.startswith(temp.stage):
            fsync_folder(folder)
            folder = os.path.dirname(folder)
    try:
        os.rename(temp.stage, temp.target)
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
        return None
    temp.stage = None  # it is the target now
    temp.leftover = False
    return st


def _publish(
    temp: _Temp,
    path: str,
    if_version: str | None,
    if_absent: bool,
    lock_plain: bool,
    fsync: bool,
) -> os.stat_result:
    if temp.stage is not None:
        st = _publish_staged(temp, path, if_version, fsync)
        if st is not None:
            return st
        # Someone made the folder meanwhile: publish into it like any other write.
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        except FileExistsError:
            # mkdir met the folder, and a delete renamed it away before makedirs saw
            # it was a folder (or a file has the name: the next attempt names it).
            raise FileNotFoundError(errno.ENOENT, "folder removed meanwhile", path) from None
    fd = temp.fd
    if if_absent:
        st = _link_new(fd, temp.path, path)
        if st is not None:
            return st
    if if_absent or if_version is not None or lock_plain:
        st = _replace_locked(fd, temp.path, path, if_version, if_absent)
        temp.leftover = False
    else:
        st = _stamp(fd, stat_or_none(path))
        os.replace(temp.path, path)
    temp.leftover = False
    return st


def write(
    root: LocalRoot,
    path: str,
    data: bytes,
    if_version: str | None,
    if_absent: bool,
    lock_plain: bool = True,
    fsync: bool = True,
) -> str:
    """Write ``data`` to ``path`` atomically, under the given condition.

    Plain stores take the folder lock too (``lock_plain``). The lock is an open, a
    flock, two stats and a close: about 9 us. Measured with ``python
    benchmarks/local_lock.py [folder]`` (2 shared cores, 2026-11), a 1 KB store costs
    about 340 us on ext4 with or without it (the journal dominates; the difference is
    noise) and 78 vs 111 us on tmpfs, from one thread or eight. Without it, a plain
    store that lands between a compare-and-swap writer's version check and its rename
    is silently replaced: a lost update, which conditional writes exist to prevent.

    A delete of the same folder may move the temp file away mid-write; the write then
    starts over (a bounded number of times), so a store racing a delete lands after it.
    """
    real = root.to_real(path)
    root.mark_on_write(fsync)
    for _ in range(_WRITE_ATTEMPTS):
        root.check(real, last=False)
        try:
            temp = _open_temp(root, real)
        except FileNotFoundError:
            continue
        except NotADirectoryError as exc:
            raise _clash(root, exc.filename or real, "a file where a folder is needed") from exc
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(temp.fd, view) :]
            if fsync:
                os.fsync(temp.fd)
            st = _publish(temp, real, if_version, if_absent, lock_plain, fsync)
        except FileNotFoundError:
            continue  # the folder or the temp file went with a concurrent delete
        except IsADirectoryError as exc:
            raise _clash(root, real, "a folder (it holds files below it)") from exc
        finally:
            _finish(temp)
        if fsync:
            # A new folder was renamed into place: its parent holds the new entry.
            changed = temp.target if temp.target is not None and temp.stage is None else real
            fsync_folder(os.path.dirname(changed))
        return version_token(st)
    raise OSError(errno.EAGAIN, "the folder kept being deleted while writing; try again", real)


def _finish(temp: _Temp) -> None:
    """Close the temp file and remove whatever of it was not published."""
    os.close(temp.fd)
    # The temp file is still there after a failure, or after a create-only write
    # published it by hard link; a rename used it up.
    if temp.leftover:
        try:
            os.unlink(temp.path)
        except (FileNotFoundError, NotADirectoryError):
            pass
    if temp.stage is not None and temp.inner is not None:
        _remove_empty(temp.inner, temp.stage)
