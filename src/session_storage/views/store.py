"""Sessions, a session's files and streams, a page of a stream, one file: as values.

Costs on an object store: a page of names is one LIST; a session one LIST (its files,
with size, time and version, and its streams among them) plus one GET per stream
counted (at most :data:`MAX_COUNTED`); a stream page one GET of the tail, plus the
sealed segments the page reaches that this storage has not read before; a file one GET.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from ..errors import SessionStorageError
from ..storage import SessionStorage
from .values import jsonable

__all__ = [
    "MAX_COUNTED",
    "PAGE_SIZE",
    "STREAM_PAGE",
    "EventRow",
    "FileRow",
    "FileView",
    "NamesPage",
    "SessionDetail",
    "StreamPage",
    "StreamRow",
    "file_view",
    "names_page",
    "session_detail",
    "stream_page",
]

PAGE_SIZE = 50
"""Names on one page of a listing."""
STREAM_PAGE = 100
"""Events on one page of a stream."""
MAX_COUNTED = 20
"""Streams of one session whose events are counted on its page; the rest show on their own."""
_TAIL = "/tail.json"
_SEGMENT = "/seg-"


@dataclass(frozen=True)
class NamesPage:
    """One page of names in key order (sessions, threads, apps, users...)."""

    names: list[str]
    prefix: str
    after: str | None
    """The name this page starts after (None: the first page)."""
    next_after: str | None
    """Where the next page starts, or None on the last page."""


async def names_page(
    storage: SessionStorage, prefix: str = "", after: str | None = None, size: int = PAGE_SIZE
) -> NamesPage:
    """The ``size`` names of ``storage``'s sessions after ``after`` starting with ``prefix``;
    one listing of ``size + 1`` names (the extra one says whether a next page exists).
    Never the whole listing in memory."""
    found = await storage.list_sessions(prefix, limit=size + 1, start_after=after or None)
    more = len(found) > size
    names = found[:size]
    return NamesPage(names, prefix, after, names[-1] if more and names else None)


@dataclass(frozen=True)
class FileRow:
    name: str
    size: int
    modified: datetime | None
    version: str | None


@dataclass(frozen=True)
class StreamRow:
    name: str
    count: int | None
    """Events in the stream; None when not counted (past :data:`MAX_COUNTED`) or unreadable."""
    error: str | None = None
    """Why the stream could not be counted (a corrupt tail, ...), or None."""


@dataclass(frozen=True)
class SessionDetail:
    """A session's own files (not those of its streams) and its event streams."""

    session_id: str
    files: list[FileRow]
    streams: list[StreamRow]

    @property
    def exists(self) -> bool:
        return bool(self.files or self.streams)


def _is_stream_file(name: str, streams: set[str]) -> bool:
    folder, _, _ = name.rpartition("/")
    return folder in streams and (name.endswith(_TAIL) or _SEGMENT in name)


async def session_detail(storage: SessionStorage, session_id: str) -> SessionDetail:
    """Files and streams of ``session_id``; a missing session has neither (``exists``
    is False). One listing gives both: a stream is a folder holding a ``tail.json``
    (as :meth:`SessionStorage.list_streams` finds them)."""
    metas = [m async for m in storage.iter_file_metadata(session_id)]
    names = {m["filename"] for m in metas}
    streams = sorted(n[: -len(_TAIL)] for n in names if n.endswith(_TAIL))
    counted = streams[:MAX_COUNTED]
    counts = await asyncio.gather(
        *(storage.event_count(session_id, s) for s in counted), return_exceptions=True
    )
    rows = []
    for stream, found in zip(counted, counts, strict=True):
        if isinstance(found, SessionStorageError):  # one broken stream hides no other file
            rows.append(StreamRow(stream, None, str(found)))
        elif isinstance(found, BaseException):
            raise found
        else:
            rows.append(StreamRow(stream, found))
    rows += [StreamRow(s, None) for s in streams[MAX_COUNTED:]]
    own = set(streams)
    files = sorted(
        (
            FileRow(m["filename"], m["size"], m["modified"], m["version"])
            for m in metas
            if not _is_stream_file(m["filename"], own)
        ),
        key=lambda row: row.name,
    )
    return SessionDetail(session_id, files, rows)


@dataclass(frozen=True)
class EventRow:
    index: int
    appended_at: datetime
    item: Any


@dataclass(frozen=True)
class StreamPage:
    """Events ``start .. stop`` of a stream, newest first."""

    session_id: str
    stream: str
    events: list[EventRow]
    start: int
    stop: int
    """One past the newest event shown; the stream's length on its newest page."""
    newest: bool
    """Whether this is the newest page (no ``before`` was asked for)."""

    @property
    def older(self) -> int | None:
        """The ``before`` of the next older page, or None at the first event."""
        return self.start if self.start > 0 else None

    @property
    def newer(self) -> int | None:
        """The ``before`` of the next newer page (None: this one is the newest)."""
        return None if self.newest else self.stop + STREAM_PAGE


async def stream_page(
    storage: SessionStorage,
    session_id: str,
    stream: str,
    before: int | None = None,
    size: int = STREAM_PAGE,
) -> StreamPage:
    """At most ``size`` events of ``stream`` ending before index ``before`` (the newest
    ones without it), newest first. A missing stream is an empty page."""
    if before is None:
        records = await storage.read_events(session_id, stream, -size, with_records=True)
    else:
        start = max(0, before - size)
        limit = max(0, before - start)
        records = await storage.read_events(session_id, stream, start, limit, with_records=True)
    rows = [EventRow(r.index, r.appended_at, r.item) for r in reversed(records)]
    if rows:
        start, stop = rows[-1].index, rows[0].index + 1
    else:
        start = stop = 0 if before is None else max(0, before)
    return StreamPage(session_id, stream, rows, start, stop, before is None)


@dataclass(frozen=True)
class FileView:
    """One file: its JSON value, or the fact that it is bytes (``value`` None)."""

    session_id: str
    name: str
    size: int
    is_json: bool
    value: Any


async def file_view(storage: SessionStorage, session_id: str, name: str) -> FileView | None:
    """The file read once (decoded by the storage's codecs), or None if missing. A file
    that is not JSON is bytes: a view offers it for download and never renders it."""
    data = await storage.load_bytes(session_id, name)
    if data is None:
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return FileView(session_id, name, len(data), False, None)
    return FileView(session_id, name, len(data), True, jsonable(value))
