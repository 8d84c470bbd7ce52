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

All of it shares one deadline, ``exit_timeout`` (30 s, ``SESSION_STORAGE_EXIT_TIMEOUT``;
see :mod:`.exit_budget`), and Ctrl-C ends it; the saves then left unwritten are
counted on stderr and named (the first 20) in an ERROR log.

A process killed by a signal or ended by ``os._exit`` runs no ``atexit`` hook: there,
only a ``flush()`` or ``aclose()`` makes saves durable.

This is the library's one piece of process-wide state; it exists because exiting is.
"""

from __future__ import annotations

import atexit
import logging
import sys
import weakref
from collections.abc import Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

from ..core.errors import BackgroundSaveError
from . import exit_budget
from .loop_thread import LoopThread

__all__ = ["Drainable", "drain_at_exit", "hold", "let_go", "track"]

_log = logging.getLogger(__name__)

_NAMED = 20
"""Unwritten saves an exit report names one by one; the rest are counted."""
_STOP_TIMEOUT = 5.0
"""Seconds the exit loop gets to stop once the drain is over."""


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
    def unwritten(self, limit: int) -> list[str]: ...


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
    wrong is logged, since an error raised in an ``atexit`` hook reaches nobody. Stops
    at the exit deadline or on Ctrl-C (:mod:`.exit_budget`); the saves then left
    unwritten are counted on stderr and named in an ERROR log.
    """
    savers = list(_known)
    runner: LoopThread | None = None
    try:
        for saver in savers:
            _drain_one(saver, runner := runner or LoopThread("session-storage exit", _nothing))
    except KeyboardInterrupt:
        exit_budget.interrupt()
    finally:
        if runner is not None:
            _stop(runner)
    for saver in savers:
        if saver.pending and not saver.loop_running_elsewhere():
            _report_unwritten(saver)
        _report(saver.take_failures(), "failed and no flush reported it")


def _drain_one(saver: Drainable, runner: LoopThread) -> None:
    pending = saver.pending
    if pending and saver.loop_running_elsewhere():
        _log.warning(
            "%d background saves of %s are pending at interpreter exit in an event "
            "loop still running in another thread; they may be lost",
            pending,
            saver.label,
        )
        return
    if not pending or exit_budget.expired():
        return  # nothing to write, or no time left: reported after the others
    _log.warning(
        "writing %d background saves of %s that were still pending at "
        "interpreter exit (flush or close the storage to make this unnecessary)",
        pending,
        saver.label,
    )
    future = runner.submit(saver.drain())
    try:
        future.result(exit_budget.remaining())
    except BackgroundSaveError as exc:
        _report(exc.failures, "failed at interpreter exit")
    except (TimeoutError, FutureTimeout):  # distinct classes before Python 3.11
        future.cancel()  # the rest stays pending and is reported
    except KeyboardInterrupt:
        future.cancel()
        raise
    except Exception:  # noqa: BLE001 - at exit: log it and go on with the next
        _log.exception("writing the background saves of %s at exit failed", saver.label)
    else:
        let_go(saver)


def _stop(runner: LoopThread) -> None:
    """Stop the exit loop: writes still running are cancelled and stay pending."""
    try:
        runner.close(_STOP_TIMEOUT)
    except KeyboardInterrupt:
        exit_budget.interrupt()
    except Exception:  # noqa: BLE001, S110 - a timed-out final no-op: nothing to report
        pass


def _report_unwritten(saver: Drainable) -> None:
    count = saver.pending
    reason = exit_budget.reason()
    # Printed as well as logged: the count must reach a person even when logging goes
    # elsewhere (or nowhere) at exit.
    print(
        f"session-storage: {count} background saves of {saver.label} were not written "
        f"at interpreter exit: {reason}",
        file=sys.stderr,
        flush=True,
    )
    named = saver.unwritten(_NAMED)
    more = f", and {count - len(named)} more" if count > len(named) else ""
    _log.error(
        "%d background saves of %s not written at interpreter exit (%s): %s%s",
        count,
        saver.label,
        reason,
        "; ".join(named),
        more,
    )


def _report(failures: tuple[Exception, ...] | list[Exception], what: str) -> None:
    for failure in failures:
        _log.error("background save %s: %s", what, failure)


async def _nothing() -> None:
    return None


def _at_exit() -> None:
    # The clock starts with the first exit hook (a loop thread's, if one is open); a
    # direct call of drain_at_exit (a test's) leaves it alone and gets the whole budget.
    exit_budget.begin()
    drain_at_exit()


atexit.register(_at_exit)
