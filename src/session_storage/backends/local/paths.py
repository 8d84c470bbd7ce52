"""Where the local driver may read, write and delete: one store root and what is its own.

Three rules keep local disk as safe as a bucket:

- **The root is resolved once.** Its real path (``os.path.realpath``, so a root that is
  itself a link, such as ``/tmp`` on some systems, is fine) is taken on first use, and
  every path below it is used through that real path. No folder *below* the root may be
  a symbolic link: each one is checked with ``lstat`` before use, and the last
  component is opened with ``O_NOFOLLOW`` (or handled by calls that never follow it:
  ``rename``, ``link``, ``unlink``). The library never creates links, so any link below
  the root is foreign and refused (:class:`UnsafePath`), whether it points outside or
  not. What remains is a window of a few system calls between the ``lstat`` walk and
  the call that uses the path, in which someone who can write inside the root could
  swap a folder for a link. Durable writes close it for the file's own folder (they
  open it once, refusing a link, and create the temp file relative to it); closing it
  for every folder on the way would need ``openat``-style walking for every call,
  which this module does not do. The threat it
  answers is a link left in the root by mistake or by another program, not a hostile
  local user racing the library.
- **The root is marked.** The first write to a store root creates the marker file
  :data:`MARKER_NAME` holding ``{"format": 1, ...}``. A root without a marker (in it or
  in a folder above it: a root below a marked store is part of that store, like a
  narrowed storage) is foreign: nothing is ever deleted there (:class:`ForeignFolder`).
  Stores written before the marker existed are adopted on their next write, when every
  entry of the root is something this library writes (see :func:`adoptable`).
- **Only own files are touched.** A file is the library's own when every segment of
  its path below the root is an encoded key (:func:`is_own_name`); listings show only
  those, and deletes remove only those. A session folder holding anything else stays.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from datetime import datetime, timezone

import orjson

from ...concurrency import fork
from ...core.keys import decode_segment
from .locking import LOCK_NAME

__all__ = [
    "MARKER_FORMAT",
    "MARKER_NAME",
    "ForeignFolder",
    "LocalRoot",
    "NameClash",
    "UnsafePath",
    "adoptable",
    "folder_entries",
    "is_leftover_name",
    "is_own_name",
]

MARKER_NAME = ".session-storage"
"""The marker file at the root of every local store this library created or adopted."""
MARKER_FORMAT = 1
TEMP_PREFIX = "."
"""Temp files and folders start with a dot; encoded keys never do."""
TEMP_SUFFIX = ".tmp"
STAGE_SUFFIX = ".stage"
"""A new folder is built under this kind of hidden name, then renamed into place."""
TRASH_SUFFIX = ".trash"
"""A folder being deleted is first renamed to this kind of hidden name."""


class UnsafePath(PermissionError):
    """A path below the root is a symbolic link or not a regular file or folder."""


class ForeignFolder(PermissionError):
    """A delete in a folder that this library did not create as a store."""


class NameClash(OSError):
    """A file stands where a folder is needed, or a folder where a file is."""


def is_own_name(name: str) -> bool:
    """Whether ``name`` is a path segment this library writes (an encoded key)."""
    return decode_segment(name) is not None


def is_leftover_name(name: str) -> bool:
    """Whether ``name`` is a hidden file or folder this library writes for itself."""
    return name == LOCK_NAME or (
        name.startswith(TEMP_PREFIX) and name.endswith((TEMP_SUFFIX, STAGE_SUFFIX, TRASH_SUFFIX))
    )


def folder_entries(folder: str) -> list[os.DirEntry[str]] | None:
    """The entries of ``folder``; None if it is missing (or not a folder)."""
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return None


def adoptable(root: str) -> bool:
    """Whether an unmarked ``root`` holds only what this library writes.

    The rule for stores written before the marker existed: every entry directly in the
    root is a folder with an encoded name (sessions and narrowed roots; the library
    never writes files directly in a root) or a hidden file of the library's own (the
    lock, temp files), and every entry below is an encoded name, a folder lock or a temp
    file; no symbolic link, FIFO or other special file anywhere. A project folder
    (``src/``, ``README.md``, ``.git``) fails at its first loose file or dot-folder.
    """
    stack = [(root, True)]
    while stack:
        folder, at_root = stack.pop()
        for entry in folder_entries(folder) or ():
            name = entry.name
            if entry.is_symlink():
                return False
            if is_leftover_name(name):
                continue
            if not is_own_name(name):
                return False
            if entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, False))
            elif at_root or not entry.is_file(follow_symlinks=False):
                return False
    return True


class LocalRoot:
    """The root of one local store: its real path, its marker, and path checks."""

    def __init__(self, path: str) -> None:
        self.path = path.rstrip("/") or "/"
        self._real: str | None = None
        self._owned = False
        self._adoption_tried = False
        # Writes run on worker threads: the first one marks the root while the others
        # wait, so none finishes (and lets a delete look for the marker) before it is
        # there.
        self._marking = threading.Lock()
        fork.track(self)

    @property
    def real(self) -> str:
        """The root's real path, resolved on first use and then kept."""
        if self._real is None:
            self._real = os.path.realpath(self.path)
        return self._real

    def to_real(self, path: str) -> str:
        """The real path of ``path`` (a path at or below the root as the caller knows it)."""
        if path == self.path:
            return self.real
        head = self.path if self.path != "/" else ""
        if not path.startswith(head + "/"):
            raise UnsafePath(errno.EXDEV, "path is outside the storage root", path)
        real = self.real if self.real != "/" else ""
        return real + path[len(head) :]

    def to_given(self, real_path: str) -> str:
        """The inverse of :meth:`to_real`, for paths a listing returns."""
        real = self.real if self.real != "/" else ""
        head = self.path if self.path != "/" else ""
        return head + real_path[len(real) :]

    def check(self, real_path: str, *, last: bool) -> None:
        """Refuse ``real_path`` if a folder below the root on its way is a link.

        ``last`` includes the final component (for folders that will be read); for a
        file the final component is left to the caller's ``O_NOFOLLOW`` open, or to
        calls that never follow it. A missing component ends the walk: nothing below
        it exists to be followed. A file where a folder is needed ends it too; the
        call then fails or finds nothing, as it would for a missing folder.
        """
        real = self.real
        if real_path == real:
            return
        relative = real_path[len(real.rstrip("/")) + 1 :]
        parts = relative.split("/")
        if not last:
            parts = parts[:-1]
        current = real.rstrip("/")
        for part in parts:
            current = f"{current}/{part}"
            try:
                st = os.lstat(current)
            except (FileNotFoundError, NotADirectoryError):
                return
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePath(
                    errno.ELOOP,
                    "a symbolic link below the storage root is never followed",
                    current,
                )
            if not stat.S_ISDIR(st.st_mode):
                return

    # -- the marker ------------------------------------------------------------------

    def _marker_above(self) -> bool:
        """Whether the root, or a folder above it, holds the marker file."""
        folder = self.real
        while True:
            if os.path.isfile(os.path.join(folder, MARKER_NAME)):
                return True
            parent = os.path.dirname(folder)
            if parent == folder:
                return False
            folder = parent

    def is_owned(self) -> bool:
        """Whether this library may delete here: the root (or a folder above) is marked.

        A positive answer is kept; a negative one is asked again next time (another
        process may have marked the root meanwhile).
        """
        if not self._owned:
            self._owned = self._marker_above()
        return self._owned

    def require_owned(self) -> bool:
        """Raise :class:`ForeignFolder` unless deletes are allowed here.

        Returns False, for "nothing to delete", when the root does not exist.
        """
        if self.is_owned():
            return True
        if not os.path.isdir(self.real):
            return False
        raise ForeignFolder(
            errno.EPERM,
            f"refusing to delete in a folder that is not a session-storage store "
            f"(no {MARKER_NAME} marker file in it or above it; the library writes one "
            f"on the first write to an empty or library-made folder)",
            self.real,
        )

    def mark_on_write(self, fsync: bool) -> None:
        """Before a write: make sure an empty, new or library-made root is marked.

        Tried once per root and process: a foreign folder stays unmarked (writes still
        work there; deletes are refused).
        """
        if self._owned:
            return
        if os.path.lexists(self.real) and not os.path.isdir(self.real):
            raise NotADirectoryError(
                errno.ENOTDIR, "the storage root is a file, not a folder", self.real
            )
        with self._marking:
            if self._adoption_tried:
                return
            try:
                if self.is_owned():
                    return
                os.makedirs(self.real, exist_ok=True)
                if not adoptable(self.real):
                    return
                self._write_marker(fsync)
                self._owned = True
            finally:
                self._adoption_tried = True

    def after_fork_in_child(self) -> None:
        """In a forked child: a thread of the parent may have held the marking lock."""
        self._marking = threading.Lock()

    def _write_marker(self, fsync: bool) -> None:
        body = orjson.dumps(
            {
                "format": MARKER_FORMAT,
                "library": "session-storage",
                "created": datetime.now(timezone.utc).isoformat(),
            }
        )
        temp = os.path.join(self.real, f"{TEMP_PREFIX}{os.urandom(8).hex()}{TEMP_SUFFIX}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            os.write(fd, body)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        marker = os.path.join(self.real, MARKER_NAME)
        try:
            os.link(temp, marker)  # create-only
        except FileExistsError:
            pass  # another process marked it first
        except OSError:  # no hard links here: every marker says the same
            os.replace(temp, marker)
            return
        os.unlink(temp)
