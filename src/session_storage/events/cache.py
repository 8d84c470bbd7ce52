"""What one storage remembers of its event streams: tails as last seen, sealed segments.

Only a saving, never the truth: a write based on a stale tail is refused by the store
(see :mod:`.commit`), and a sealed segment never changes once written, so a cached
one is always right while it is on the chain.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from ..core.lru import LRU
from .documents import Doc

__all__ = ["CACHE_BYTES", "Known", "StreamCache"]

CACHE_BYTES = 32 * 1024 * 1024
"""Memory a storage lets its cached tails take, and its cached sealed segments each
(counted as the objects hold it, headers included)."""


@dataclass(frozen=True, slots=True)
class Known:
    """A tail as last seen: its version (``None``: not stored) and document."""

    version: str | None
    doc: Doc


_ENTRY = sys.getsizeof(("", 0, 0)) + sys.getsizeof("") + 2 * sys.getsizeof(2**40)
"""Memory one idempotency or commit entry holds beyond its name's length."""


def _doc_size(doc: Doc) -> int:
    """The memory ``doc`` holds: what a cache counts, so that its bound is real."""
    entries = doc.keys + doc.ops
    names = sum(len(entry[0]) for entry in entries)
    return 256 + doc.events.nbytes + sys.getsizeof(entries) + names + len(entries) * _ENTRY


class StreamCache:
    """The tails (by stream folder) and sealed segments (by path) a storage has seen,
    each kind bounded by ``capacity`` bytes of memory."""

    def __init__(self, capacity: int = CACHE_BYTES) -> None:
        self.tails: LRU[str, Known] = LRU(capacity, lambda known: _doc_size(known.doc))
        self.segments: LRU[str, Doc] = LRU(capacity, _doc_size)

    def forget(self, folder: str) -> None:
        """Drop what is cached of every stream at or below ``folder`` (after a delete)."""
        head = folder.rstrip("/") + "/"
        for cache in (self.tails, self.segments):
            for name in cache.keys():
                if name == folder or name.startswith(head):
                    cache.pop(name)
