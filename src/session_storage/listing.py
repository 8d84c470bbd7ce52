"""Paged and streaming listing of session ids, in key order.

Drivers list encoded folder names in key order (see :func:`keys.session_sort_key`);
this module checks the caller's paging arguments, decodes the names, drops the ones
this library did not write, and stops after ``limit`` ids. A page is asked of the
driver with that same limit, so on object stores its cost follows the page, not the
number of sessions.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from .backends.base import Driver
from .errors import InvalidArgumentError, InvalidKeyError
from .keys import decode_segment, encode_segment

__all__ = ["Page", "pages"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page:
    """What to list: checked arguments of ``list_sessions`` / ``iter_sessions``."""

    prefix: str
    """Decoded prefix every id starts with ("" for all)."""
    encoded_prefix: str
    start_after: str | None
    """Encoded id after which the listing starts, or None for the beginning."""
    limit: int | None
    """Most ids to return, or None for all."""

    @classmethod
    def check(cls, prefix: object, limit: object, start_after: object) -> Page:
        """Checked paging arguments; raises InvalidArgumentError for unusable ones."""
        if not isinstance(prefix, str):
            raise InvalidKeyError(f"prefix must be a str, got {type(prefix).__name__}")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise InvalidArgumentError(f"limit must be None or an int >= 0, got {limit!r}")
        if start_after is not None and not isinstance(start_after, str):
            raise InvalidKeyError(
                f"start_after must be None or a session id (str), got {start_after!r}"
            )
        return cls(
            prefix=prefix,
            encoded_prefix=encode_segment(prefix, "prefix") if prefix else "",
            # "" means "from the beginning", like None: every id sorts after it.
            start_after=encode_segment(start_after, "start_after") if start_after else None,
            limit=limit,
        )


async def pages(driver: Driver, root: str, page: Page) -> AsyncGenerator[list[str], None]:
    """Pages of decoded session ids under ``root``, in key order.

    Names this library did not write are skipped. With a limit, each request asks
    for only as many names as are still wanted; a skipped name costs a follow-up
    request only when the page came back full.
    """
    remaining = page.limit
    after = page.start_after
    while remaining is None or remaining > 0:
        wanted = remaining
        seen = 0
        async with _closing(
            driver.iter_children(root, page.encoded_prefix, after, wanted)
        ) as listing:
            async for names in listing:
                seen += len(names)
                after = names[-1] if names else after
                ids = _decode(names, page.prefix)
                if remaining is not None:
                    ids = ids[:remaining]
                    remaining -= len(ids)
                if ids:
                    yield ids
        if wanted is None or seen < wanted:
            return  # the driver ran out of names, not of budget


def _decode(names: list[str], prefix: str) -> list[str]:
    out = []
    for name in names:
        decoded = decode_segment(name)
        if decoded is not None and decoded.startswith(prefix):
            out.append(decoded)
    return out


@asynccontextmanager
async def _closing(it: AsyncIterator[T]) -> AsyncGenerator[AsyncIterator[T], None]:
    """Close a driver's async generator when the consumer stops early.

    A page that is left unread would otherwise keep its generator (and, on object
    stores, its pending request state) alive until garbage collection.
    """
    try:
        yield it
    finally:
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()
