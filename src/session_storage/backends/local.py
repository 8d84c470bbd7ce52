"""Local disk: atomic writes by temp file and rename, blocking calls run in a thread."""

from __future__ import annotations

import errno
import os
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timezone
from typing import Any

import anyio.to_thread
from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper
from fsspec.implementations.local import LocalFileSystem

from .base import PAGE_SIZE, Driver, ObjectInfo, key_order

__all__ = ["LocalDriver"]

TEMP_PREFIX = "."
"""Temp files start with a dot; encoded keys never do, so they cannot collide."""
STALE_TEMP_SECONDS = 3600.0
"""A temp file this old belongs to a writer that died; deletes may remove it."""
_MKDIR_ATTEMPTS = 16


def _version(st: os.stat_result) -> str:
    # Every store writes a new file and renames it into place, so the inode and the
    # modification time in nanoseconds change on every write.
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
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())  # the version of exactly the bytes we read
            return f.read(), _version(st)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _open_temp(folder: str) -> tuple[int, str]:
    """Create a uniquely named temp file in ``folder``, creating the folder if needed.

    A concurrent delete may prune the folder between our makedirs and our open, so
    this retries a bounded number of times.
    """
    for _ in range(_MKDIR_ATTEMPTS):
        temp = os.path.join(folder, f"{TEMP_PREFIX}{uuid.uuid4().hex}.tmp")
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), temp
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
    raise FileNotFoundError(errno.ENOENT, "folder keeps disappearing", folder)


def _write_atomic(path: str, data: bytes) -> str:
    fd, temp = _open_temp(os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            st = os.fstat(f.fileno())
        os.replace(temp, path)  # readers see the old file or the new one, never a part
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    return _version(st)


def _stat_file(path: str) -> ObjectInfo | None:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return _info(st) if not os.path.isdir(path) else None


def _child_folders(folder: str, prefix: str, start_after: str | None) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            names = [
                e.name
                for e in entries
                if not e.name.startswith(TEMP_PREFIX)
                and e.name.startswith(prefix)
                and e.is_dir(follow_symlinks=False)
            ]
    except (FileNotFoundError, NotADirectoryError):
        return []
    names.sort(key=key_order)
    if start_after is not None:
        after = key_order(start_after)
        names = [n for n in names if key_order(n) > after]
    return names


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
        try:
            os.rmdir(folder)
        except OSError:  # not empty (a writer got in first), or already gone
            return
        folder = os.path.dirname(folder)


def _unlink(path: str, root: str) -> bool:
    try:
        os.unlink(path)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return False
    _prune(os.path.dirname(path), root)
    return True


def _unlink_many(paths: Sequence[str], root: str) -> None:
    folders = set()
    for path in paths:
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            pass
        folders.add(os.path.dirname(path))
    # Deepest first, so a parent is tried after its children are gone.
    for folder in sorted(folders, key=len, reverse=True):
        _remove_stale_temps(folder)
        _prune(folder, root)


def _remove_stale_temps(folder: str) -> None:
    cutoff = time.time() - STALE_TEMP_SECONDS
    try:
        with os.scandir(folder) as entries:
            for e in entries:
                if e.name.startswith(TEMP_PREFIX) and e.is_file() and e.stat().st_mtime < cutoff:
                    os.unlink(e.path)
    except FileNotFoundError:
        pass


class LocalDriver(Driver):
    """Files in a local folder. Blocking calls run in anyio's worker threads."""

    name = "file"
    scheme = "file"
    loop_bound = False
    max_segment_bytes = 255

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
        return await anyio.to_thread.run_sync(_read, path)

    async def put(
        self,
        path: str,
        data: bytes,
        content_type: str,
        *,
        if_version: str | None = None,
        if_absent: bool = False,
    ) -> str:
        if if_version is not None or if_absent:
            raise NotImplementedError("conditional writes on local disk")
        return await anyio.to_thread.run_sync(_write_atomic, path, data)

    async def info(self, path: str) -> ObjectInfo | None:
        return await anyio.to_thread.run_sync(_stat_file, path)

    async def iter_children(
        self, folder: str, prefix: str = "", start_after: str | None = None
    ) -> AsyncIterator[list[str]]:
        names = await anyio.to_thread.run_sync(_child_folders, folder, prefix, start_after)
        for i in range(0, len(names), PAGE_SIZE):
            yield names[i : i + PAGE_SIZE]

    async def list_files(self, folder: str) -> list[str]:
        return await anyio.to_thread.run_sync(_walk_files, folder)

    async def list_file_infos(self, folder: str) -> AsyncIterator[list[tuple[str, ObjectInfo]]]:
        found = await anyio.to_thread.run_sync(_walk_infos, folder)
        for i in range(0, len(found), PAGE_SIZE):
            yield found[i : i + PAGE_SIZE]

    async def has_files(self, folder: str) -> bool:
        return await anyio.to_thread.run_sync(_has_files, folder)

    async def delete_file(self, path: str, root: str) -> bool:
        return await anyio.to_thread.run_sync(_unlink, path, root)

    async def delete_files(self, paths: Sequence[str], root: str) -> None:
        await anyio.to_thread.run_sync(_unlink_many, paths, root)
