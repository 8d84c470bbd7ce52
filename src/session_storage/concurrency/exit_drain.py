"""Background saves at interpreter exit: write what is pending, report what failed.

Every :class:`~session_storage.concurrency.background.BackgroundSaver` that accepted a save is
known here (weakly: this never keeps a storage alive on its own), and a saver whose
event loop ended with saves still pending (``asyncio.run`` returned without a flush)
is *held*, so that it cannot be garbage collected before they are written.

The ``atexit`` hook is registered when this module is imported, before any
``SyncSessionStorage`` starts its loop thread; hooks run last-registered first, so the
loop threads have closed (and flushed) by the time it runs. Then, for each saver:

- saves still pending are written on a fresh private event loop (whose worker threads
  still run at exit, see :mod:`session_storage.concurrency.workers`), with a warning naming how
  many; the connections opened for them are released afterwards;
- every failed save that no ``flush()`` reported is logged at ERROR, naming its session
  and file (the error's message does);
- saves pending in an event loop that still runs in another thread cannot be written
  from here: a warning names how many may be lost.

A process killed by a signal or ended by ``os._exit`` runs no ``atexit`` hook: there,
only a ``flush()`` or ``aclose()`` makes saves durable.

This is the library's one piece of process-wide state; it exists because exiting is.
"""

from __future__ import annotations

import atexit
import logging
import weakref
from collections.abc import Coroutine
from typing import Any, Protocol

from ..core.errors import BackgroundSaveError
from .loop_thread import LoopThread

__all__ = ["Drainable", "drain_at_exit", "hold", "let_go", "track"]

_log = logging.getLogger(__name__)


class Drainable(Protocol):
    """What the exit hook needs of a background saver (:class:`.background.BackgroundSaver`).

    A protocol here, so that this module need not import the saver that calls it.
    """

    @property
    def label(self) -> str: ...
    @property
    def pending(self) -> int: ...
    def loop_running_elsewhere(self) -> bool: ...
    def drain(self) -> Coroutine[Any, Any, None]: ...
    def take_failures(self) -> tuple[Exception, ...] | list[Exception]: ...


_known: weakref.WeakSet[Drainable] = weakref.WeakSet()
_held: set[Drainable] = set()


def track(saver: Drainable) -> None:
    """Remember ``saver`` for the exit hook, without keeping it alive."""
    _known.add(saver)


def hold(saver: Drainable) -> None:
    """Keep ``saver`` alive until its pending saves are written, at the latest at exit."""
    _held.add(saver)


def let_go(saver: Drainable) -> None:
    """``saver`` has nothing left pending: garbage collection may take it again."""
    _held.discard(saver)


def drain_at_exit() -> None:
    """Write every pending background save and report every unreported failure.

    Runs at interpreter exit; callable directly (tests do). Never raises: whatever goes
    wrong is logged, since an error raised in an ``atexit`` hook reaches nobody.
    """
    savers = list(_known)
    runner: LoopThread | None = None
    try:
        for saver in savers:
            pending = saver.pending
            if pending and saver.loop_running_elsewhere():
                _log.warning(
                    "%d background saves of %s are pending at interpreter exit in an event "
                    "loop still running in another thread; they may be lost",
                    pending,
                    saver.label,
                )
            elif pending:
                _log.warning(
                    "writing %d background saves of %s that were still pending at "
                    "interpreter exit (flush or close the storage to make this unnecessary)",
                    pending,
                    saver.label,
                )
                if runner is None:
                    runner = LoopThread("session-storage exit", _nothing)
                try:
                    runner.call(saver.drain())
                except BackgroundSaveError as exc:
                    _report(exc.failures, "failed at interpreter exit")
                    continue
                except Exception:  # noqa: BLE001 - at exit: log it and go on with the next
                    _log.exception("writing the background saves of %s at exit failed", saver.label)
                    continue
            _report(saver.take_failures(), "failed and no flush reported it")
            let_go(saver)
    finally:
        if runner is not None:
            runner.close()


def _report(failures: tuple[Exception, ...] | list[Exception], what: str) -> None:
    for failure in failures:
        _log.error("background save %s: %s", what, failure)


async def _nothing() -> None:
    return None


atexit.register(drain_at_exit)
