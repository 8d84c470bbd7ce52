"""Per-operation deadlines: how long one library call may wait for its backend.

Cloud clients retry on their own, each with its own socket timeouts and backoff: an
S3 endpoint that accepts connections and never answers kept a call waiting 170 s, an
Azure client on a closed port 88 s. A deadline bounds one library operation (a load,
a store, one page of a listing, an append) as a whole, the client's retries
included; when it passes, the operation is cancelled and raises
:class:`~session_storage.core.errors.StorageTimeoutError`.

The default, 30 s, is far above what a healthy request of a small state costs (a few
ms to a few hundred ms) and above a few client retries after a dropped connection,
yet short enough that a hung endpoint is reported while a caller still waits for it.
Pass ``timeout=None`` for no deadline (large uploads on slow links). Deadlines apply
to the backends that wait on a network peer (S3, GCS, Azure); memory never waits, and
local disk refuses what could block forever (FIFOs, devices).

A write cut off by its deadline may or may not have been applied. The scan of
``delete_sessions_older_than`` has no overall deadline (its size grows with the
store); each of its deletes has one. Cloud clients also get the timeout as their
connect and read timeout unless their options set one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..core.errors import ConfigurationError

__all__ = ["DEFAULT_TIMEOUT", "ENV_VAR", "check_timeout", "timeout_from_env"]

DEFAULT_TIMEOUT = 30.0
"""Seconds one operation may take, client retries included, unless configured."""
ENV_VAR = "SESSION_STORAGE_TIMEOUT"
_NONE_WORDS = ("none", "off", "never")


def check_timeout(value: object) -> float | None:
    """``value`` as a deadline in seconds (``None``: no deadline); refuses anything else."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"timeout must be a number of seconds or None, got {value!r}")
    if not value > 0 or not math.isfinite(value):
        raise ConfigurationError(f"timeout must be a finite number > 0 seconds, got {value!r}")
    return float(value)


def timeout_from_env(env: Mapping[str, str]) -> float | None:
    """``SESSION_STORAGE_TIMEOUT``: seconds, or ``none`` for no deadline; default 30."""
    raw = env.get(ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    if raw.lower() in _NONE_WORDS:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        raise ConfigurationError(
            f"{ENV_VAR} must be a number of seconds or 'none', got {raw!r}"
        ) from None
    return check_timeout(seconds)
