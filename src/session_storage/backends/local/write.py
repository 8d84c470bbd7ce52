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
import random
import stat
import time
from dataclasses import dataclass

from . import held
from .delete import fsync_folder
from .locking import HAVE_FLOCK, FolderLock, fcntl
from .paths import STAGE_SUFFIX, TEMP_PREFIX, TEMP_SUFFIX, LocalRoot, NameClash, UnsafePath
from .read import NOFOLLOW, stat_or_none, version_token

__all__ = ["write"]

_WRITE_ATTEMPTS = 64
"""A write whose folder a concurrent delete keeps removing starts over this often."""

_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | getattr(os, "O_CLOEXEC", 0)

_FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | NOFOLLOW | getattr(os, "O_CLOEXEC", 0)

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


def _hidden_name(suffix: str) -> str:
    # A name only has to be unlikely to be taken (O_EXCL and mkdir refuse one that
    # is): the random module's generator, reseeded in a forked child, spares the
    # getrandom system call that os.urandom costs on every write.
    return f"{TEMP_PREFIX}{random.getrandbits(64):016x}{suffix}"


def _open_folder(root: LocalRoot, folder: str) -> int | None:
    """A descriptor of ``folder``, never through a link; None if it is missing.

    Taken once per durable write: the temp file is created relative to it (so the
    folder checked is the folder written in) and it is what gets fsynced at the end.
    """
    try:
        return os.open(folder, _FOLDER_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        # With O_DIRECTORY, Linux answers a link with ENOTDIR (ELOOP elsewhere), as it
        # answers a file: only then does one lstat tell which it is.
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        st = stat_or_none(folder)
        if exc.errno == errno.ELOOP or (st is not None and stat.S_ISLNK(st.st_mode)):
            raise UnsafePath(
                errno.ELOOP, "a symbolic link below the storage root is never followed", folder
            ) from None
        # A file where the folder should be, or one above it: name the first.
        _first_missing(root, folder)
        raise _clash(root, folder, "a file where a folder is needed") from None


def _new_temp(folder: str, dir_fd: int | None = None) -> _Temp:
    """Create a temp file in ``folder`` and hold its flock (see delete.is_dead_temp).

    With ``dir_fd`` (a descriptor of ``folder``) the file is created in that very
    folder even if the path was meanwhile renamed away; the path-based rename that
    publishes it then fails, and the write starts over.
    """
    for _ in range(8):
        name = _hidden_name(TEMP_SUFFIX)
        temp = os.path.join(folder, name)
        try:
            if dir_fd is None:
                fd = held.open_held(temp, _CREATE_FLAGS)
            else:
                fd = held.open_held(name, _CREATE_FLAGS, dir_fd=dir_fd)
        except FileExistsError:  # 64 random bits collided: draw again
            continue
        if HAVE_FLOCK:
            fcntl.flock(fd, fcntl.LOCK_EX)
        return _Temp(fd, temp)
    raise FileExistsError(errno.EEXIST, "no free temp file name", folder)


def _open_temp(root: LocalRoot, path: str, dir_fd: int | None, looked: bool) -> _Temp:
    """A temp file beside ``path``, or in a staging folder if ``path``'s folder is missing.

    ``dir_fd`` is a descriptor of the folder; ``looked`` says the caller tried to
    open it, so None means the folder is missing (no second look needed).

    A missing folder is never created in place: it is built under a hidden name in
    its existing parent and renamed into place together with the file (see _publish),
    so a crash never leaves a visible folder without data. Raises FileNotFoundError if
    a concurrent delete removed the folder meanwhile (the caller starts over).
    """
    folder = os.path.dirname(path)
    if dir_fd is not None:
        return _new_temp(folder, dir_fd)
    if not looked:
        try:
            return _new_temp(folder)
        except FileNotFoundError:
            pass
        except NotADirectoryError:
            _first_missing(root, folder)  # names the file in the way
            raise
    if folder == root.real:
        os.makedirs(root.real, exist_ok=True)  # the root is not a session: no staging
        raise FileNotFoundError(errno.ENOENT, "the root was missing", folder)
    # A folder right below the root is itself the highest missing one (the root
    # exists, or is made below); deeper ones are looked up level by level.
    missing = folder if os.path.dirname(folder) == root.real else _first_missing(root, folder)
    if missing is None:
        raise FileNotFoundError(errno.ENOENT, "folder appeared and vanished", folder)
    parent = os.path.dirname(missing)
    stage = os.path.join(parent, _hidden_name(STAGE_SUFFIX))
    inner = stage + folder[len(missing) :]
    try:
        try:
            os.mkdir(stage)
        except FileNotFoundError:
            if parent != root.real:
                raise  # a delete removed the parent meanwhile: start over
            os.makedirs(root.real, exist_ok=True)  # the root is not a session
            os.mkdir(stage)
        if inner != stage:
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


def _stamp(fd: int, previous: os.stat_result | None) -> str:
    """Make the file's modification time later than ``previous``'s; its version token.

    The kernel's own timestamps may come from a coarse clock (a few milliseconds);
    two quick writes of equal size that get a recycled inode would then share a token.
    A file that replaces another keeps the kernel's time when that is already later
    (the usual case: one ``fstat``, no ``utime``), so times along a path only grow.
    A new file (``previous`` None: nothing to be later than, but a deleted file of the
    same name may have had the same coarse time and inode) always gets the fine clock.
    """
    if not _STAMP_FD:
        return version_token(os.fstat(fd))
    if previous is not None:
        st = os.fstat(fd)
        if st.st_mtime_ns > previous.st_mtime_ns:
            return version_token(st)
    now = time.time_ns()
    if previous is not None and now <= previous.st_mtime_ns:
        now = previous.st_mtime_ns + 1
    os.utime(fd, ns=(now, now))
    return version_token(os.fstat(fd))


def _precondition_failed(path: str, why: str) -> FileExistsError:
    return FileExistsError(errno.EEXIST, f"precondition failed: {why}", path)


def _link_new(fd: int, temp: str, path: str) -> str | None:
    """Publish ``temp`` as ``path`` only if ``path`` does not exist.

    Returns None when the filesystem has no hard links (the caller falls back to the
    folder lock).
    """
    token = _stamp(fd, None)
    try:
        os.link(temp, path)
    except FileExistsError:
        raise _precondition_failed(path, "the file already exists") from None
    except OSError as exc:
        if exc.errno in _NO_HARD_LINKS:
            return None
        raise
    return token


def _replace_locked(fd: int, temp: str, path: str, if_version: str | None, if_absent: bool) -> str:
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
        token = _stamp(fd, current)
        os.replace(temp, path)  # readers see the old file or the new one, never a part
    return token


def _publish_staged(temp: _Temp, path: str, if_version: str | None, fsync: bool) -> str | None:
    """Rename the staging folder, holding the file under its final name, into place.

    Returns None if the folder appeared meanwhile (the caller publishes into it).
    """
    assert temp.stage is not None and temp.target is not None
    if if_version is not None:
        raise _precondition_failed(path, "the file is missing or at another version")
    staged = temp.stage + path[len(temp.target) :]
    token = _stamp(temp.fd, None)
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
    return token


def _publish(
    temp: _Temp,
    path: str,
    if_version: str | None,
    if_absent: bool,
    lock_plain: bool,
    fsync: bool,
) -> str:
    if temp.stage is not None:
        token = _publish_staged(temp, path, if_version, fsync)
        if token is not None:
            return token
        # Someone made the folder meanwhile: publish into it like any other write.
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        except FileExistsError:
            # mkdir met the folder, and a delete renamed it away before makedirs saw
            # it was a folder (or a file has the name: the next attempt names it).
            raise FileNotFoundError(errno.ENOENT, "folder removed meanwhile", path) from None
    fd = temp.fd
    if if_absent:
        token = _link_new(fd, temp.path, path)
        if token is not None:
            return token
    if if_absent or if_version is not None or lock_plain:
        token = _replace_locked(fd, temp.path, path, if_version, if_absent)
        temp.leftover = False
    else:
        token = _stamp(fd, stat_or_none(path))
        os.replace(temp.path, path)
    temp.leftover = False
    return token


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
    folder = os.path.dirname(real)
    for _ in range(_WRITE_ATTEMPTS):
        dir_fd = None
        if fsync:
            # One descriptor of the folder serves the link check of its last
            # component, the temp file's creation and the final fsync.
            root.check(folder, last=False)
            dir_fd = _open_folder(root, folder)
        else:
            root.check(real, last=False)
        try:
            token = _attempt(root, real, data, dir_fd, if_version, if_absent, lock_plain, fsync)
        finally:
            if dir_fd is not None:
                os.close(dir_fd)
        if token is not None:
            return token
    raise OSError(errno.EAGAIN, "the folder kept being deleted while writing; try again", real)


def _attempt(
    root: LocalRoot,
    real: str,
    data: bytes,
    dir_fd: int | None,
    if_version: str | None,
    if_absent: bool,
    lock_plain: bool,
    fsync: bool,
) -> str | None:
    """One try of :func:`write`; None when a concurrent delete made it start over."""
    try:
        temp = _open_temp(root, real, dir_fd, looked=fsync)
    except FileNotFoundError:
        return None
    except NotADirectoryError as exc:
        raise _clash(root, exc.filename or real, "a file where a folder is needed") from exc
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(temp.fd, view) :]
        if fsync:
            os.fsync(temp.fd)
        token = _publish(temp, real, if_version, if_absent, lock_plain, fsync)
    except FileNotFoundError:
        return None  # the folder or the temp file went with a concurrent delete
    except IsADirectoryError as exc:
        raise _clash(root, real, "a folder (it holds files below it)") from exc
    finally:
        _finish(temp)
    if fsync:
        if temp.target is not None and temp.stage is None:
            # A new folder was renamed into place: its parent holds the new entry.
            fsync_folder(os.path.dirname(temp.target))
        elif dir_fd is not None:
            # The rename by path found the temp file, so the folder at that path is
            # the one this descriptor names.
            _fsync_descriptor(dir_fd)
        else:
            fsync_folder(os.path.dirname(real))  # made meanwhile by another writer
    return token


def _fsync_descriptor(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a folder; nothing more to do
        pass


def _finish(temp: _Temp) -> None:
    """Close the temp file and remove whatever of it was not published."""
    held.close(temp.fd)
    # The temp file is still there after a failure, or after a create-only write
    # published it by hard link; a rename used it up.
    if temp.leftover:
        try:
            os.unlink(temp.path)
        except (FileNotFoundError, NotADirectoryError):
            pass
    if temp.stage is not None and temp.inner is not None:
        _remove_empty(temp.inner, temp.stage)
