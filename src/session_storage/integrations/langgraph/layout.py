"""Where a :class:`~.saver.StorageSaver` keeps things, and in which bytes.

Under the storage's root::

    threads/<thread_id>/ns-<checkpoint_ns>/<folder>/checkpoint   one per checkpoint
    threads/<thread_id>/ns-<checkpoint_ns>/<folder>/writes       its pending writes
    threads/<thread_id>/ns-<checkpoint_ns>/latest/checkpoint     the newest, in full
    runs/<run_id>/<entry>                                        checkpoints of a run

``<folder>`` is the checkpoint id with every hex digit replaced by its complement
(``0``<->``f``, ``1``<->``e``, ...). Checkpoint ids are uuid6, time-ordered, so the
folders of one namespace list newest first: ``list(before=..., limit=n)`` starts right
after ``before`` and reads ``n`` checkpoints, however long the history. ``latest``
(not a hex name) lists after every folder.

A checkpoint object holds the checkpoint, its metadata, its parent's id and, per
channel, a locator of its value with the bytes that checkpoint added (see
:mod:`.deltas`: a value is stored once, a growing list as what it gained). The
``latest`` object holds the same for the namespace's newest checkpoint plus every value
in full, so reading the newest checkpoint is one GET, then a listing of its folder (and
its writes); it is replaced by a conditional write that only a newer checkpoint wins,
and a namespace without one (written before it existed, or after a maintenance call
removed it) is read from its newest folder. The writes object holds every write of every
task at that checkpoint. All are msgpack containers around the values as the saver's
serializer typed them, so any ``serde`` (an encrypting one included) decides what is
readable. Checkpoint objects of the first format (every value in full, no locators) are
read as they are.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, NamedTuple

import ormsgpack

from .deltas import Locator, Part

__all__ = [
    "CHECKPOINT",
    "LATEST",
    "RUNS",
    "THREADS",
    "WRITES",
    "Record",
    "StoredWrite",
    "checkpoint_id_of",
    "folder_of",
    "namespace_key",
    "namespace_of",
    "pack_head",
    "pack_record",
    "pack_run_entry",
    "pack_writes",
    "run_entry_name",
    "unpack_head",
    "unpack_record",
    "unpack_run_entry",
    "unpack_writes",
]

THREADS = "threads"
RUNS = "runs"
CHECKPOINT = "checkpoint"
WRITES = "writes"
LATEST = "latest"
"""The folder of a namespace's newest checkpoint in full (not a checkpoint folder)."""
_FORMAT = 2
"""Checkpoint objects without a format are the first one: every value in full."""
_NAMESPACE_PREFIX = "ns-"

_ID = re.compile(r"[0-9a-f-]+")
_COMPLEMENT = str.maketrans("0123456789abcdef", "fedcba9876543210")

Typed = tuple[str, bytes]
"""A value as ``serde.dumps_typed`` gives it."""


def folder_of(checkpoint_id: str) -> str | None:
    """The folder name of a checkpoint, or None if ``checkpoint_id`` is not a
    lowercase hex uuid (LangGraph's ids always are)."""
    return checkpoint_id.translate(_COMPLEMENT) if _ID.fullmatch(checkpoint_id) else None


def checkpoint_id_of(folder: str) -> str | None:
    """The checkpoint id of a folder name; None for a name this layout never writes."""
    return folder_of(folder)  # the complement is its own inverse


def namespace_key(checkpoint_ns: str) -> str:
    """The folder of a checkpoint namespace (``""``, the root graph's, included)."""
    return _NAMESPACE_PREFIX + checkpoint_ns


def namespace_of(key: str) -> str | None:
    """The namespace of a folder name; None for a name this layout never writes."""
    return key[len(_NAMESPACE_PREFIX) :] if key.startswith(_NAMESPACE_PREFIX) else None


