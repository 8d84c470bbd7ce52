"""Local disk: atomic writes by temp file and rename, one thread hop per operation.

Conditional writes hold across threads and processes:

- ``if_absent``: the temp file is hard-linked to the target name; ``link`` fails if the
  name exists, so the check and the write are one system call.
- ``if_version``: the check and the rename happen under the folder's ``flock``
  (:mod:`.locking`).
- plain stores and deletes take the same lock, so neither can slip in between a
  compare-and-swap writer's check and its rename (where it would be lost, or the file
  resurrected).

Version tokens are ``mtime_ns-inode-size`` of the written file. Every write creates a
new file (new inode) and stamps it with a modification time later than the file it
replaces, so a token never repeats for a path even when the filesystem reuses an
inode number at once.

Safety on a shared disk (:mod:`.local_paths`, :mod:`.local_delete`): paths never follow
a symbolic link below the root, files that are not regular are refused, deletes happen
only in a marked store and only to the library's own files, and a crash at any moment
never leaves a listed folder without data: a new folder is built under a hidden name
and renamed into place with its first file, and a folder that a delete empties is
renamed away before it is cleared. Writes are ``fsync``ed (the file before the
rename, the folder after it) unless the storage option ``fsync`` is False.
"""

from __future__ import annotations

import asyncio
import concurrent.futures.thread as futures_thread
import errno
import heapq
import os
import stat
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import anyio.to_thread
from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper
from fsspec.implementations.local import LocalFileSystem

from ..errors import ConfigurationError, ErrorKind, classify_builtin
from .base import PAGE_SIZE, Driver, ObjectInfo, key_order
from .local_delete import fsync_folder, remove_files, sweep
from .local_paths import (
    STAGE_SUFFIX,
    TEMP_PREFIX,
    TEMP_SUFFIX,
    ForeignFolder,
    LocalRoot,
    NameClash,
    UnsafePath,
    is_own_name,
)
from .locking import HAVE_FLOCK, FolderLock, fcntl
from .registry import FILE

__all__ = ["LocalDriver"]

_WRITE_ATTEMPTS = 64
"""A write whose folder a concurrent delete keeps removing starts over this often."""
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# O_NONBLOCK: opening a FIFO for reading would wait for a writer forever.
_READ_FLAGS = os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
T = TypeVar("T")


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run one blocking call in a worker thread: every operation costs one hop.

    Under asyncio this is the loop's default executor, whose hop costs about a
    quarter less than anyio's worker threads (measured: ~115 us against ~150 us on a
    2-core VM), and the hop is most of what a small local load or store costs.
    Other event loops (trio) get anyio's threads. A cancelled caller stops waiting;
    the call itself runs to its end, so a write still lands whole or not at all.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return await anyio.to_thread.run_sync(fn, *args)
    try:
        return await loop.run_in_executor(None, fn, *args)
    except RuntimeError:
        # "cannot schedule new futures after interpreter shutdown": saves drained at
        # exit would be lost; a few milliseconds of blocking the loop is the lesser harm.
        if not sys.is_finalizing() and not _executor_shut_down(loop):
            raise
        return fn(*args)


def _executor_shut_down(loop: asyncio.AbstractEventLoop) -> bool:
    return bool(getattr(futures_thread, "_shutdown", False)) or bool(
        getattr(getattr(loop, "_default_executor", None), "_shutdown", False)
    )


_STAMP_FD = os.utime in os.supports_fd
# Filesystems without hard links answer link() with one of these; create-only writes
# then check and rename under the folder lock instead.
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}


def _version(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns:x}-{st.st_ino:x}-{st.st_size:x}"


def _info(st: os.stat_result) -> ObjectInfo:
    birth = getattr(st, "st_birthtime", None)  # absent on Linux before Python 3.12
    return ObjectInfo(
        size=st.st_size,
        modified=datetime.fromtimestamp(st.st_mtime, timezone.utc),
        created=datetime.fromtimestamp(birth, timezone.utc) if birth is not None else None,
        version=_version(st),
    )


def _refuse_special(st: os.stat_result, path: str) -> None:
    """Raise UnsafePath for a link or a file that is not regular (FIFO, socket, device)."""
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(
            errno.ELOOP, "a symbolic link below the storage root is never followed", path
        )
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath(
            errno.EINVAL, "not a regular file (a FIFO, socket or device): refused", path
        )


