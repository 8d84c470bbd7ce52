"""obstore and ``fork``: a clear error instead of requests that never finish.

obstore runs every request on a tokio runtime of its own, whose worker threads start
with the process's first request and live for good. ``fork`` copies only the calling
thread, so a child forked after that inherits a runtime with no threads: every
request it sends, sync or async and through any store, old or new, waits forever
(tokio documents that ``fork`` is not supported once a runtime has started; obstore
is not fork-safe). Nothing in the child can start a new runtime, so an obstore
storage there cannot work; a child forked from a process whose obstore runtime never
started works normally.

The library knows when its own requests started the runtime (obstore used directly
by other code is not seen), and refuses every obstore call in a process forked after
that, at once, naming the cause and the fixes.
"""

from __future__ import annotations

import os

from ...core.errors import NotSupportedError

__all__ = ["check", "starting"]


class _Runtime:
    """The process whose request through this library started obstore's runtime."""

    pid: int | None = None


_RUNTIME = _Runtime()


def starting() -> None:
    """Before each request: note the process in which obstore's runtime runs."""
    if _RUNTIME.pid is None:
        _RUNTIME.pid = os.getpid()


def check(backend: str, url: str) -> None:
    """Raise NotSupportedError if this process was forked after obstore's runtime
    started in its parent (or an earlier ancestor)."""
    started = _RUNTIME.pid
    if started is None or started == os.getpid():
        return
    raise NotSupportedError(
        f"{backend}: the obstore engine cannot work in this process ({url}): it was "
        f"forked from process {started} after obstore's runtime (tokio) had started "
        "there, and that runtime does not survive fork (its threads stay in the parent, "
        "so every request here would wait forever). Start worker processes with "
        'multiprocessing\'s "spawn" or "forkserver" start method, or make no obstore '
        'request in the parent before forking, or use engine="fsspec", which works '
        "in forked children",
        backend=backend,
        url=url,
    )
