"""Small reads on the caller's own thread, when the kernel answers from memory.

A worker-thread hop costs about 70 us on a 2-core machine (two wake-ups across
threads); reading a small file that the page cache holds costs about 10 us. So a
load first tries its read where it was called, on the event loop's thread, and asks
the kernel not to wait: ``preadv`` with ``RWF_NOWAIT`` fails with EAGAIN instead of
going to the disk. Whatever might wait goes to a worker thread as before:

- data not (or only partly) in the page cache, or a file above :data:`INLINE_LIMIT`;
- a file system not known to be a local disk or memory: a network or FUSE mount
  answers ``open`` over the wire, which no flag makes non-blocking;
- a file system that refuses ``RWF_NOWAIT`` (EOPNOTSUPP): the store stops trying;
- after a read on the thread took longer than :data:`SLOW_NS` (looking up a name the
  kernel had forgotten went to the disk; the host was busy): the store reads in
  worker threads for :data:`PAUSE_S` seconds.

The checks are those of :func:`~.read.read_file` (no link followed, only regular
files, the version of exactly the bytes read); only where the bytes come from differs.
"""

from __future__ import annotations

import enum
import errno
import functools
import os
import stat
import time
from typing import Final

from .paths import LocalRoot
from .read import open_for_read, refuse_special, version_token

__all__ = [
    "INLINE_LIMIT",
    "PAUSE_S",
    "SLOW_NS",
    "WOULD_BLOCK",
    "InlineReads",
    "WouldBlock",
    "filesystem_type",
]

INLINE_LIMIT: Final = 256 * 1024
"""Larger files are read in a worker thread: copying them would hold the loop about as
long as a hop costs."""

SLOW_NS: Final = 1_000_000
"""An inline read that took longer than this (1 ms) pauses inline reads."""

PAUSE_S: Final = 30.0


class WouldBlock(enum.Enum):
    """What :meth:`InlineReads.read` returns when the read must go to a worker thread."""

    WOULD_BLOCK = "would block"


WOULD_BLOCK: Final = WouldBlock.WOULD_BLOCK
Loaded = tuple[bytes, str | None] | None

_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)

# Block-device file systems whose reads of cached pages never wait for a device, and
# that the kernel may let ``RWF_NOWAIT`` through to (EOPNOTSUPP turns the store off).
_DISK_TYPES = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "zfs", "bcachefs", "jfs", "overlay"}
)
# Memory file systems hold every page in memory: a plain read never waits for a device
# (swap aside, which the slow-read pause covers). tmpfs refuses RWF_NOWAIT.
_MEMORY_TYPES = frozenset({"tmpfs", "ramfs"})


def _unescape(field: str) -> str:
    r"""A mountinfo field with its octal escapes (``\040`` for a space) decoded."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def filesystem_type(path: str, mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The type (``ext4``, ``nfs4``, ``tmpfs``...) of the mount holding ``path``.

    The mount whose mount point is the longest prefix of ``path`` (the last one listed,
    when mounts are stacked on one point). None where the kernel lists no mounts (not
    Linux, no /proc).
    """
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    best, kind = -1, None
    for line in lines:
        head, sep, tail = line.partition(" - ")
        fields = head.split(" ")
        if not sep or len(fields) < 5:
            continue
        point = _unescape(fields[4]).rstrip("/")
        if (path == point or path.startswith(point + "/")) and len(point) >= best:
            best, kind = len(point), tail.split(" ", 1)[0]
    return kind


@functools.lru_cache(maxsize=64)
def _cached_type(path: str) -> str | None:
    # Once per root and process: a storage made per request must not parse the mount
    # table (hundreds of lines on a busy host) every time. A mount made later over the
    # same path keeps the old answer; the slow-read pause covers that rare case.
    return filesystem_type(path)


class InlineReads:
    """Whether, and how, one local store reads small files on the caller's thread.

    The mode is settled on first use from the type of the root's file system: read
    with ``RWF_NOWAIT`` (disks), read plainly (memory) or never (anything else).
    """

    def __init__(self, root: LocalRoot) -> None:
        self._root = root
        self._mode: str | None = None  # "nowait", "memory" or "off"; None: not settled
        self._resume_at = 0.0

    def _settle(self) -> str:
        if _NOWAIT is None or not hasattr(os, "preadv"):  # not Linux
            return "off"
        kind = _cached_type(self._root.real)
        if kind in _DISK_TYPES:
            return "nowait"
        return "memory" if kind in _MEMORY_TYPES else "off"

    def read(self, path: str) -> Loaded | WouldBlock:
        """What :func:`~.read.read_file` gives, or :data:`WOULD_BLOCK`."""
        mode = self._mode
        if mode is None:
            mode = self._mode = self._settle()
        if mode == "off" or (self._resume_at and time.monotonic() < self._resume_at):
            return WOULD_BLOCK
        start = time.perf_counter_ns()
        try:
            return self._read(path, mode)
        finally:
            if time.perf_counter_ns() - start > SLOW_NS:
                self._resume_at = time.monotonic() + PAUSE_S

    def _read(self, path: str, mode: str) -> Loaded | WouldBlock:
        opened = open_for_read(self._root, path)
        if opened is None:
            return None
        fd, real = opened
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                return None
            refuse_special(st, real)
            if st.st_size > INLINE_LIMIT:
                return WOULD_BLOCK
            buffer = bytearray(st.st_size + 1)
            try:
                flags = _NOWAIT if mode == "nowait" and _NOWAIT is not None else 0
                got = os.preadv(fd, [buffer], 0, flags)
            except OSError as exc:
                if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):
                    self._mode = "off"  # this file system never answers without waiting
                elif exc.errno != errno.EAGAIN:
                    raise
                return WOULD_BLOCK
            if got != st.st_size:
                # Partly cached (a short read), or being appended to in place: the
                # worker thread reads it to its end.
                return WOULD_BLOCK
            del buffer[got:]
            return bytes(buffer), version_token(st)
        finally:
            os.close(fd)
