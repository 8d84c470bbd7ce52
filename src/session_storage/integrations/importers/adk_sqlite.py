"""Importing Google ADK's session databases on SQLite: :class:`AdkSqliteImporter`.

Every session of the database (its events, its own state and its last update time)
and the ``app:`` and ``user:`` states it sees are stored where
:class:`~session_storage.integrations.adk.StorageSessionService` over the same storage
finds them (the layout in :mod:`session_storage.integrations.adk`): ``get_session``
then gives what ADK's service gives, event for event. The database is read through
ADK's own service on a read-only connection, so it is read as ADK reads it: a
``DatabaseSessionService`` database (that needs SQLAlchemy:
``pip install 'google-adk[db]'``) or a ``SqliteSessionService`` one (what
``adk web --session_service_uri sqlite://...`` keeps), told apart by their tables.

A session's events are appended to its stream first, its record written last: a
session whose record names every source event is complete. Resuming appends only the
events the stream misses (conditional appends, after checking that its newest event
is the source's), then writes the record; a session the store holds other or more
events of is diverged and left alone. App and user states are merged key by key, and
only when a key differs.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ...admin.importing import Outcome, SourceSession, columns_of, open_sqlite
from ...core.errors import ConflictError, import_optional
from ...storage import SessionStorage
from ..adk.events import EVENTS_STREAM, dump
from ..adk.framework import BaseSessionService, Session
from ..adk.records import SessionRecord
from ..adk.shared_state import Shared, SharedStates, Versions, split

__all__ = ["AdkSqliteImporter"]

_BATCH = 500
"""Events appended per request: each batch is one conditional append."""
# Where StorageSessionService keeps the app state (see the layout of .adk).
_APP_STATE_ID = "app"


class AdkSqliteImporter:
    """Imports an ADK ``DatabaseSessionService`` or ``SqliteSessionService`` database
    into ``storage``.

    ``storage`` is what the :class:`StorageSessionService` will be given. The database
    is opened read-only when the importer is made: a missing file or one without the
    service's tables raises InvalidArgumentError naming it; without SQLAlchemy,
    MissingDependencyError. Close it with :meth:`aclose`.
    """

    source = "adk-sqlite"

    def __init__(self, database: str, storage: SessionStorage) -> None:
        self._path = database
        self._db = open_sqlite(database, ["sessions", "events"], "an ADK session database")
        self._service = _reader(self._db, database)
        self._storage = storage
        # Remembers the versions it read, so a merge writes without reading again.
        self._shared = SharedStates(Versions(4096))
        self._shared_locks: dict[tuple[str, ...], asyncio.Lock] = {}
        self._shared_seen: set[tuple[str, ...]] = set()

    async def aclose(self) -> None:
        """Close the database."""
        self._db.close()
        # Both services have close(); BaseSessionService does not declare it.
        await getattr(self._service, "close")()  # noqa: B009

    async def sessions(self) -> Sequence[SourceSession]:
        """Every session, by app, user and id, with its number of events."""
        rows = self._db.execute(
            "SELECT s.app_name, s.user_id, s.id, (SELECT COUNT(*) FROM events e "
            "WHERE e.app_name = s.app_name AND e.user_id = s.user_id AND e.session_id = s.id) "
            "FROM sessions s ORDER BY s.app_name, s.user_id, s.id"
        )
        return [SourceSession((str(a), str(u), str(s)), n) for a, u, s, n in rows]

    async def import_session(self, session: SourceSession, *, dry_run: bool) -> Outcome:
        """Append the events the store misses and write the record (see the module);
        count them on a dry run."""
        app_name, user_id, session_id = session.key
        found: Session | None = await self._service.get_session(
            app_name=app_name, user_id=user_id, session_id=session_id
        )
        if found is None:  # deleted at the source since it was listed
            return Outcome("complete", 0)
        events = found.events
        scoped = split(found.state)
        store = self._storage.narrow(app_name, "sessions", user_id)
        wanted = SessionRecord(
            scoped.session,
            found.last_update_time,
            end=len(events),
            last_event_id=events[-1].id if events else None,
        )
        stored, version = await store.load_session(session_id, with_version=True)
        have = await store.event_count(session_id, EVENTS_STREAM)
        why = await self._diverged(store, session_id, stored, have, events)
        if why:
            return Outcome("diverged", len(events), reason=why)
        shared = await self._shared_states(app_name, user_id, scoped.app, scoped.user, dry_run)
        if have == len(events) and stored is not None and _record(stored) == wanted:
            return Outcome("imported" if shared else "complete", len(events))
        if dry_run:
            return Outcome("imported", len(events), len(events) - have)
        for start in range(have, len(events), _BATCH):
            batch = [dump(event) for event in events[start : start + _BATCH]]
            try:
                await store.append_events(session_id, EVENTS_STREAM, batch, if_count=start)
            except ConflictError:
                why = f"another writer appended to its events while event {start} was imported"
                return Outcome("diverged", len(events), start - have, why)
        record = wanted.to_json(app_name, user_id, session_id)
        try:
            await store.store_session(
                session_id, record, if_version=version, if_absent=version is None
            )
        except ConflictError:
            why = "another writer changed its record while it was imported"
            return Outcome("diverged", len(events), len(events) - have, why)
        return Outcome("imported", len(events), len(events) - have)

    async def _diverged(
        self,
        store: SessionStorage,
        session_id: str,
        stored: dict[str, Any] | None,
        have: int,
        events: list[Any],
    ) -> str:
        """Why the store's session is not a part of the source's; ``""`` if it is."""
        if have > len(events):
            return f"the store holds {have} events, the source {len(events)}"
        if stored is not None:
            record = _record(stored)
            if record is None:
                return "its state.json in the store is not an ADK session record"
            if record.end > have or record.gaps:
                return "its record in the store names events the source does not have"
        if have:
            (last,) = await store.read_events(session_id, EVENTS_STREAM, have - 1, 1)
            if not isinstance(last, dict) or last.get("id") != events[have - 1].id:
                return f"event {have - 1} in the store is not the source's"
        return ""

    async def _shared_states(
        self,
        app_name: str,
        user_id: str,
        app: dict[str, Any],
        user: dict[str, Any],
        dry_run: bool,
    ) -> bool:
        """Merge the app and user states into the store, once each per import, and only
        the keys that differ; whether anything was (would be) written."""
        app_state = Shared(self._storage.narrow(app_name), _APP_STATE_ID, ("app", app_name))
        users = self._storage.narrow(app_name, "users")
        user_state = Shared(users, user_id, ("user", app_name, user_id))
        wrote = False
        for shared, delta in ((app_state, app), (user_state, user)):
            lock = self._shared_locks.setdefault(shared.cache_key, asyncio.Lock())
            async with lock:  # sessions of one user are imported at once: merge once
                if shared.cache_key in self._shared_seen:
                    continue
                _, state = await self._shared.read(shared)
                changed = {k: v for k, v in delta.items() if k not in state or state[k] != v}
                if changed and not dry_run:
                    await self._shared.write_or_read(shared, changed, merge_only=True)
                wrote = wrote or bool(changed)
                self._shared_seen.add(shared.cache_key)
        return wrote


def _reader(db: sqlite3.Connection, database: str) -> BaseSessionService:
    """ADK's own service for this database, on a read-only connection."""
    path = quote(str(Path(database).resolve()))
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    if "adk_internal_metadata" not in tables and "event_data" in columns_of(db, "events"):
        # SqliteSessionService's (`adk web --session_service_uri sqlite://...`): it reads
        # its own schema with the standard library alone.
        from google.adk.sessions.sqlite_session_service import SqliteSessionService

        return SqliteSessionService(f"sqlite:///{path}?mode=ro")
    module = import_optional(
        "google.adk.sessions.database_session_service",
        "importing an ADK DatabaseSessionService database needs SQLAlchemy: "
        "pip install 'google-adk[db]'",
    )
    service: BaseSessionService = module.DatabaseSessionService(
        f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true"
    )
    return service


def _record(stored: dict[str, Any]) -> SessionRecord | None:
    try:
        return SessionRecord.from_json(stored)
    except ValueError:
        return None
