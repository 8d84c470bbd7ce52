"""Descriptors that carry an ``flock``, and what a forked child does with its copies.

An ``flock`` belongs to an open file description, which ``fork`` shares: the child's
copy of a descriptor keeps the lock held until the child closes it too. A lock that a
thread of the parent held when the process forked (a folder lock for a few system
calls, a temp file's for a whole write) would then stay held after that thread let go
of it, for as long as the child lives, and every writer of that folder would wait for
the child to exit. No thread of the child could ever release it (the holder was the
parent's), so a forked child closes its copies at once.

Every such descriptor is opened and closed here, and a fork waits for the opens under
way: no descriptor is ever open but unlisted at the moment a process forks. Opens run
side by side (creating a temp file may wait for the disk's journal: serializing them
would serialize every write of the process); only the bookkeeping is under the lock.
"""

from __future__ import annotations

import os
import threading

__all__ = ["close", "open_held"]

_state = threading.Condition(threading.Lock())
_open: set[int] = set()
_opening = 0
"""Opens under way, not yet listed in ``_open``."""
_forking = False
"""A fork waits for the opens under way; new ones wait for the fork."""


def open_held(path: str, flags: int, mode: int = 0o644, *, dir_fd: int | None = None) -> int:
    """``os.open``, for a descriptor that will carry an ``flock``; close with :func:`close`."""
    global _opening
    with _state:
        while _forking:
            _state.wait()
        _opening += 1
    fd = -1
    try:
        fd = os.open(path, flags, mode, dir_fd=dir_fd)
    finally:
        with _state:
            if fd >= 0:
                _open.add(fd)
            _opening -= 1
            _state.notify_all()
    return fd


def close(fd: int) -> None:
    """Close a descriptor from :func:`open_held` (which releases its ``flock``).

    Under the lock: a fork between forgetting and closing it would leave the child a
    copy nobody closes.
    """
    with _state:
        _open.discard(fd)
        os.close(fd)


def _before_fork() -> None:
    global _forking
    _state.acquire()
    _forking = True
    while _opening:
        _state.wait()  # lets the opens under way list what they opened


def _after_fork_in_parent() -> None:
    global _forking
    _forking = False
    _state.notify_all()
    _state.release()


def _after_fork_in_child() -> None:
    global _forking, _state
    for fd in _open:
        try:
            os.close(fd)  # the child's copy only: the parent's holder still has its own
        except OSError:
            pass
    _open.clear()
    _forking = False
    # A fresh lock: the parent's threads that waited on the old one do not exist here.
    _state = threading.Condition(threading.Lock())


if hasattr(os, "register_at_fork"):  # Windows has neither fork nor flock
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