class Record(NamedTuple):
    """One stored checkpoint, its parts still typed by the serializer."""

    checkpoint: Typed
    """The checkpoint without its ``channel_values``."""
    metadata: Typed
    parent_id: str | None
    locators: dict[str, Locator]
    """Channel -> where its value is, for the channels of ``channel_versions`` that have
    one; a locator without parts means ``full`` holds the value."""
    pieces: dict[str, bytes]
    """Channel -> the bytes this checkpoint added to its value (:mod:`.deltas`)."""
    full: dict[str, Typed]
    """Channel -> the whole value, for locators without parts."""


class StoredWrite(NamedTuple):
    """One pending write as stored: who wrote what to which channel."""

    task_id: str
    idx: int
    """Position in the task's writes; negative for the special channels
    (``WRITES_IDX_MAP``), which a later write replaces."""
    channel: str
    value: Typed
    task_path: str


def pack_record(record: Record) -> bytes:
    return ormsgpack.packb(_fields(record))


def unpack_record(data: bytes) -> Record:
    raw: dict[str, Any] = ormsgpack.unpackb(data)
    if "v" not in raw:  # the first format: every value in full
        full = {k: _typed(v) for k, v in raw["values"].items()}
        return Record(
            _typed(raw["checkpoint"]),
            _typed(raw["metadata"]),
            raw["parent"],
            {k: Locator(kind, None, ()) for k, (kind, _) in full.items()},
            {},
            full,
        )
    return _record(raw)


def pack_head(checkpoint_id: str, record: Record) -> bytes:
    """The ``latest`` object: ``record`` (whose ``full`` has every value) and its id."""
    return ormsgpack.packb({**_fields(record), "id": checkpoint_id})


def unpack_head(data: bytes) -> tuple[str, Record]:
    raw: dict[str, Any] = ormsgpack.unpackb(data)
    return str(raw["id"]), _record(raw)


def _fields(record: Record) -> dict[str, Any]:
    return {
        "v": _FORMAT,
        "checkpoint": list(record.checkpoint),
        "metadata": list(record.metadata),
        "parent": record.parent_id,
        "values": {
            k: [loc.kind, loc.items, [list(p) for p in loc.parts]]
            for k, loc in record.locators.items()
        },
        "pieces": record.pieces,
        "full": {k: list(v) for k, v in record.full.items()},
    }


def _record(raw: dict[str, Any]) -> Record:
    if raw.get("v") != _FORMAT:
        raise ValueError(
            f"a LangGraph checkpoint of format {raw.get('v')!r}: this release reads "
            f"formats 1 and {_FORMAT} (a newer release wrote it?)"
        )
    return Record(
        _typed(raw["checkpoint"]),
        _typed(raw["metadata"]),
        raw["parent"],
        {
            k: Locator(str(kind), count, tuple(Part(str(h), i, e) for h, i, e in parts))
            for k, (kind, count, parts) in raw["values"].items()
        },
        {k: bytes(v) for k, v in raw["pieces"].items()},
        {k: _typed(v) for k, v in raw["full"].items()},
    )


def pack_writes(writes: list[StoredWrite]) -> bytes:
    return ormsgpack.packb(
        [[w.task_id, w.idx, w.channel, list(w.value), w.task_path] for w in writes]
    )


def unpack_writes(data: bytes) -> list[StoredWrite]:
    rows: list[list[Any]] = ormsgpack.unpackb(data)
    return [StoredWrite(t, i, c, _typed(v), p) for t, i, c, v, p in rows]


def run_entry_name(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> str:
    """The name of a run's entry for one checkpoint: the same checkpoint, the same name."""
    return hashlib.sha256(pack_run_entry(thread_id, checkpoint_ns, checkpoint_id)).hexdigest()


def pack_run_entry(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> bytes:
    return ormsgpack.packb([thread_id, checkpoint_ns, checkpoint_id])


def unpack_run_entry(data: bytes) -> tuple[str, str, str]:
    thread_id, checkpoint_ns, checkpoint_id = ormsgpack.unpackb(data)
    return str(thread_id), str(checkpoint_ns), str(checkpoint_id)


def _typed(pair: list[Any]) -> Typed:
    kind, data = pair
    return str(kind), bytes(data)
