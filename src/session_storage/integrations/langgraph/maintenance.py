"""Deleting, copying and pruning a :class:`~.saver.StorageSaver`'s threads.

Each is a function of a :class:`~.checkpoints.CheckpointStore`, run in whatever event
loop its storage runs in. Nothing missing is an error: an unknown thread, run or
checkpoint is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from langgraph.checkpoint.serde.base import SerializerProtocol

from ...core.arguments import invalid
from .checkpoints import CheckpointStore
from .layout import (
    CHECKPOINT,
    WRITES,
    Record,
    checkpoint_id_of,
    folder_of,
    unpack_record,
    unpack_run_entry,
)

__all__ = ["copy_thread", "delete_for_runs", "delete_thread", "prune"]


async def delete_thread(store: CheckpointStore, thread_id: object) -> None:
    """Delete every checkpoint and write of the thread."""
    await store.threads.delete_session(str(thread_id))


async def delete_for_runs(store: CheckpointStore, run_ids: Sequence[str]) -> None:
    """Delete every checkpoint (with its writes) whose metadata names one of ``run_ids``."""
    wanted = {str(run_id) for run_id in run_ids}
    for run_id in sorted(wanted):
        for name in await store.runs.list_files(run_id):
            entry = await store.runs.load_bytes(run_id, name)
            if entry is None:
                continue
            thread_id, checkpoint_ns, checkpoint_id = unpack_run_entry(entry)
            folder = folder_of(checkpoint_id)
            if folder is None:
                continue
            namespace = store.namespace(thread_id, checkpoint_ns)
            record = await namespace.load_bytes(folder, CHECKPOINT)
            # The id may have been stored again since, by another run: check.
            if record is not None and _run_of(store.serde, unpack_record(record)) in wanted:
                await namespace.delete_session(folder)
        await store.runs.delete_session(run_id)


async def copy_thread(
    store: CheckpointStore, source_thread_id: object, target_thread_id: object
) -> None:
    """Copy every checkpoint and write of one thread to another, ids unchanged."""
    source, target = str(source_thread_id), str(target_thread_id)
    for checkpoint_ns in await store.namespaces_of(source):
        origin = store.namespace(source, checkpoint_ns)
        destination = store.namespace(target, checkpoint_ns)
        async for folder in origin.iter_sessions():
            checkpoint_id = checkpoint_id_of(folder)
            if checkpoint_id is None:
                continue
            record, writes = await asyncio.gather(
                origin.load_bytes(folder, CHECKPOINT), origin.load_bytes(folder, WRITES)
            )
            if writes is not None:
                await destination.store_bytes(folder, WRITES, writes)
            if record is not None:
                await destination.store_bytes(folder, CHECKPOINT, record)
                run_id = _run_of(store.serde, unpack_record(record))
                if run_id:
                    await store.index_run(run_id, target, checkpoint_ns, checkpoint_id)


async def prune(store: CheckpointStore, thread_ids: Sequence[str], strategy: str) -> None:
    """Keep each namespace's latest checkpoint (``"keep_latest"``) or delete the threads
    (``"delete"``); another strategy raises InvalidArgumentError."""
    if strategy not in ("keep_latest", "delete"):
        raise invalid(f"strategy must be 'keep_latest' or 'delete', got {strategy!r}")
    for thread_id in [str(t) for t in thread_ids]:
        if strategy == "delete":
            await store.threads.delete_session(thread_id)
            continue
        for checkpoint_ns in await store.namespaces_of(thread_id):
            namespace = store.namespace(thread_id, checkpoint_ns)
            latest = await store.latest(namespace, thread_id, checkpoint_ns)
            if latest is None:
                continue
            keep = folder_of(latest.config["configurable"]["checkpoint_id"])
            older = [f for f in await namespace.list_sessions() if f != keep]
            if older:
                await namespace.delete_sessions(older)


def _run_of(serde: SerializerProtocol, record: Record) -> str | None:
    run_id = serde.loads_typed(record.metadata).get("run_id")
    return run_id if isinstance(run_id, str) else None
