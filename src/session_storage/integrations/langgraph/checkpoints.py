"""The work of a :class:`~.saver.StorageSaver` on one SessionStorage.

:class:`CheckpointStore` reads and writes checkpoints in the layout of
:mod:`.layout`, in whatever event loop its storage runs in; the saver decides
which loop that is and gives LangGraph its blocking and async methods.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from ...core.arguments import invalid
from ...storage import SessionStorage
from .deltas import Typed, encode
from .heads import SaverCache, Seen, advance
from .layout import (
    CHECKPOINT,
    LATEST,
    RUNS,
    THREADS,
    WRITES,
    Record,
    StoredWrite,
    checkpoint_id_of,
    folder_of,
    namespace_key,
    namespace_of,
    pack_head,
    pack_record,
    pack_run_entry,
    run_entry_name,
    unpack_head,
    unpack_record,
    unpack_writes,
)
from .reading import load_records, state_of, values_of
from .writes import add_writes

__all__ = ["CheckpointStore"]

_PAGE = 100
"""Checkpoint folders asked for per listing request of ``list``."""


class CheckpointStore:
    """Checkpoints under ``root`` (``threads/`` and ``runs/``), values typed by ``serde``.

    ``cache`` is shared by every store of one saver (:mod:`.heads`): tasks of this
    process writing one checkpoint's writes, or one namespace's ``latest``, take turns
    instead of racing, and what was last read or written saves requests and bytes.
    """

    def __init__(self, root: SessionStorage, serde: SerializerProtocol, cache: SaverCache) -> None:
        self.serde = serde
        self.threads = root.narrow(THREADS)
        """Sessions: thread ids; below each, ``ns-<namespace>`` folders of checkpoints."""
        self.runs = root.narrow(RUNS)
        """Sessions: run ids; files: one entry per checkpoint of the run."""
        self.cache = cache

    def namespace(self, thread_id: str, checkpoint_ns: str) -> SessionStorage:
        """The storage whose sessions are the checkpoint folders of one namespace."""
        return self.threads.narrow(thread_id, namespace_key(checkpoint_ns))

    async def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id, checkpoint_ns = _thread_and_namespace(config)
        checkpoint_id = get_checkpoint_id(config)
        namespace = self.namespace(thread_id, checkpoint_ns)
        if checkpoint_id:
            folder = folder_of(checkpoint_id)
            if folder is None:
                return None  # not an id this saver could have stored
            return await self._load(namespace, thread_id, checkpoint_ns, folder)
        return await self.latest(namespace, thread_id, checkpoint_ns)

    async def latest(
        self, namespace: SessionStorage, thread_id: str, checkpoint_ns: str
    ) -> CheckpointTuple | None:
        """The newest checkpoint of one namespace that is written; None if there is none.

        The ``latest`` object has it in full: one GET, then a listing of its folder, and
        a GET of its writes if it has some (mostly it has none: a finished turn). Without
        one (a namespace written before it existed, or after a maintenance call) the
        newest folder is read, and the values its locators name.
        """
        head = await namespace.load_bytes(LATEST, CHECKPOINT, with_version=True)
        key = (thread_id, checkpoint_ns)
        if head.data is None:
            self.cache.heads.put(key, Seen(None, None))
            return await self._newest(namespace, thread_id, checkpoint_ns)
        checkpoint_id, record = unpack_head(head.data)
        self.cache.heads.put(key, Seen(checkpoint_id, head.version))
        folder = folder_of(checkpoint_id)
        files = await namespace.list_files(folder) if folder else []
        writes = await namespace.load_bytes(folder, WRITES) if folder and WRITES in files else None
        if CHECKPOINT in files:
            # ``latest`` and the checkpoint's own object are written together: a child
            # may build on this one's pieces only once they are surely stored.
            self._remember(thread_id, checkpoint_ns, checkpoint_id, record, record.full)
        return self._tuple(thread_id, checkpoint_ns, checkpoint_id, record, record.full, writes)

    async def _newest(
        self, namespace: SessionStorage, thread_id: str, checkpoint_ns: str
    ) -> CheckpointTuple | None:
        after: str | None = None
        while True:
            # Newest first: one name is enough unless its checkpoint is not written yet
            # (writes only, or a put still under way), then the next one.
            names = await namespace.list_sessions(limit=1, start_after=after)
            if not names:
                return None
            found = await self._load(namespace, thread_id, checkpoint_ns, names[0])
            if found is not None:
                return found
            after = names[0]

    async def _load(
        self, namespace: SessionStorage, thread_id: str, checkpoint_ns: str, folder: str
    ) -> CheckpointTuple | None:
        checkpoint_id = checkpoint_id_of(folder)
        if checkpoint_id is None:
            return None
        data, writes = await asyncio.gather(
            namespace.load_bytes(folder, CHECKPOINT), namespace.load_bytes(folder, WRITES)
        )
        if data is None:
            return None
        stored = unpack_record(data)
        values = await values_of(namespace, checkpoint_id, stored, {})
        self._remember(thread_id, checkpoint_ns, checkpoint_id, stored, values)
        return self._tuple(thread_id, checkpoint_ns, checkpoint_id, stored, values, writes)

    def _remember(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str,
        record: Record,
        values: dict[str, Typed],
    ) -> None:
        """Keep what a child of this checkpoint (a next step, or a fork) needs."""
        self.cache.states.put((thread_id, checkpoint_ns, checkpoint_id), state_of(record, values))

    def _tuple(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str,
        record: Record,
        values: dict[str, Typed],
        writes: bytes | None,
    ) -> CheckpointTuple:
        loads = self.serde.loads_typed
        checkpoint: Checkpoint = loads(record.checkpoint)
        checkpoint["channel_values"] = {k: loads(v) for k, v in values.items()}
        stored = _ordered(unpack_writes(writes)) if writes is not None else []
        parent = record.parent_id
        return CheckpointTuple(
            config=_config(thread_id, checkpoint_ns, checkpoint_id),
            checkpoint=checkpoint,
            metadata=loads(record.metadata),
            parent_config=_config(thread_id, checkpoint_ns, parent) if parent else None,
            pending_writes=[(w.task_id, w.channel, loads(w.value)) for w in stored],
        )

    async def list_checkpoints(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> AsyncGenerator[CheckpointTuple, None]:
        remaining = limit
        if remaining is not None and remaining <= 0:
            return
        start_after = None
        before_id = get_checkpoint_id(before) if before else None
        if before_id:
            start_after = folder_of(before_id)
            if start_after is None:
                raise invalid(f"before names no checkpoint of this saver: {before_id!r}")
        async for thread_id, checkpoint_ns in self._namespaces(config):
            namespace = self.namespace(thread_id, checkpoint_ns)
            only = get_checkpoint_id(config) if config else None
            async for found in self._history(
                namespace, thread_id, checkpoint_ns, only, start_after, filter, remaining
            ):
                yield found
                if remaining is not None:
                    remaining -= 1
                    if remaining <= 0:
                        return

    async def _namespaces(self, config: RunnableConfig | None) -> AsyncIterator[tuple[str, str]]:
        """(thread, namespace) pairs that ``config`` selects, threads in key order."""
        if config is not None:
            thread_id, _ = _thread_and_namespace(config)
            threads: AsyncIterator[str] = _one(thread_id)
            wanted = config["configurable"].get("checkpoint_ns")
        else:
            threads = self.threads.iter_sessions()
            wanted = None
        async for thread_id in threads:
            if wanted is not None:
                yield thread_id, wanted
                continue
            for checkpoint_ns in await self.namespaces_of(thread_id):
                yield thread_id, checkpoint_ns

    async def namespaces_of(self, thread_id: str) -> list[str]:
        """The checkpoint namespaces the thread has stored anything in (none if unknown)."""
        keys = await self.threads.narrow(thread_id).list_sessions()
        return [ns for ns in map(namespace_of, keys) if ns is not None]

    async def _history(
        self,
        namespace: SessionStorage,
        thread_id: str,
        checkpoint_ns: str,
        only: str | None,
        start_after: str | None,
        filter: dict[str, Any] | None,
        limit: int | None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Checkpoints of one namespace, newest first, a page read at a time."""
        if only:
            folder = folder_of(only)
            if folder is None or (start_after is not None and folder <= start_after):
                return
            found = await self._load(namespace, thread_id, checkpoint_ns, folder)
            if found is not None and _matches(found, filter):
                yield found
            return
        gate = asyncio.Semaphore(max(1, namespace.max_concurrency))
        known: dict[str, Record] = {}
        """Records read so far: a page's values are mostly pieces of the pages after it."""

        async def writes_of(folder: str) -> bytes | None:
            if checkpoint_id_of(folder) is None:
                return None  # ``latest``, which has none
            async with gate:
                return await namespace.load_bytes(folder, WRITES)

        after = start_after
        while True:
            page = _PAGE if limit is None or filter else min(_PAGE, limit)
            names = await namespace.list_sessions(limit=page, start_after=after)
            ids = {n: checkpoint_id_of(n) for n in names}
            records, writes = await asyncio.gather(
                load_records(namespace, [i for i in ids.values() if i and i not in known]),
                asyncio.gather(*(writes_of(n) for n in names)),
            )
            known.update(records)
            for name, stored_writes in zip(names, writes, strict=True):
                checkpoint_id = ids[name]
                record = known.get(checkpoint_id) if checkpoint_id else None
                if checkpoint_id is None or record is None:
                    continue
                values = await values_of(namespace, checkpoint_id, record, known)
                found_tuple = self._tuple(
                    thread_id, checkpoint_ns, checkpoint_id, record, values, stored_writes
                )
                if _matches(found_tuple, filter):
                    yield found_tuple
            if len(names) < page:
                return
            after = names[-1]

    async def put(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata
    ) -> RunnableConfig:
        thread_id, checkpoint_ns = _thread_and_namespace(config)
        checkpoint_id = checkpoint["id"]
        folder = folder_of(checkpoint_id)
        if folder is None:
            raise invalid(
                f"checkpoint id must be a lowercase hex uuid (LangGraph's own are), "
                f"got {checkpoint_id!r}"
            )
        dumps = self.serde.dumps_typed
        stored = checkpoint.copy()
        values: dict[str, Any] = stored.pop("channel_values")  # type: ignore[misc]
        versions = stored["channel_versions"]
        full_metadata = get_checkpoint_metadata(config, metadata)
        typed = {k: dumps(v) for k, v in values.items() if k in versions}
        parent_id = get_checkpoint_id(config)
        parent = self.cache.states.get((thread_id, checkpoint_ns, parent_id)) if parent_id else None
        locators, pieces, state = encode(checkpoint_id, typed, parent)
        record = Record(dumps(stored), dumps(full_metadata), parent_id, locators, pieces, {})
        namespace = self.namespace(thread_id, checkpoint_ns)
        writes: list[Awaitable[Any]] = [
            namespace.store_bytes(folder, CHECKPOINT, pack_record(record))
        ]
        run_id = full_metadata.get("run_id")
        if isinstance(run_id, str) and run_id:
            writes.append(self.index_run(run_id, thread_id, checkpoint_ns, checkpoint_id))
        # ``latest`` at the same time: it holds every value whole, and a reader builds
        # on this checkpoint's pieces only once its object is listed (see ``latest()``).
        head = pack_head(checkpoint_id, record._replace(pieces={}, full=typed))
        writes.append(
            advance(self.cache, namespace, (thread_id, checkpoint_ns), checkpoint_id, head)
        )
        await asyncio.gather(*writes)
        self.cache.states.put((thread_id, checkpoint_ns, checkpoint_id), state)
        return _config(thread_id, checkpoint_ns, checkpoint_id)

    async def index_run(
        self, run_id: str, thread_id: str, checkpoint_ns: str, checkpoint_id: str
    ) -> None:
        """Name the checkpoint in the run's index, for ``delete_for_runs``."""
        entry = pack_run_entry(thread_id, checkpoint_ns, checkpoint_id)
        name = run_entry_name(thread_id, checkpoint_ns, checkpoint_id)
        await self.runs.store_bytes(run_id, name, entry)

    async def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> None:
        thread_id, checkpoint_ns = _thread_and_namespace(config)
        checkpoint_id = get_checkpoint_id(config)
        folder = folder_of(checkpoint_id) if checkpoint_id else None
        if folder is None:
            raise invalid(f"put_writes needs the config of a stored checkpoint, got {config!r}")
        new = [
            StoredWrite(
                task_id,
                WRITES_IDX_MAP.get(channel, index),
                channel,
                self.serde.dumps_typed(value),
                task_path,
            )
            for index, (channel, value) in enumerate(writes)
        ]
        namespace = self.namespace(thread_id, checkpoint_ns)
        await add_writes(self.cache, namespace, (thread_id, checkpoint_ns, folder), new)


def _thread_and_namespace(config: RunnableConfig) -> tuple[str, str]:
    configurable = config.get("configurable") or {}
    thread_id = configurable.get("thread_id")
    if thread_id is None or thread_id == "":
        raise invalid(
            "config['configurable']['thread_id'] is missing: LangGraph needs one to "
            f"checkpoint a graph, got {config!r}"
        )
    checkpoint_ns = configurable.get("checkpoint_ns") or ""
    return str(thread_id), str(checkpoint_ns)


def _config(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint_id,
        }
    }


def _ordered(writes: list[StoredWrite]) -> list[StoredWrite]:
    """Writes in the order LangGraph applies them (``writes_sort_key``)."""
    return sorted(writes, key=lambda w: writes_sort_key(w.task_path, w.task_id, w.idx))


def _matches(found: CheckpointTuple, filter: dict[str, Any] | None) -> bool:
    return not filter or all(found.metadata.get(k) == v for k, v in filter.items())


async def _one(item: str) -> AsyncIterator[str]:
    yield item
