"""Descriptors that carry an ``flock``, and what a forked child does with its copies.

An ``flock`` belongs to an open file description, which ``fork`` shares: the child's
copy of a descriptor keeps the lock held until the child closes it too. A lock that a
thread of the parent held when the process forked (a folder lock for a few system
calls, a temp file's for a whole write) would then stay held after that thread let go
of it, for as long as the child lives, and every writer of that folder would wait for
the child to exit. No thread of the child could ever release it (the holder was the
parent's), so a forked child closes its copies at once.

Every such descriptor is opened and closed here, under a lock that a fork waits for:
no descriptor is ever open but unlisted at the moment a process forks.
"""

from __future__ import annotations

import os
import threading

__all__ = ["close", "open_held"]

_guard = threading.Lock()
_open: set[int] = set()


def open_held(path: str, flags: int, mode: int = 0o644, *, dir_fd: int | None = None) -> int:
    """``os.open``, for a descriptor that will carry an ``flock``; close with :func:`close`."""
    with _guard:
        fd = os.open(path, flags, mode, dir_fd=dir_fd)
        _open.add(fd)
    return fd


def close(fd: int) -> None:
    """Close a descriptor from :func:`open_held` (which releases its ``flock``)."""
    with _guard:
        _open.discard(fd)
        os.close(fd)


def _after_fork_in_child() -> None:
    for fd in _open:
        try:
            os.close(fd)  # the child's copy only: the parent's holder still has its own
        except OSError:
            pass
    _open.clear()
    _guard.release()


if hasattr(os, "register_at_fork"):  # Windows has neither fork nor flock
    os.register_at_fork(
        before=_guard.acquire,
        after_in_parent=_guard.release,
        after_in_child=_after_fork_in_child,
    )
