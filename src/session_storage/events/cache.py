"""What one storage remembers of its event streams: tails as last seen, sealed segments.

Only a saving, never the truth: a write based on a stale tail is refused by the store
(see :mod:`.commit`), and a sealed segment never changes once written, so a cached
one is always right while it is on the chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.lru import LRU
from .documents import Doc

__all__ = ["CACHE_BYTES", "Known", "StreamCache"]

CACHE_BYTES = 32 * 1024 * 1024
"""Bytes of events a storage keeps cached, for tails and for sealed segments each."""


@dataclass(frozen=True, slots=True)
class Known:
    """A tail as last seen: its version (``None``: not stored) and document."""

    version: str | None
    doc: Doc


def _doc_size(doc: Doc) -> int:
    return 256 + doc.events.nbytes


class StreamCache:
    """The tails (by stream folder) and sealed segments (by path) a storage has seen."""

    def __init__(self) -> None:
        self.tails: LRU[str, Known] = LRU(CACHE_BYTES, lambda known: _doc_size(known.doc))
        self.segments: LRU[str, Doc] = LRU(CACHE_BYTES, _doc_size)

    def forget(self, folder: str) -> None:
        """Drop what is cached of every stream at or below ``folder`` (after a delete)."""
        head = folder.rstrip("/") + "/"
        for cache in (self.tails, self.segments):
            for name in cache.keys():
                if name == folder or name.startswith(head):
                    cache.pop(name)
