"""Pages of a folder listing: which child folders a driver lists, in key order."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ALL_CHILDREN", "ChildPage", "after_folder", "key_order"]


@dataclass(frozen=True, slots=True)
class ChildPage:
    """Which folders :meth:`Driver.iter_children` lists; :data:`ALL_CHILDREN` is every one.

    Only names starting with ``prefix``, and (with ``start_after``) coming after that
    name, in key order: the order of ``name + "/"``, which is how object stores sort
    folders. All pages together hold at most ``limit`` names: object stores ask for no
    more than that (S3 ``MaxKeys``), so a small page costs one small request.
    """

    prefix: str = ""
    """What every listed name starts with ("" for any name)."""
    start_after: str | None = None
    """The name after which the listing starts (it need not exist); None: the beginning."""
    limit: int | None = None
    """The most names to list, or None for all."""

    @property
    def after_key(self) -> str:
        """The key (see :func:`key_order`) every listed name's key follows; "" for none."""
        return "" if self.start_after is None else key_order(self.start_after)

    def first(self, keys: Iterable[str]) -> list[str]:
        """The ``limit`` smallest of ``keys`` (all without a limit), sorted: a heap keeps
        a small page of a huge folder small."""
        return sorted(keys) if self.limit is None else heapq.nsmallest(self.limit, keys)


ALL_CHILDREN = ChildPage()
"""Every folder directly under a folder, from the first in key order."""


def key_order(name: str) -> str:
    """Sort key that matches object stores' order of folder names (``name/``)."""
    return name + "/"


def after_folder(name: str) -> str:
    """The smallest key greater than every key inside folder ``name/``.

    ``"0"`` follows ``"/"`` in ASCII, so ``name0`` sorts after every ``name/...`` key
    and before or at every later folder's keys; starting a listing after it skips
    the whole folder ``name`` and nothing else a listing of folders can return.
    """
    return name + "0"
