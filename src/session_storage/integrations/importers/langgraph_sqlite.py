"""Importing LangGraph's ``SqliteSaver`` database: :class:`LangGraphSqliteImporter`.

Every checkpoint of every thread (table ``checkpoints``), with its pending writes
(table ``writes``), is stored where
:class:`~session_storage.integrations.langgraph.StorageSaver` over the same storage
finds it (:mod:`session_storage.integrations.langgraph.layout`): same thread ids,
namespaces, checkpoint ids, parents, metadata, values and writes, task paths and write
indices included. Values are read with the saver's serializer (LangGraph's
``JsonPlusSerializer`` unless told otherwise, as ``SqliteSaver``'s own); writes are
copied as they are typed, without being read.

A session here is a thread and an item a checkpoint. Resuming looks at which
checkpoints the store holds (one listing per namespace): a checkpoint's writes are
stored before the checkpoint itself, so a checkpoint found is complete, and only the
others are written. A checkpoint already in the store is not compared again: writes
added to it at the source after it was imported are not imported.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from ...admin.importing import Outcome, SourceSession, columns_of, open_sqlite
from ...concurrency.bounded import run_bounded
from ...core.errors import CorruptDataError
from ...storage import SessionStorage
from ..langgraph.checkpoints import CheckpointStore
from ..langgraph.deltas import Locator
from ..langgraph.heads import SaverCache
from ..langgraph.layout import (
    CHECKPOINT,
    WRITES,
    Record,
    StoredWrite,
    folder_of,
    pack_record,
    pack_writes,
)

__all__ = ["LangGraphSqliteImporter"]


class LangGraphSqliteImporter:
    """Imports a ``SqliteSaver`` database into ``storage`` (see the module).

    ``storage`` is what the :class:`StorageSaver` will be given (its root);
    ``serde`` the serializer both savers use. The database is opened read-only when
    the importer is made: a missing file or one without the saver's tables raises
    InvalidArgumentError naming it. Close it with :meth:`aclose`.
    """

    source = "langgraph-sqlite"

    def __init__(
        self,
        database: str,
        storage: SessionStorage,
        *,
        serde: SerializerProtocol | None = None,
    ) -> None:
        self._path = database
        self._db = open_sqlite(
            database, ["checkpoints", "writes"], "a LangGraph SqliteSaver database"
        )
        # Databases from before task_path existed read it as "", as SqliteSaver does.
        self._task_path = "task_path" if "task_path" in columns_of(self._db, "writes") else "''"
        self._serde = serde or JsonPlusSerializer()
        self._store = CheckpointStore(storage, self._serde, SaverCache())
        self._concurrency = max(1, storage.max_concurrency)

    async def aclose(self) -> None:
        """Close the database."""
        self._db.close()

    async def sessions(self) -> Sequence[SourceSession]:
        """Every thread, in id order, with its number of checkpoints."""
        rows = self._db.execute(
            "SELECT thread_id, COUNT(*) FROM checkpoints GROUP BY thread_id ORDER BY thread_id"
        )
        return [SourceSession((str(thread_id),), count) for thread_id, count in rows]

    async def import_session(self, session: SourceSession, *, dry_run: bool) -> Outcome:
        """Store the thread's checkpoints the store misses; count them on a dry run."""
        (thread_id,) = session.key
        ids = self._query(
            thread_id,
            "SELECT checkpoint_ns, checkpoint_id FROM checkpoints WHERE thread_id = ? "
            "ORDER BY checkpoint_ns, checkpoint_id",
            (thread_id,),
        )
        missing: list[tuple[str, str]] = []
        for checkpoint_ns in sorted({ns for ns, _ in ids}):
            present = await self._stored(thread_id, checkpoint_ns)
            for ns, checkpoint_id in ids:
                if ns != checkpoint_ns or folder_of(checkpoint_id) in present:
                    continue
                if folder_of(checkpoint_id) is None:
                    why = f"checkpoint id {checkpoint_id!r} is not a lowercase hex uuid"
                    return Outcome("diverged", len(ids), reason=why)
                missing.append((ns, checkpoint_id))
        if not missing:
            return Outcome("complete", len(ids))
        if not dry_run:

            async def one(found: tuple[str, str]) -> None:
                await self._import_checkpoint(thread_id, *found)

            await run_bounded(one, missing, self._concurrency)
        return Outcome("imported", len(ids), len(missing))

    async def _stored(self, thread_id: str, checkpoint_ns: str) -> set[str]:
        """The folders of one namespace that hold their checkpoint (one listing)."""
        namespace = self._store.namespace(thread_id, checkpoint_ns)
        return {
            meta["session_id"]
            async for meta in namespace.iter_file_metadata()
            if meta["filename"] == CHECKPOINT
        }

    async def _import_checkpoint(
        self, thread_id: str, checkpoint_ns: str, checkpoint_id: str
    ) -> None:
        rows = self._query(
            thread_id,
            "SELECT parent_checkpoint_id, type, checkpoint, metadata FROM checkpoints "
            "WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
            (thread_id, checkpoint_ns, checkpoint_id),
        )
        if not rows:
            return  # deleted at the source since the thread was read
        parent_id, kind, blob, metadata_json = rows[0]
        writes = [
            StoredWrite(task_id, int(idx), channel, (str(kind), bytes(value)), task_path)
            for task_id, idx, channel, kind, value, task_path in self._query(
                thread_id,
                f"SELECT task_id, idx, channel, type, value, {self._task_path} FROM writes "
                "WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
                (thread_id, checkpoint_ns, checkpoint_id),
            )
        ]
        checkpoint: dict[str, Any] = dict(self._serde.loads_typed((str(kind), bytes(blob))))
        values: dict[str, Any] = checkpoint.pop("channel_values", None) or {}
        metadata = json.loads(metadata_json) if metadata_json is not None else {}
        dumps = self._serde.dumps_typed
        versions = checkpoint.get("channel_versions") or {}
        # Every value in full (a locator without parts): the saver stores deltas
        # against these from the next checkpoint it writes on the thread.
        full = {k: dumps(v) for k, v in values.items() if k in versions}
        record = Record(
            checkpoint=dumps(checkpoint),
            metadata=dumps(metadata),
            parent_id=parent_id or None,
            locators={k: Locator(kind, None, ()) for k, (kind, _) in full.items()},
            pieces={},
            full=full,
        )
        folder = folder_of(checkpoint_id)
        assert folder is not None  # checked by import_session
        namespace = self._store.namespace(thread_id, checkpoint_ns)
        if writes:
            await namespace.store_bytes(folder, WRITES, pack_writes(writes))
        run_id = metadata.get("run_id")
        if isinstance(run_id, str) and run_id:
            await self._store.index_run(run_id, thread_id, checkpoint_ns, checkpoint_id)
        # Last: a checkpoint in the store is a complete one (see the module).
        await namespace.store_bytes(folder, CHECKPOINT, pack_record(record))

    def _query(self, thread_id: str, sql: str, parameters: tuple[str, ...]) -> list[Any]:
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.DatabaseError as exc:
            raise CorruptDataError(
                f"{self._path}: cannot read thread {thread_id!r}: {exc}", session_id=thread_id
            ) from exc
