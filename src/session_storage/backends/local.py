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
"""

from __future__ import annotations

import asyncio
import errno
import heapq
import os
import stat
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import nullcontext
from datetime import datetime, timezone
from typing import Any, TypeVar

import anyio.to_thread
from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper
from fsspec.implementations.local import LocalFileSystem

from .base import PAGE_SIZE, Driver, ObjectInfo, key_order
from .locking import HAVE_FLOCK, FolderLock, remove_folder_if_empty

__all__ = ["LocalDriver"]

TEMP_PREFIX = "."
"""Temp files start with a dot; encoded keys never do, so they cannot collide."""
TEMP_SUFFIX = ".tmp"
STALE_TEMP_SECONDS = 3600.0
"""A temp file this old belongs to a writer that died; deletes may remove it."""
_MKDIR_ATTEMPTS = 16
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
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
    return await loop.run_in_executor(None, fn, *args)


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


def _read(path: str) -> tuple[bytes, str | None] | None:
    # os-level calls: no Python file object, one read for a file of known size.
    try:
        fd = os.open(path, _READ_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        st = os.fstat(fd)  # the version of exactly the bytes we read
        if stat.S_ISDIR(st.st_mode):
            return None
        data = os.read(fd, st.st_size + 1)
        if len(data) > st.st_size:  # someone is appending in place: read to the end
            chunks = [data]
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            data = b"".join(chunks)
        return data, _version(st)
    finally:
        os.close(fd)


def _make_folder(folder: str) -> str | None:
    """Create ``folder`` and its parents; the highest folder this call created, if any."""
    top = None
    probe = folder
    while probe and not os.path.isdir(probe):
        top, probe = probe, os.path.dirname(probe)
    os.makedirs(folder, exist_ok=True)
    return top


def _open_temp(folder: str) -> tuple[int, str, str | None]:
    """Create a uniquely named temp file in ``folder``, creating the folder if needed.

    Returns the descriptor, the temp path and the highest folder created for it, so a
    write that fails can remove the folders it made. A concurrent delete may prune the
    folder between our makedirs and our open, so this retries a bounded number of times.
    """
    created = None
    for _ in range(_MKDIR_ATTEMPTS):
        temp = os.path.join(folder, f"{TEMP_PREFIX}{os.urandom(8).hex()}{TEMP_SUFFIX}")
        try:
            return os.open(temp, _CREATE_FLAGS, 0o644), temp, created
        except FileNotFoundError:
            created = _make_folder(folder) or created
        except FileExistsError:  # 64 random bits collided: draw again
            continue
    raise FileNotFoundError(errno.ENOENT, "folder keeps disappearing", folder)


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
        return os.stat(path)
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
    with FolderLock(os.path.dirname(path)):
        current = _stat_or_none(path)
        if if_absent and current is not None:
            raise _precondition_failed(path, "the file already exists")
        if if_version is not None and (current is None or _version(current) != if_version):
            raise _precondition_failed(path, "the file is missing or at another version")
        st = _stamp(fd, current)
        os.replace(temp, path)  # readers see the old file or the new one, never a part
    return st


def _publish(
    fd: int, temp: str, path: str, if_version: str | None, if_absent: bool, lock_plain: bool
) -> os.stat_result:
    if if_absent:
        st = _link_new(fd, temp, path)
        if st is not None:
            return st
    if if_absent or if_version is not None or lock_plain:
        return _replace_locked(fd, temp, path, if_version, if_absent)
    st = _stamp(fd, _stat_or_none(path))
    os.replace(temp, path)
    return st


def _write(
    path: str, data: bytes, if_version: str | None, if_absent: bool, lock_plain: bool = True
) -> str:
    """Write ``data`` to ``path`` atomically, under the given condition.

    Plain stores take the folder lock too (``lock_plain``). The lock is an open, a
    flock, two stats and a close: about 9 us. Measured with ``python
    benchmarks/local_lock.py [folder]`` (2 shared cores, 2026-11), a 1 KB store costs
    about 340 us on ext4 with or without it (the journal dominates; the difference is
    noise) and 78 vs 111 us on tmpfs, from one thread or eight. Without it, a plain
    store that lands between a compare-and-swap writer's version check and its rename
    is silently replaced: a lost update, which conditional writes exist to prevent.
    """
    folder = os.path.dirname(path)
    fd, temp, created = _open_temp(folder)
    published = False
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        st = _publish(fd, temp, path, if_version, if_absent, lock_plain)
        published = True
    finally:
        os.close(fd)
        # The temp file is still there after a failure, or after a create-only write
        # published it by hard link; a rename used it up. Unlinking it after every
        # rename would cost a failed system call and an exception per store (~12 us).
        if not published or if_absent:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
        if not published and created is not None:
            # A failed write leaves no folder behind that it made: an empty session
            # folder would be listed as a session.
            _prune(folder, os.path.dirname(created))
    return _version(st)


def _stat_file(path: str) -> ObjectInfo | None:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return _info(st) if not os.path.isdir(path) else None


def _child_folders(
    folder: str, prefix: str, start_after: str | None, limit: int | None
) -> list[str]:
    """Folder names under ``folder`` in key order, each followed by ``/``.

    The directory is read incrementally and only matching names are kept; with a
    ``limit`` only that many (a heap), so a small page of a huge folder stays small.
    The names keep their ``/`` so that one list serves as its own sort key.
    """
    after = key_order(start_after) if start_after is not None else ""
    try:
        with os.scandir(folder) as entries:
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


def _walk_files(folder: str) -> list[str]:
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(TEMP_PREFIX)]
        out.extend(os.path.join(dirpath, f) for f in filenames if not f.startswith(TEMP_PREFIX))
    return out


def _walk_infos(folder: str) -> list[tuple[str, ObjectInfo]]:
    """Every file below ``folder`` with its stat, skipping temp files (like _walk_files)."""
    out: list[tuple[str, ObjectInfo]] = []
    stack = [folder]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed while we walked
        with entries:
            for entry in entries:
                if entry.name.startswith(TEMP_PREFIX):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file():
                        out.append((entry.path, _info(entry.stat())))
                except FileNotFoundError:
                    continue
    return out


def _has_files(folder: str) -> bool:
    for _dirpath, dirnames, filenames in os.walk(folder):
        if any(not f.startswith(TEMP_PREFIX) for f in filenames):
            return True
        dirnames[:] = [d for d in dirnames if not d.startswith(TEMP_PREFIX)]
    return False


def _prune(folder: str, root: str) -> None:
    """Remove now-empty folders from ``folder`` up to, not including, ``root``.

    Empty folders would otherwise be listed as sessions that have no files.
    """
    root = root.rstrip("/")
    while folder.startswith(root + "/"):
        if not remove_folder_if_empty(folder):
            return  # not empty (a writer got in first)
        folder = os.path.dirname(folder)


def _unlink_in(folder: str, paths: Sequence[str]) -> int:
    """Unlink files of one folder under its lock; returns how many existed."""
    removed = 0
    lock = FolderLock(folder, make_folder=False) if HAVE_FLOCK else nullcontext(True)
    with lock as held:
        if not held:
            return 0  # no folder, so none of the files exists
        for path in paths:
            try:
                os.unlink(path)
                removed += 1
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                pass
    return removed


def _unlink(path: str, root: str) -> bool:
    folder = os.path.dirname(path)
    existed = _unlink_in(folder, [path]) > 0
    if existed:
        _prune(folder, root)
    return existed


def _unlink_many(paths: Sequence[str], root: str) -> None:
    by_folder: dict[str, list[str]] = {}
    for path in paths:
        by_folder.setdefault(os.path.dirname(path), []).append(path)
    for folder, files in by_folder.items():
        _unlink_in(folder, files)
    # Deepest first, so a parent is tried after its children are gone.
    for folder in sorted(by_folder, key=len, reverse=True):
        _remove_stale_temps(folder)
        _prune(folder, root)


def _remove_stale_temps(folder: str) -> None:
    cutoff = time.time() - STALE_TEMP_SECONDS
    try:
        with os.scandir(folder) as entries:
            for e in entries:
                if (
                    e.name.startswith(TEMP_PREFIX)
                    and e.name.endswith(TEMP_SUFFIX)  # never the lock file
                    and e.is_file()
                    and e.stat().st_mtime < cutoff
                ):
                    os.unlink(e.path)
    except FileNotFoundError:
        pass


class LocalDriver(Driver):
    """Files in a local folder. Each blocking call runs in one worker-thread hop."""

    name = "file"
    scheme = "file"
    loop_bound = False
    max_segment_bytes = 255
    # Enough to keep the loop's default executor (min(32, cores + 4) threads) busy;
    # more would only queue for its threads.
    default_concurrency = 8
    supports_conditional_writes = HAVE_FLOCK

    @staticmethod
    def root_path(url: str) -> str:
        path = LocalFileSystem._strip_protocol(url)
        return os.path.abspath(os.path.expanduser(path)).rstrip("/") or "/"

    def _open(self) -> Any:
        # Exposed as ``SessionStorage.filesystem`` for raw access; the primitives
        # below use os directly because fsspec's local pipe_file is not atomic.
        return AsyncFileSystemWrapper(
            LocalFileSystem(auto_mkdir=True, **self.options), asynchronous=True
        )

    async def get(self, path: str) -> tuple[bytes, str | None] | None:
        return await _in_thread(_read, path)

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
        return await _in_thread(_write, path, data, if_version, if_absent, HAVE_FLOCK)

    async def info(self, path: str) -> ObjectInfo | None:
        return await _in_thread(_stat_file, path)

    async def iter_children(
        self,
        folder: str,
        prefix: str = "",
        start_after: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[list[str]]:
        # One thread hop reads the whole folder: a directory has no order to resume
        # from, so reading it again per page would cost a full scan per page.
        keys = await _in_thread(_child_folders, folder, prefix, start_after, limit)
        for i in range(0, len(keys), PAGE_SIZE):
            yield [key[:-1] for key in keys[i : i + PAGE_SIZE]]

    async def list_files(self, folder: str) -> list[str]:
        return await _in_thread(_walk_files, folder)

    async def list_file_infos(self, folder: str) -> AsyncIterator[list[tuple[str, ObjectInfo]]]:
        found = await _in_thread(_walk_infos, folder)
        for i in range(0, len(found), PAGE_SIZE):
            yield found[i : i + PAGE_SIZE]

    async def has_files(self, folder: str) -> bool:
        return await _in_thread(_has_files, folder)

    async def delete_file(self, path: str, root: str) -> bool:
        return await _in_thread(_unlink, path, root)

    async def delete_files(self, paths: Sequence[str], root: str) -> None:
        await _in_thread(_unlink_many, paths, root)
