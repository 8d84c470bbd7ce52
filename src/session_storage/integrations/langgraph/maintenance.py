"""Deleting, copying and pruning a :class:`~.saver.StorageSaver`'s threads.

Each is a function of a :class:`~.checkpoints.CheckpointStore`, run in whatever event
loop its storage runs in. Nothing missing is an error: an unknown thread, run or
checkpoint is skipped.

A checkpoint's values may be pieces held by older checkpoints (:mod:`.deltas`): before
deleting checkpoints, every kept one whose values need a deleted one is rewritten with
its values in full, then the namespace's ``latest`` object (whose locators may name
them too) is removed or rewritten, and only then are the checkpoints deleted; an
interruption leaves more bytes, never a checkpoint that cannot be read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from langgraph.checkpoint.serde.base import SerializerProtocol

from ...core.arguments import invalid
from ...storage import SessionStorage
from .checkpoints import CheckpointStore
from .deltas import Locator
from .layout import (
    CHECKPOINT,
    LATEST,
    WRITES,
    Record,
    checkpoint_id_of,
    folder_of,
    pack_head,
    pack_record,
    unpack_record,
    unpack_run_entry,
)
from .reading import load_records, values_of

__all__ = ["copy_thread", "delete_for_runs", "delete_thread", "prune"]


async def delete_thread(store: CheckpointStore, thread_id: object) -> None:
    """Delete every checkpoint and write of the thread."""
    store.cache.forget(str(thread_id))
    await store.threads.delete_session(str(thread_id))


async def delete_for_runs(store: CheckpointStore, run_ids: Sequence[str]) -> None:
    """Delete every checkpoint (with its writes) whose metadata names one of ``run_ids``."""
    wanted = {str(run_id) for run_id in run_ids}
    doomed: dict[tuple[str, str], set[str]] = {}
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
                doomed.setdefault((thread_id, checkpoint_ns), set()).add(checkpoint_id)
    for (thread_id, checkpoint_ns), ids in sorted(doomed.items()):
        store.cache.forget(thread_id)
        namespace = store.namespace(thread_id, checkpoint_ns)
        await _keep_readable(namespace, ids)
        await namespace.delete_session(LATEST)
        await namespace.delete_sessions([f for f in map(folder_of, sorted(ids)) if f])
    for run_id in sorted(wanted):
        await store.runs.delete_session(run_id)


async def _keep_readable(namespace: SessionStorage, doomed: set[str]) -> None:
    """Rewrite in full every checkpoint not in ``doomed`` whose values need one that is."""
    names = [n for n in await namespace.list_sessions() if checkpoint_id_of(n) is not None]
    known = await load_records(namespace, [i for i in map(checkpoint_id_of, names) if i])
    for checkpoint_id, record in sorted(known.items()):
        needs = {p.holder for loc in record.locators.values() for p in loc.parts}
        if checkpoint_id in doomed or not needs & doomed:
            continue
        values = await values_of(namespace, checkpoint_id, record, known)
        folder = folder_of(checkpoint_id)
        assert folder is not None
        await namespace.store_bytes(folder, CHECKPOINT, pack_record(_in_full(record, values)))


def _in_full(record: Record, values: dict[str, tuple[str, bytes]]) -> Record:
    """``record`` holding its own values whole; its pieces stay, for checkpoints that
    still need them."""
    locators = {k: Locator(loc.kind, None, ()) for k, loc in record.locators.items()}
    return record._replace(locators=locators, full=values)


async def copy_thread(
    store: CheckpointStore, source_thread_id: object, target_thread_id: object
) -> None:
    """Copy every checkpoint and write of one thread to another, ids unchanged."""
    source, target = str(source_thread_id), str(target_thread_id)
    store.cache.forget(target)
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
        # Last: the copied ``latest`` names pieces the folders above now hold.
        head = await origin.load_bytes(LATEST, CHECKPOINT)
        if head is not None:
            await destination.store_bytes(LATEST, CHECKPOINT, head)


async def prune(store: CheckpointStore, thread_ids: Sequence[str], strategy: str) -> None:
    """Keep each namespace's latest checkpoint (``"keep_latest"``) or delete the threads
    (``"delete"``); another strategy raises InvalidArgumentError."""
    if strategy not in ("keep_latest", "delete"):
        raise invalid(f"strategy must be 'keep_latest' or 'delete', got {strategy!r}")
    for thread_id in [str(t) for t in thread_ids]:
        store.cache.forget(thread_id)
        if strategy == "delete":
            await store.threads.delete_session(thread_id)
            continue
        for checkpoint_ns in await store.namespaces_of(thread_id):
            namespace = store.namespace(thread_id, checkpoint_ns)
            latest = await store.latest(namespace, thread_id, checkpoint_ns)
            if latest is None:
                continue
            checkpoint_id = latest.config["configurable"]["checkpoint_id"]
            keep = folder_of(checkpoint_id)
            assert keep is not None
            older = [f for f in await namespace.list_sessions() if f not in (keep, LATEST)]
            if not older:
                continue
            data = await namespace.load_bytes(keep, CHECKPOINT)
            if data is not None:
                record = unpack_record(data)
                values = await values_of(namespace, checkpoint_id, record, {})
                whole = _in_full(record, values)._replace(pieces={})
                await namespace.store_bytes(keep, CHECKPOINT, pack_record(whole))
                await namespace.store_bytes(LATEST, CHECKPOINT, pack_head(checkpoint_id, whole))
            store.cache.forget(thread_id)
            await namespace.delete_sessions(older)


def _run_of(serde: SerializerProtocol, record: Record) -> str | None:
    run_id = serde.loads_typed(record.metadata).get("run_id")
    return run_id if isinstance(run_id, str) else None
