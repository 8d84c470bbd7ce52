"""Reading and listing on local disk: never through a link, never a file that is not regular.

Every call takes the store's :class:`~.paths.LocalRoot`, turns the given path
into the real one and checks it (no symbolic link below the root) before touching it.
Files are opened with ``O_NOFOLLOW`` and ``O_NONBLOCK`` and checked with ``fstat``, so
a link put in place meanwhile is refused and a FIFO never blocks a reader.

Listings show only the library's own names (:func:`~.paths.is_own_name`): temp
files, staging folders, locks and other programs' files stay invisible.

Version tokens are ``mtime_ns-inode-size`` of a file (see :mod:`.write` for why
they never repeat for a path).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from datetime import datetime, timezone

from ..base import ChildPage, ObjectInfo, key_order
from .paths import TEMP_PREFIX, LocalRoot, UnsafePath, is_own_name

__all__ = [
    "NOFOLLOW",
    "child_folders",
    "file_info",
    "has_files",
    "open_for_read",
    "own_entries",
    "read_file",
    "read_files",
    "read_folder",
    "refuse_special",
    "stat_file",
    "stat_or_none",
    "version_token",
    "walk_files",
    "walk_infos",
]

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# O_NONBLOCK: opening a FIFO for reading would wait for a writer forever.
_READ_FLAGS = os.O_RDONLY | NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def version_token(st: os.stat_result) -> str:
    """The version token of the file ``st`` describes."""
    return f"{st.st_mtime_ns:x}-{st.st_ino:x}-{st.st_size:x}"


def file_info(st: os.stat_result) -> ObjectInfo:
    """Size, times and version of the file ``st`` describes."""
    birth = getattr(st, "st_birthtime", None)  # absent on Linux before Python 3.12
    return ObjectInfo(
        size=st.st_size,
        modified=datetime.fromtimestamp(st.st_mtime, timezone.utc),
        created=datetime.fromtimestamp(birth, timezone.utc) if birth is not None else None,
        version=version_token(st),
    )


def refuse_special(st: os.stat_result, path: str) -> None:
    """Raise UnsafePath for a link or a file that is not regular (FIFO, socket, device)."""
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(
            errno.ELOOP, "a symbolic link below the storage root is never followed", path
        )
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath(
            errno.EINVAL, "not a regular file (a FIFO, socket or device): refused", path
        )


def open_for_read(root: LocalRoot, path: str) -> tuple[int, str] | None:
    """A read-only descriptor of the file at ``path``, and its real path.

    None if the file or its folder is missing. Raises UnsafePath for a link on the way
    or in its place (a FIFO opens without blocking and is refused by the caller's
    ``fstat`` check).
    """
    real = root.to_real(path)
    root.check(real, last=False)
    try:
        return os.open(real, _READ_FLAGS), real
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link
            raise UnsafePath(
                exc.errno, "a symbolic link below the storage root is never followed", real
            ) from None
        raise


def read_file(root: LocalRoot, path: str) -> tuple[bytes, str | None] | None:
    """The bytes and version of a file; None if it or its folder is missing, or a folder."""
    opened = open_for_read(root, path)
    if opened is None:
        return None
    # os-level calls: no Python file object, one read for a file of known size.
    fd, real = opened
    try:
        st = os.fstat(fd)  # the version of exactly the bytes we read
        if stat.S_ISDIR(st.st_mode):
            return None
        refuse_special(st, real)
        data = os.read(fd, st.st_size + 1)
        if len(data) > st.st_size:  # someone is appending in place: read to the end
            chunks = [data]
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            data = b"".join(chunks)
        return data, version_token(st)
    finally:
        os.close(fd)


def read_files(root: LocalRoot, paths: list[str]) -> list[tuple[bytes, str | None] | None]:
    """:func:`read_file` of each of ``paths``, in one go (one worker-thread hop)."""
    return [read_file(root, path) for path in paths]


def read_folder(root: LocalRoot, folder: str) -> dict[str, tuple[bytes, str | None]]:
    """Every own regular file directly in ``folder``, by given path (what
    :func:`read_file` gives for each); a file gone meanwhile is left out."""
    real = root.to_real(folder)
    root.check(real, last=True)
    found: dict[str, tuple[bytes, str | None]] = {}
    try:
        with os.scandir(real) as entries:
            names = [
                e.name for e in entries if is_own_name(e.name) and e.is_file(follow_symlinks=False)
            ]
    except (FileNotFoundError, NotADirectoryError):
        return found
    for name in names:
        path = f"{folder}/{name}"
        got = read_file(root, path)
        if got is not None:
            found[path] = got
    return found


def stat_or_none(path: str) -> os.stat_result | None:
    """The ``lstat`` of ``path`` (a link is not followed), or None if it is missing."""
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def stat_file(root: LocalRoot, path: str) -> ObjectInfo | None:
    """What :func:`file_info` says of a file; None if it is missing or a folder."""
    real = root.to_real(path)
    root.check(real, last=False)
    st = stat_or_none(real)
    if st is None or stat.S_ISDIR(st.st_mode):
        return None
    refuse_special(st, real)
    return file_info(st)


def child_folders(root: LocalRoot, folder: str, page: ChildPage) -> list[str]:
    """Folder names under ``folder`` in key order, each followed by ``/``; ``[]`` if
    the folder is missing.

    The directory is read incrementally and only matching names are kept; with a
    ``limit`` only that many (a heap), so a small page of a huge folder stays small.
    The names keep their ``/`` so that one list serves as its own sort key. Links to
    folders are not folders here: they are never followed.
    """
    real = root.to_real(folder)
    root.check(real, last=True)
    try:
        with os.scandir(real) as entries:
            return page.first(_matching_keys(entries, page.prefix, page.after_key))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _matching_keys(entries: Iterator[os.DirEntry[str]], prefix: str, after: str) -> Iterator[str]:
    for e in entries:
        name = e.name
        if name.startswith(prefix) and not name.startswith(TEMP_PREFIX):
            key = key_order(name)
            if key > after and e.is_dir(follow_symlinks=False):
                yield key


def own_entries(folder: str) -> Iterator[os.DirEntry[str]]:
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


def walk_files(root: LocalRoot, folder: str) -> list[str]:
    """Given paths of every own file below ``folder``; none for a missing folder."""
    real = root.to_real(folder)
    root.check(real, last=True)
    return [root.to_given(e.path) for e in own_entries(real)]


def walk_infos(root: LocalRoot, folder: str) -> list[tuple[str, ObjectInfo]]:
    """``(path, info)`` of every own file below ``folder``; a file gone meanwhile is left out."""
    real = root.to_real(folder)
    root.check(real, last=True)
    out: list[tuple[str, ObjectInfo]] = []
    for entry in own_entries(real):
        try:
            out.append((root.to_given(entry.path), file_info(entry.stat(follow_symlinks=False))))
        except FileNotFoundError:
            continue
    return out


def has_files(root: LocalRoot, folder: str) -> bool:
    """Whether any own file lives below ``folder``."""
    real = root.to_real(folder)
    root.check(real, last=True)
    return next(own_entries(real), None) is not None
