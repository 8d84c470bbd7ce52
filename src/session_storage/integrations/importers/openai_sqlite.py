"""Importing the OpenAI Agents SDK's ``SQLiteSession`` database: :class:`OpenAISqliteImporter`.

Each conversation of the database (the rows of ``agent_messages`` with one
``session_id``, in row order) becomes the history that
:class:`~session_storage.integrations.openai_agents.StorageSession` of the same id
reads: the event stream ``openai-agents`` of that storage session, one event per item.
Rows that are not JSON are skipped, as ``SQLiteSession.get_items`` skips them.

Resuming compares counts: a stream holding ``m`` of the source's ``n`` items gets the
last ``n - m`` appended only if it still holds ``m`` (a conditional append), after its
``m``-th item is checked to be the source's; a stream holding more, or another item
there, is diverged and left alone.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from ...admin.importing import Outcome, SourceSession, open_sqlite, quote_name
from ...core.errors import ConflictError, CorruptDataError
from ...storage import SessionStorage
from ..openai_agents import STREAM

__all__ = ["OpenAISqliteImporter"]

_BATCH = 1000
"""Items appended per request: each batch is one conditional append."""


class OpenAISqliteImporter:
    """Imports a ``SQLiteSession`` database into ``storage`` (see the module).

    ``messages_table`` is the table name the SDK was given (its default unless told
    otherwise; the sessions table holds nothing more to import); ``stream`` the stream
    :class:`StorageSession` will be given. The database is opened read-only when the
    importer is made: a missing file or one without those tables raises
    InvalidArgumentError naming it. Close it with :meth:`aclose`.
    """

    source = "openai-sqlite"

    def __init__(
        self,
        database: str,
        storage: SessionStorage,
        *,
        messages_table: str = "agent_messages",
        stream: str = STREAM,
    ) -> None:
        self._path = database
        self._db = open_sqlite(
            database, [messages_table], "an OpenAI Agents SQLiteSession database"
        )
        self._storage = storage
        self._messages = quote_name(messages_table)
        self._stream = stream

    async def aclose(self) -> None:
        """Close the database."""
        self._db.close()

    async def sessions(self) -> Sequence[SourceSession]:
        """Every conversation with at least one row, in id order, with its row count."""
        rows = self._db.execute(
            f"SELECT session_id, COUNT(*) FROM {self._messages} "
            "GROUP BY session_id ORDER BY session_id"
        )
        return [SourceSession((str(sid),), count) for sid, count in rows]

    def items(self, session_id: str) -> list[Any]:
        """The conversation's items in order, as ``SQLiteSession.get_items`` gives them."""
        rows = self._db.execute(
            f"SELECT message_data FROM {self._messages} WHERE session_id = ? ORDER BY id ASC",
            (session_id,),
        )
        items = []
        for (data,) in rows:
            try:
                items.append(json.loads(data))
            except (json.JSONDecodeError, TypeError):
                continue  # the SDK skips such rows too
        return items

    async def import_session(self, session: SourceSession, *, dry_run: bool) -> Outcome:
        """Append the items the stream misses (see the module); count them on a dry run."""
        (session_id,) = session.key
        try:
            items = self.items(session_id)
        except sqlite3.DatabaseError as exc:
            raise _unreadable(self._path, session_id, exc) from exc
        have = await self._storage.event_count(session_id, self._stream)
        if have == len(items):
            return Outcome("complete", len(items))
        if have > len(items):
            why = f"the store holds {have} items, the source {len(items)}"
            return Outcome("diverged", len(items), reason=why)
        if have:
            (last,) = await self._storage.read_events(session_id, self._stream, have - 1, 1)
            if last != items[have - 1]:
                why = f"item {have - 1} in the store is not the source's"
                return Outcome("diverged", len(items), reason=why)
        if dry_run:
            return Outcome("imported", len(items), len(items) - have)
        for start in range(have, len(items), _BATCH):
            try:
                await self._storage.append_events(
                    session_id, self._stream, items[start : start + _BATCH], if_count=start
                )
            except ConflictError:
                why = f"another writer appended to the stream while item {start} was imported"
                return Outcome("diverged", len(items), start - have, why)
        return Outcome("imported", len(items), len(items) - have)


def _unreadable(path: str, session_id: str, exc: Exception) -> CorruptDataError:
    return CorruptDataError(
        f"{path}: cannot read the items of session {session_id!r}: {exc}", session_id=session_id
    )