def _read(root: LocalRoot, path: str) -> tuple[bytes, str | None] | None:
    real = root.to_real(path)
    root.check(real, last=False)
    # os-level calls: no Python file object, one read for a file of known size.
    try:
        fd = os.open(real, _READ_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link
            raise UnsafePath(
                exc.errno, "a symbolic link below the storage root is never followed", real
            ) from None
        raise
    try:
        st = os.fstat(fd)  # the version of exactly the bytes we read
        if stat.S_ISDIR(st.st_mode):
            return None
        _refuse_special(st, real)
        data = os.read(fd, st.st_size + 1)
        if len(data) > st.st_size:  # someone is appending in place: read to the end
            chunks = [data]
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            data = b"".join(chunks)
        return data, _version(st)
    finally:
        os.close(fd)


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
    """Create a temp file in ``folder`` and hold its flock (see local_delete.is_dead_temp)."""
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
    os.makedirs(inner)
    temp = _new_temp(inner)
    temp.stage, temp.target, temp.inner = stage, missing, inner
    return temp


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


def _stat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


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
    # over and builds it by staging (FileNotFoundError, see _write).
    with FolderLock(os.path.dirname(path), make_folder=False) as held:
        if not held:
            raise FileNotFoundError(errno.ENOENT, "folder removed meanwhile", path)
        current = _stat_or_none(path)
        if if_absent and current is not None:
            raise _precondition_failed(path, "the file already exists")
        if if_version is not None and (current is None or _version(current) != if_version):
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
        os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = temp.fd
    if if_absent:
        st = _link_new(fd, temp.path, path)
        if st is not None:
            return st
    if if_absent or if_version is not None or lock_plain:
        st = _replace_locked(fd, temp.path, path, if_version, if_absent)
        temp.leftover = False
    else:
        st = _stamp(fd, _stat_or_none(path))
        os.replace(temp.path, path)
    temp.leftover = False
    return st


def _write(
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
        return _version(st)
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
        folder = temp.inner
        while folder.startswith(temp.stage):
            try:
                os.rmdir(folder)
            except OSError:
                break
            folder = os.path.dirname(folder)


def _stat_file(root: LocalRoot, path: str) -> ObjectInfo | None:
    real = root.to_real(path)
    root.check(real, last=False)
    st = _stat_or_none(real)
    if st is None or stat.S_ISDIR(st.st_mode):
        return None
    _refuse_special(st, real)
    return _info(st)


def _child_folders(
    root: LocalRoot, folder: str, prefix: str, start_after: str | None, limit: int | None
) -> list[str]:
    """Folder names under ``folder`` in key order, each followed by ``/``.

    The directory is read incrementally and only matching names are kept; with a
    ``limit`` only that many (a heap), so a small page of a huge folder stays small.
    The names keep their ``/`` so that one list serves as its own sort key. Links to
    folders are not folders here: they are never followed.
    """
    real = root.to_real(folder)
    root.check(real, last=True)
    after = key_order(start_after) if start_after is not None else ""
    try:
        with os.scandir(real) as entries:
            keys = _matching_keys(entries, prefix, after)
            if limit is not None:
                return heapq.nsmallest(limit, keys)
            found = list(keys)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found.sort()
    return found


def _matching_keys(entries: Iterator[os.DirEntry[str]], prefix: str, after: str) -> Iterator[str]:
    for e in entries:
        name = e.name
        if name.startswith(prefix) and not name.startswith(TEMP_PREFIX):
            key = key_order(name)
            if key > after and e.is_dir(follow_symlinks=False):
                yield key


def _own_entries(folder: str) -> Iterator[os.DirEntry[str]]:
    """Every own regular file below ``folder``: encoded names only, no link followed."""
    stack = [folder]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed while we walked
        with entries:
            for entry in entries:
                if not is_own_name(entry.name):
                    continue  # temp files, locks, other programs' files
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    yield entry


def _walk_files(root: LocalRoot, folder: str) -> list[str]:
    real = root.to_real(folder)
    root.check(real, last=True)
    return [root.to_given(e.path) for e in _own_entries(real)]


def _walk_infos(root: LocalRoot, folder: str) -> list[tuple[str, ObjectInfo]]:
    real = root.to_real(folder)
    root.check(real, last=True)
    out: list[tuple[str, ObjectInfo]] = []
    for entry in _own_entries(real):
        try:
            out.append((root.to_given(entry.path), _info(entry.stat(follow_symlinks=False))))
        except FileNotFoundError:
            continue
    return out


def _has_files(root: LocalRoot, folder: str) -> bool:
    real = root.to_real(folder)
    root.check(real, last=True)
    return next(_own_entries(real), None) is not None


def _delete(root: LocalRoot, paths: Sequence[str], fsync: bool) -> int:
    real = [root.to_real(p) for p in paths]
    for path in real:
        root.check(path, last=False)
    return remove_files(root, real, fsync)


def _delete_tree(root: LocalRoot, folder: str, fsync: bool) -> bool:
    real = root.to_real(folder)
    root.check(real, last=True)
    if not root.require_owned():
        return False
    files = [e.path for e in _own_entries(real)]
    removed = remove_files(root, files, fsync) if files else 0
    sweep(root, real, fsync)  # what crashed writers left in the session
    return removed > 0


def _sweep_root(root: LocalRoot, folder: str, fsync: bool, dry_run: bool) -> None:
    real = root.to_real(folder)
    root.check(real, last=True)
    if root.require_owned() and not dry_run:
        sweep(root, real, fsync)


class LocalDriver(Driver):
    """Files in a local folder. Each blocking call runs in one worker-thread hop.

    Storage option ``fsync`` (default True): fsync each written file before its
    rename and its folder after it, so that a stored state survives a power loss,
    not only a crash of the process. False skips both (faster; see the benchmarks).
    """

    backend = FILE
    loop_bound = False
    max_segment_bytes = 255
    # Enough to keep the loop's default executor (min(32, cores + 4) threads) busy;
    # more would only queue for its threads.
    default_concurrency = 8
    supports_conditional_writes = HAVE_FLOCK

    def __init__(self, root: str, options: Mapping[str, Any]) -> None:
        super().__init__(root, options)
        fsync = self.options.pop("fsync", True)
        if not isinstance(fsync, bool):
            raise ConfigurationError(f"storage option fsync must be true or false, got {fsync!r}")
        self.fsync = fsync
        self._root: LocalRoot | None = None

    @property
    def _local(self) -> LocalRoot:
        """The store root: its real path is resolved once, on first use (no I/O here)."""
        if self._root is None or self._root.path != (self.root.rstrip("/") or "/"):
            self._root = LocalRoot(self.root or "/")
        return self._root

    @staticmethod
    def root_path(url: str) -> str:
        scheme, sep, rest = url.partition(":")
        if sep and scheme.lower() in FILE.schemes and rest.strip() in ("", "//"):
            # "file://" and "file:" would mean the current folder: a project folder,
            # say, where a retention run would delete whatever looks like a session.
            raise ConfigurationError(
                f"local storage URL {url!r} names no folder; give one "
                f"(for the current folder say so: './sessions' or 'file:///abs/path')"
            )
        path = LocalFileSystem._strip_protocol(url)
        return os.path.abspath(os.path.expanduser(path)).rstrip("/") or "/"

    def url(self, path: str) -> str:
        return f"{self.scheme}://{path}"  # an absolute path keeps its leading "/"

    def classify(self, exc: BaseException) -> ErrorKind:
        if isinstance(exc, ForeignFolder):
            return "foreign"
        if isinstance(exc, UnsafePath):
            return "unsafe"
        if isinstance(exc, NameClash):
            return "clash"
        if isinstance(exc, FileNotFoundError):
            # A missing file is None/False before this point and a local root has no
            # bucket to be missing: never blame one.
            return "other"
        return classify_builtin(exc)

    def _open(self) -> Any:
        # Exposed as ``SessionStorage.filesystem`` for raw access; the primitives
        # below use os directly because fsspec's local pipe_file is not atomic.
        return AsyncFileSystemWrapper(
            LocalFileSystem(auto_mkdir=True, **self.options), asynchronous=True
        )

    async def get(self, path: str) -> tuple[bytes, str | None] | None:
        return await _in_thread(_read, self._local, path)

    async def put(
        self,
        path: str,
        data: bytes,
        content_type: str,
        *,
        if_version: str | None = None,
        if_absent: bool = False,
        verify_own: bool = True,  # no lost replies here: nothing to verify
    ) -> str:
        if (if_version is not None or if_absent) and not HAVE_FLOCK:
            raise NotImplementedError("conditional writes on local disk need flock")
        return await _in_thread(
            _write, self._local, path, data, if_version, if_absent, HAVE_FLOCK, self.fsync
        )

    async def info(self, path: str) -> ObjectInfo | None:
        return await _in_thread(_stat_file, self._local, path)

    async def iter_children(
        self,
        folder: str,
        prefix: str = "",
        start_after: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[list[str]]:
        # One thread hop reads the whole folder: a directory has no order to resume
        # from, so reading it again per page would cost a full scan per page.
        keys = await _in_thread(_child_folders, self._local, folder, prefix, start_after, limit)
        for i in range(0, len(keys), PAGE_SIZE):
            yield [key[:-1] for key in keys[i : i + PAGE_SIZE]]

    async def list_files(self, folder: str) -> list[str]:
        return await _in_thread(_walk_files, self._local, folder)

    async def list_file_infos(self, folder: str) -> AsyncIterator[list[tuple[str, ObjectInfo]]]:
        found = await _in_thread(_walk_infos, self._local, folder)
        for i in range(0, len(found), PAGE_SIZE):
            yield found[i : i + PAGE_SIZE]

    async def has_files(self, folder: str) -> bool:
        return await _in_thread(_has_files, self._local, folder)

    async def delete_file(self, path: str) -> bool:
        return await _in_thread(_delete, self._local, [path], self.fsync) > 0

    async def delete_files(self, paths: Sequence[str]) -> None:
        await _in_thread(_delete, self._local, paths, self.fsync)

    async def delete_tree(self, folder: str) -> bool:
        return await _in_thread(_delete_tree, self._local, folder, self.fsync)

    async def sweep(self, folder: str, *, dry_run: bool) -> None:
        await _in_thread(_sweep_root, self._local, folder, self.fsync, dry_run)
