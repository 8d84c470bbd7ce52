"""The one least-recently-used map: a pure value, no I/O, no locks.

The event logs keep the tails and sealed segments they have seen in two of these
(bounded by the bytes their documents stand for); the ADK session service keeps the
version and value it last read or wrote of each object in one (bounded by a count).
Both use it only as a first guess that saves a request: whatever is evicted is read
again from the store when needed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["LRU"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _one(_: object) -> int:
    return 1


class LRU(Generic[K, V]):
    """A map that forgets its least recently used entries beyond ``capacity``.

    Each entry weighs ``weigh(value)`` (1 by default, so ``capacity`` is a count).
    A capacity of 0 keeps nothing. Otherwise the newest entry is always kept, even
    when it alone weighs more than the capacity, until the next :meth:`put`: a
    caller that just stored a large value can still find it. Values must not be
    ``None``, which :meth:`get` returns for a missing key.
    """

    def __init__(self, capacity: int, weigh: Callable[[V], int] = _one) -> None:
        self._items: OrderedDict[K, V] = OrderedDict()
        self._weigh = weigh
        self._weight = 0
        self._capacity = capacity

    def get(self, key: K) -> V | None:
        """The value of ``key`` (now the most recently used), or None if not kept."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` as the most recently used; evict the oldest beyond capacity."""
        self.pop(key)
        if self._capacity <= 0:
            return
        self._items[key] = value
        self._weight += self._weigh(value)
        while self._weight > self._capacity and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._weight -= self._weigh(old)

    def pop(self, key: K) -> None:
        """Forget ``key``; nothing happens if it is not kept."""
        old = self._items.pop(key, None)
        if old is not None:
            self._weight -= self._weigh(old)

    def keys(self) -> list[K]:
        """The keys kept, least recently used first (a copy: safe to pop while iterating)."""
        return list(self._items)
