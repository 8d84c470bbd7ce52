"""Idempotency keys and commit ids: what a stream's tail remembers of recent writes.

Every write of a stream commits by one conditional rewrite of its tail (see
:mod:`.log`), and the tail carries two short windows:

- ``keys``: the last :data:`KEY_WINDOW` idempotency keys appended, each as
  ``[digest, first index, item count]``. An append whose key is in the window
  returns that first index and writes nothing; the check happens against the tail
  the append commits on, so two workers racing with one key cannot both write (the
  loser's conditional write fails, and the fresh tail shows it the key). Keys are
  stored as a 96-bit SHA-256 digest: any key, of any length, costs the same bytes.
- ``ops``: the last :data:`OPS_WINDOW` commit ids (one random id per write attempt),
  each as ``[id, index, count]``. A write whose reply was lost is resent by the cloud
  client and then fails its condition; the writer reads the tail next anyway (to
  retry), and finding its own id there knows the first attempt landed. This covers
  the case the drivers' write ids cannot (another writer committing on top before
  the check), so tail writes skip the driver's extra request.

Guarantee: an append with a key is applied at most once while the key is among the
stream's last :data:`KEY_WINDOW` keyed appends, whatever worker, process or retry
sends it, and whatever replies are lost. A truncate that drops the key's first event
forgets the key (appending it again writes a new event); ``delete_session`` forgets
them all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["KEY_WINDOW", "OPS_WINDOW", "Entry", "digest", "find", "keep_below", "remember"]

KEY_WINDOW = 256
"""Idempotency keys a stream's tail remembers (the most recent ones)."""
OPS_WINDOW = 32
"""Commit ids a stream's tail remembers, to recognise a write whose reply was lost."""

Entry = tuple[str, int, int]
"""``(digest or commit id, first index, count)``."""


def digest(key: str) -> str:
    """The 96-bit digest under which a key is remembered (24 hex digits)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def find(window: Sequence[Entry], name: str) -> int | None:
    """The first index recorded for ``name``, or ``None`` if the window lacks it."""
    for entry in reversed(window):  # recent ones are the likely ones
        if entry[0] == name:
            return entry[1]
    return None


def remember(window: Sequence[Entry], entry: Entry, size: int) -> tuple[Entry, ...]:
    """``window`` with ``entry`` added, the oldest dropped beyond ``size``."""
    return (*window[-(size - 1) :], entry) if size > 1 else (entry,)


def keep_below(window: Sequence[Entry], length: int) -> tuple[Entry, ...]:
    """The keys whose first event survives a truncation to ``length``."""
    return tuple(entry for entry in window if entry[1] < length)
