"""Listing: session ids (paged and streaming, in key order), files, file metadata.

Drivers list encoded folder names in key order (see :func:`keys.session_sort_key`);
this module checks the caller's paging arguments, decodes the names, drops the ones
this library did not write, and stops after ``limit`` ids. A page is asked of the
driver with that same limit, so on object stores its cost follows the page, not the
number of sessions. Files of a session, and the metadata of every file under the
root, come from one listing pass of the driver (one LIST per 1000 files on object
stores), never a request per file.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, cast

from ..backends.base import ChildPage, Driver
from ..core.arguments import check_int
from ..core.errors import InvalidKeyError
from ..core.keys import decode_filename, decode_segment, encode_segment
from ..events.layout import TAIL_NAME
from .files import metadata_of
from .scope import Scope

__all__ = [
    "Page",
    "file_metadata",
    "iter_sessions",
    "list_files",
    "list_sessions",
    "list_streams",
    "pages",
    "session_ids",
    "session_pages",
]


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
        limit = check_int("limit", limit, 0, allow_none=True)
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
        # Every driver implements iter_children as an async generator: closing it when
        # the consumer stops early releases its pending request state at once.
        children = driver.iter_children(root, ChildPage(page.encoded_prefix, after, wanted))
        async with aclosing(cast(AsyncGenerator[list[str], None], children)) as listing:
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


def session_pages(scope: Scope, page: Page) -> AsyncGenerator[list[str], None]:
    """Pages of session ids under the scope's root, failures turned into library errors."""
    return scope.iterate(
        scope.root_ref(), "list sessions in", pages(scope.driver, scope.root, page)
    )


async def session_ids(scope: Scope, page: Page) -> AsyncGenerator[str, None]:
    """The ids of :func:`session_pages`, one at a time."""
    async with aclosing(session_pages(scope, page)) as chunks:
        async for chunk in chunks:
            for session_id in chunk:
                yield session_id


async def list_sessions(
    scope: Scope, prefix: str, limit: int | None, start_after: str | None
) -> list[str]:
    """Ids of the sessions directly under the root, in key order; ``[]`` if none.

    Only ids starting with ``prefix``, after ``start_after`` (the last id of the
    previous page), at most ``limit``. Key order is that of
    :func:`session_storage.core.keys.session_sort_key` (plain string order for ids of
    ASCII letters, digits and ``_``), the same on every backend. One LIST request per
    1000 ids on object stores, and a page asks for only ``limit`` ids. Names this
    library did not write are skipped; a narrowed sub-store is listed like a session.
    """
    page = Page.check(prefix, limit, start_after)
    return [sid async for chunk in session_pages(scope, page) for sid in chunk]


def iter_sessions(scope: Scope, prefix: str, start_after: str | None) -> AsyncIterator[str]:
    """Every session id under the root, as :func:`list_sessions` orders them.

    ``async for session_id in storage.iter_sessions(): ...`` fetches one page (one
    LIST request on object stores) per 1000 ids as the loop goes, so memory stays flat
    on object stores however many sessions there are; local disk reads the folder's
    names once. Arguments are checked here, at the call, not at the first step.
    """
    return session_ids(scope, Page.check(prefix, None, start_after))


async def list_files(scope: Scope, session_id: str) -> list[str]:
    """Sorted filenames of a session (``/`` for nesting); ``[]`` if it has none.

    Names this library did not write are skipped.
    """
    folder = scope.folder(session_id)
    paths = await scope.call(folder, "list files of", scope.driver.list_files(folder.path))
    cut = len(folder.path) + 1
    names = (decode_filename(p[cut:]) for p in paths)
    return sorted(n for n in names if n is not None)


async def list_streams(scope: Scope, session_id: str) -> list[str]:
    """Sorted names of a session's event streams; ``[]`` if it has none.

    A stream is a folder holding a ``tail.json`` (see :mod:`..events.layout`), so the
    one listing :func:`list_files` makes finds them all: one LIST per 1000 files on
    object stores, and no stream is read. A stream emptied by a truncate is still
    listed (its tail remains); a deleted session has none.
    """
    suffix = "/" + TAIL_NAME
    names = await list_files(scope, session_id)
    return [name[: -len(suffix)] for name in names if name.endswith(suffix)]


async def file_metadata(
    scope: Scope, session_id: str | None
) -> AsyncGenerator[dict[str, Any], None]:
    """The metadata dict of every file of one session, or with ``session_id=None`` of
    every session under the root, in no particular order; nothing if there is none.

    One LIST request per 1000 files on object stores, never a request per file. Files
    of a narrowed storage appear under its first key as the session, the rest of the
    path in the name (:func:`session_storage.operations.files.metadata_of` gives the keys).
    """
    ref = scope.root_ref() if session_id is None else scope.folder(session_id)
    listing = scope.driver.list_file_infos(ref.path)
    cut = len(ref.path.rstrip("/")) + 1
    async with aclosing(scope.iterate(ref, "list files of", listing)) as infos:
        async for page in infos:
            for path, info in page:
                relative = path[cut:]
                if session_id is None:
                    segment, _, relative = relative.partition("/")
                    sid = decode_segment(segment) if relative else None
                else:
                    sid = session_id
                name = decode_filename(relative) if sid is not None else None
                if sid is not None and name is not None:
                    yield metadata_of(scope, sid, name, info)
