"""A LangGraph thread as its checkpoints, and one checkpoint with its channel values.

Read through the integration's public reader, :class:`StorageSaver` (``alist`` and
``aget_tuple``), with LangGraph's default serializer: a store written with another
``serde`` (an encrypting one) shows the errors that serializer raises. Costs on an
object store: a thread page is one LIST per namespace page plus two GETs per
checkpoint shown (at most :data:`CHECKPOINT_PAGE`); a checkpoint four GETs (it and its
parent, each with its writes).

Needs the ``langgraph`` extra; without it the first call raises
MissingDependencyError naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..storage import SessionStorage
from .store import NamesPage, names_page
from .values import jsonable

__all__ = [
    "CHECKPOINT_PAGE",
    "ChannelChange",
    "CheckpointRow",
    "CheckpointView",
    "ThreadView",
    "checkpoint_view",
    "thread_view",
    "threads_of",
    "threads_page",
]

CHECKPOINT_PAGE = 20
"""Checkpoints on one page of a thread."""


@dataclass(frozen=True)
class CheckpointRow:
    id: str
    ts: str
    step: Any
    source: Any
    parent_id: str | None
    writes: list[str]
    """The channels its pending writes go to, in order."""


@dataclass(frozen=True)
class ThreadView:
    thread_id: str
    namespace: str
    namespaces: list[str]
    checkpoints: list[CheckpointRow]
    before: str | None
    next_before: str | None
    """The ``before`` of the next older page, or None on the last one."""


@dataclass(frozen=True)
class ChannelChange:
    channel: str
    change: str
    """``added``, ``changed`` or ``removed`` against the parent checkpoint."""
    value: Any
    parent_value: Any


@dataclass(frozen=True)
class CheckpointView:
    thread_id: str
    namespace: str
    row: CheckpointRow
    metadata: Any
    values: dict[str, Any]
    """Channel name -> value, as JSON."""
    writes: list[tuple[str, str, Any]]
    """Pending writes: task id, channel, value."""
    changes: list[ChannelChange]
    """What differs from the parent (every channel, as added, for the first one)."""


def _saver(storage: SessionStorage) -> Any:
    from ..integrations.langgraph import StorageSaver

    return StorageSaver(storage)


def _config(thread_id: str, namespace: str, checkpoint_id: str | None = None) -> Any:
    configurable = {"thread_id": thread_id, "checkpoint_ns": namespace}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def _row(found: Any) -> CheckpointRow:
    metadata = found.metadata or {}
    parent = (found.parent_config or {}).get("configurable", {}).get("checkpoint_id")
    writes = [str(w[1]) for w in found.pending_writes or ()]
    return CheckpointRow(
        found.checkpoint["id"],
        str(found.checkpoint.get("ts", "")),
        jsonable(metadata.get("step")),
        jsonable(metadata.get("source")),
        parent,
        writes,
    )


def threads_of(storage: SessionStorage) -> SessionStorage:
    """The storage whose sessions are the thread ids."""
    return storage.narrow("threads")


async def threads_page(
    storage: SessionStorage, prefix: str = "", after: str | None = None
) -> NamesPage:
    """A page of thread ids, in key order."""
    return await names_page(threads_of(storage), prefix, after)


async def thread_view(
    storage: SessionStorage, thread_id: str, namespace: str = "", before: str | None = None
) -> ThreadView:
    """The checkpoints of one namespace of a thread, newest first, a page at a time
    (those older than ``before``). A missing thread has none."""
    folders = await threads_of(storage).narrow(thread_id).list_sessions(limit=100)
    namespaces = [f[3:] for f in folders if f.startswith("ns-")]
    saver = _saver(storage)
    found = [
        _row(t)
        async for t in saver.alist(
            _config(thread_id, namespace),
            before=_config(thread_id, namespace, before) if before else None,
            limit=CHECKPOINT_PAGE + 1,
        )
    ]
    more = len(found) > CHECKPOINT_PAGE
    rows = found[:CHECKPOINT_PAGE]
    return ThreadView(
        thread_id, namespace, namespaces, rows, before, rows[-1].id if more and rows else None
    )


def _changes(values: dict[str, Any], parent: dict[str, Any]) -> list[ChannelChange]:
    out = []
    for channel in sorted(values.keys() | parent.keys()):
        if channel not in parent:
            out.append(ChannelChange(channel, "added", values[channel], None))
        elif channel not in values:
            out.append(ChannelChange(channel, "removed", None, parent[channel]))
        elif values[channel] != parent[channel]:
            out.append(ChannelChange(channel, "changed", values[channel], parent[channel]))
    return out


async def checkpoint_view(
    storage: SessionStorage, thread_id: str, namespace: str, checkpoint_id: str
) -> CheckpointView | None:
    """One checkpoint with its channel values, pending writes and the difference from
    its parent; None if there is no such checkpoint."""
    saver = _saver(storage)
    found = await saver.aget_tuple(_config(thread_id, namespace, checkpoint_id))
    if found is None:
        return None
    row = _row(found)
    values = jsonable(found.checkpoint.get("channel_values", {}))
    parent_values: dict[str, Any] = {}
    if row.parent_id:
        parent = await saver.aget_tuple(_config(thread_id, namespace, row.parent_id))
        if parent is not None:
            parent_values = jsonable(parent.checkpoint.get("channel_values", {}))
    writes = [(str(w[0]), str(w[1]), jsonable(w[2])) for w in found.pending_writes or ()]
    return CheckpointView(
        thread_id,
        namespace,
        row,
        jsonable(found.metadata),
        values,
        writes,
        _changes(values, parent_values),
    )
