"""Adding a task's writes to a checkpoint's writes object, losing none.

Tasks of this process writing one checkpoint take turns; other processes race, and the
conditional store makes the loser read again and merge. The first try needs no read:
it builds on the writes this process last stored there (:class:`~.heads.SaverCache`),
or on none, which is what a checkpoint just put has.
"""

from __future__ import annotations

import asyncio
import random

from ...core.errors import ConflictError
from ...storage import SessionStorage
from .heads import SaverCache
from .layout import WRITES, StoredWrite, pack_writes, unpack_writes

__all__ = ["add_writes"]

_RETRIES = 16
"""Retries of a conflicting store, as ``update_session`` makes them."""
_BACKOFF = 0.005
_MAX_BACKOFF = 0.5


async def add_writes(
    cache: SaverCache,
    namespace: SessionStorage,
    key: tuple[str, str, str],
    new: list[StoredWrite],
) -> None:
    """Merge ``new`` into the writes of checkpoint folder ``key[2]`` of ``namespace``
    (``key``: thread, namespace, folder); ConflictError after 16 lost races."""
    folder = key[2]
    last: ConflictError | None = None
    async with cache.locks.hold("\0".join(key)):
        known = cache.writes.get(key)
        for attempt in range(_RETRIES + 1):
            data: bytes | None
            version: str | None
            if attempt:
                ceiling = min(_MAX_BACKOFF, _BACKOFF * 2 ** (attempt - 1))
                await asyncio.sleep(random.uniform(0, ceiling))
                found = await namespace.load_bytes(folder, WRITES, with_version=True)
                data, version = found.data, found.version
            elif known is not None:
                data, version = known
            else:
                data = version = None
            merged = _merge(unpack_writes(data) if data is not None else [], new)
            if merged is None:
                return  # every write was there already
            packed = pack_writes(merged)
            try:
                stored = await namespace.store_bytes(
                    folder, WRITES, packed, if_version=version, if_absent=version is None
                )
            except ConflictError as exc:
                last = exc
                continue
            cache.writes.put(key, (packed, stored))
            return
    assert last is not None
    raise last


def _merge(existing: list[StoredWrite], new: list[StoredWrite]) -> list[StoredWrite] | None:
    """``existing`` with ``new`` added as InMemorySaver adds them, or None if unchanged.

    A regular write (index >= 0) already stored for its task and index is kept as it is
    (a retried task writes the same again); a special one (errors, interrupts, ...)
    replaces the stored one.
    """
    merged = {(w.task_id, w.idx): w for w in existing}
    changed = False
    for write in new:
        key = (write.task_id, write.idx)
        if write.idx >= 0 and key in merged:
            continue
        if merged.get(key) != write:
            merged[key] = write
            changed = True
    return list(merged.values()) if changed else None
