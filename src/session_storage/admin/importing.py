"""Importing sessions from another system's database: the run, its counts, its source.

An importer (one per source format; those of the agent frameworks are in
:mod:`session_storage.integrations.importers`) says which sessions its source holds
and imports one session at a time; :func:`run_import` runs it over every session, a
few at once, tallies what was done and reports progress. Nothing here knows a
framework or a layout.

Each session is imported so that a run stopped half-way (Ctrl-C, a lost connection)
and started again writes only what is missing: an importer compares what the store
already holds with the source (a count of items, or which items exist) and writes the
rest, never an item twice. A session the store holds more of, or other items than the
source, is *diverged*: it is left alone and reported, never overwritten.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import quote

from ..concurrency.bounded import map_bounded
from ..core.errors import CorruptDataError, InvalidArgumentError

__all__ = [
    "DEFAULT_IMPORT_CONCURRENCY",
    "ImportProgress",
    "ImportResult",
    "Importer",
    "Outcome",
    "SourceSession",
    "columns_of",
    "open_sqlite",
    "quote_name",
    "run_import",
]

DEFAULT_IMPORT_CONCURRENCY = 8
"""Sessions imported at once."""


@dataclass(frozen=True, slots=True)
class SourceSession:
    """One session of the source, as the importer listed it."""

    key: tuple[str, ...]
    """What identifies it at the source (a session id; app, user and session for ADK)."""
    items: int
    """Its items at the source, as listed (rows, so unreadable ones included)."""

    @property
    def name(self) -> str:
        """The key as one printable name: its parts joined by ``/``."""
        return "/".join(self.key)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What importing one session did (or, on a dry run, would do)."""

    status: Literal["imported", "complete", "diverged"]
    """``imported``: items were (would be) written; ``complete``: the store had them
    all; ``diverged``: the store holds other items, left alone."""
    items: int
    """The session's items at the source."""
    written: int = 0
    """Items written (on a dry run: that would be)."""
    reason: str = ""
    """Why a diverged session was left alone."""


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """Where a running import is; given to the progress callback after each session."""

    sessions_done: int
    sessions_total: int
    items_done: int
    """Items of the sessions done, written or found complete."""
    items_total: int
    """Items of every session, as listed at the start."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did (on a dry run: would do)."""

    source: str
    """The source format (``openai-sqlite``, ...)."""
    dry_run: bool
    sessions: int
    """Sessions found at the source."""
    items: int
    """Items found at the source (unreadable rows, which the framework skips too, not)."""
    imported_sessions: int
    """Sessions written to (on a dry run: that would be)."""
    imported_items: int
    """Items written (on a dry run: that would be)."""
    complete: int
    """Sessions the store held whole already: nothing written."""
    diverged: dict[str, str] = field(default_factory=dict)
    """Sessions left alone because the store holds other items than the source: name ->
    why."""


class Importer(Protocol):
    """A source of sessions and how to import one of them."""

    source: str
    """The name of the source format, as the command line spells it."""

    async def sessions(self) -> Sequence[SourceSession]:
        """Every session of the source."""
        ...

    async def import_session(self, session: SourceSession, *, dry_run: bool) -> Outcome:
        """Write what the store misses of ``session``; with ``dry_run`` count it only."""
        ...

    async def aclose(self) -> None:
        """Close the source."""
        ...


async def run_import(
    importer: Importer,
    *,
    dry_run: bool = False,
    concurrency: int = DEFAULT_IMPORT_CONCURRENCY,
    progress: Callable[[ImportProgress], None] | None = None,
) -> ImportResult:
    """Import every session of ``importer``'s source, ``concurrency`` at a time.

    ``dry_run`` reads the source and the store and writes nothing. ``progress`` gets an
    ImportProgress after each session. The first error raised by a session is raised
    (the others are stopped); sessions imported before it stay imported, and running
    the import again carries on from there.
    """
    if concurrency < 1:
        raise InvalidArgumentError(f"concurrency must be at least 1, got {concurrency!r}")
    found = list(await importer.sessions())
    total_items = sum(s.items for s in found)
    done = {"sessions": 0, "items": 0}

    async def one(session: SourceSession) -> Outcome:
        outcome = await importer.import_session(session, dry_run=dry_run)
        done["sessions"] += 1
        done["items"] += session.items
        if progress is not None:
            progress(ImportProgress(done["sessions"], len(found), done["items"], total_items))
        return outcome

    if progress is not None:
        progress(ImportProgress(0, len(found), 0, total_items))
    outcomes = await map_bounded(one, found, concurrency)
    imported = [o for o in outcomes if o.status == "imported"]
    return ImportResult(
        source=importer.source,
        dry_run=dry_run,
        sessions=len(found),
        items=sum(o.items for o in outcomes),
        imported_sessions=len(imported),
        imported_items=sum(o.written for o in imported),
        complete=sum(o.status == "complete" for o in outcomes),
        diverged={
            s.name: o.reason for s, o in zip(found, outcomes, strict=True) if o.status == "diverged"
        },
    )


def open_sqlite(path: str, tables: Collection[str], what: str) -> sqlite3.Connection:
    """A read-only connection to the SQLite database at ``path``, which must hold
    ``tables`` (``what`` names the kind of database in the errors).

    The source is never written to: the connection is opened in SQLite's read-only
    mode. A missing file or a database without those tables raises
    InvalidArgumentError, a file that is not a SQLite database CorruptDataError; each
    names the file.
    """
    if not os.path.isfile(path):
        raise InvalidArgumentError(f"{path}: no such file (expected {what})")
    uri = f"file:{quote(os.path.abspath(path))}?mode=ro"
    connection = sqlite3.connect(uri, uri=True)
    try:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        present = {name for (name,) in rows}
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise CorruptDataError(f"{path} is not a SQLite database ({exc})") from exc
    missing = sorted(set(tables) - present)
    if missing:
        connection.close()
        raise InvalidArgumentError(
            f"{path} is not {what}: it has no table {', '.join(map(repr, missing))}"
        )
    return connection


def columns_of(connection: sqlite3.Connection, table: str) -> set[str]:
    """The column names of ``table``."""
    return {row[1] for row in connection.execute(f"PRAGMA table_info({quote_name(table)})")}


def quote_name(name: str) -> str:
    """``name`` as a quoted SQL identifier (table names come from the command line)."""
    return '"' + name.replace('"', '""') + '"'
