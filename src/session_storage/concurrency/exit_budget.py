"""The one deadline of everything the library does at interpreter exit.

Closing the blocking storages left open and writing the background saves still
pending (:mod:`session_storage.concurrency.loop_thread`,
:mod:`session_storage.concurrency.exit_drain`) share one budget: ``exit_timeout``
seconds, 30 by default, counted from the first exit hook of the library that runs.
With a backend that stopped answering, exit once took as long as every pending write's
own deadline in turn (160 saves, ``timeout=2``: 41 s); now it ends by the deadline and
what was not written is reported. Ctrl-C (SIGINT) while the hooks run ends them too.

The setting is process-wide, since exit is: ``SESSION_STORAGE_EXIT_TIMEOUT`` (seconds,
or ``none`` for no deadline), read when the process exits, unless
:func:`set_exit_timeout` was called.
"""

from __future__ import annotations

import logging
import math
import os
import time

__all__ = [
    "DEFAULT_EXIT_TIMEOUT",
    "ENV_VAR",
    "begin",
    "exit_timeout",
    "expired",
    "interrupt",
    "interrupted",
    "reason",
    "remaining",
    "set_exit_timeout",
    "started",
]

DEFAULT_EXIT_TIMEOUT = 30.0
"""Seconds the exit hooks may spend writing pending saves, unless configured."""
ENV_VAR = "SESSION_STORAGE_EXIT_TIMEOUT"

_log = logging.getLogger(__name__)
_UNSET = -1.0

_configured: float | None = _UNSET
_started: float | None = None  # time.monotonic() when the first exit hook began
_interrupted = False


def _check(value: object, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number of seconds or None, got {value!r}")
    if not value >= 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number >= 0 seconds, got {value!r}")
    return float(value)


def set_exit_timeout(seconds: float | None) -> None:
    """Give the exit hooks ``seconds`` in all (``None``: no deadline; 0: write nothing,
    only report). Overrides ``SESSION_STORAGE_EXIT_TIMEOUT``; ValueError if negative."""
    global _configured
    _configured = _check(seconds, "exit_timeout")


def exit_timeout() -> float | None:
    """The exit deadline in seconds: as set, else from the environment, else 30.

    An unusable ``SESSION_STORAGE_EXIT_TIMEOUT`` is logged at ERROR and the default
    used: it is read at exit, where raising would reach nobody.
    """
    if _configured != _UNSET:
        return _configured
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_EXIT_TIMEOUT
    if raw.lower() in ("none", "off", "never"):
        return None
    try:
        return _check(float(raw), ENV_VAR)
    except ValueError:
        _log.error(
            "%s=%r is not a number of seconds or 'none'; using %s s",
            ENV_VAR,
            raw,
            DEFAULT_EXIT_TIMEOUT,
        )
        return DEFAULT_EXIT_TIMEOUT


def begin() -> None:
    """Start the clock (the first call only): an exit hook has begun."""
    global _started
    if _started is None:
        _started = time.monotonic()


def started() -> bool:
    """Whether the exit hooks have begun."""
    return _started is not None


def remaining() -> float | None:
    """Seconds left (``None``: no deadline); 0 once interrupted."""
    if _interrupted:
        return 0.0
    limit = exit_timeout()
    if limit is None:
        return None
    spent = 0.0 if _started is None else time.monotonic() - _started
    return max(0.0, limit - spent)


def expired() -> bool:
    """Whether the deadline has passed or Ctrl-C ended the exit work."""
    left = remaining()
    return left is not None and left <= 0


def interrupt() -> None:
    """Ctrl-C arrived during the exit work: write nothing more, only report."""
    global _interrupted
    _interrupted = True


def interrupted() -> bool:
    return _interrupted


def reason() -> str:
    """Why exit work stopped early, for reports."""
    if _interrupted:
        return "interrupted (Ctrl-C)"
    return f"the exit deadline ({exit_timeout():g} s, {ENV_VAR}) passed"
