"""Reading checkpoint objects back into whole values.

A checkpoint's values may sit in pieces held by older checkpoints of its namespace
(:mod:`.deltas`); their locators name every holder, so a checkpoint's values take one
round trip of GETs beyond its own object, run together, and none for the ``latest``
object or a checkpoint whose values are all its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, MutableMapping

from ...core.errors import CorruptDataError
from ...storage import SessionStorage
from .deltas import ChannelState, Typed, assemble
from .layout import CHECKPOINT, Record, folder_of, unpack_record

__all__ = ["load_records", "state_of", "values_of"]


async def load_records(
    namespace: SessionStorage, checkpoint_ids: Iterable[str]
) -> dict[str, Record]:
    """The records of the checkpoints of ``namespace`` that are stored, read together."""
    ids = sorted(set(checkpoint_ids))
    gate = asyncio.Semaphore(max(1, namespace.max_concurrency))

    async def load(checkpoint_id: str) -> bytes | None:
        folder = folder_of(checkpoint_id)
        if folder is None:
            return None
        async with gate:
            return await namespace.load_bytes(folder, CHECKPOINT)

    found = await asyncio.gather(*(load(i) for i in ids))
    return {i: unpack_record(data) for i, data in zip(ids, found, strict=True) if data is not None}


async def values_of(
    namespace: SessionStorage,
    checkpoint_id: str,
    record: Record,
    known: MutableMapping[str, Record],
) -> dict[str, Typed]:
    """Every value of checkpoint ``checkpoint_id`` (whose record is ``record``), typed.

    ``known`` holds records already read (by checkpoint id); those of missing holders
    are read and added to it. A holder that is not stored, or holds no piece of the
    channel, raises CorruptDataError naming the checkpoint: the store was damaged
    (a checkpoint deleted by hand, say), and a wrong value must not come back.
    """
    known[checkpoint_id] = record
    wanted = {p.holder for loc in record.locators.values() for p in loc.parts} - set(known)
    if wanted:
        known.update(await load_records(namespace, wanted))
    values: dict[str, Typed] = {}
    for channel, locator in record.locators.items():
        if not locator.parts:
            values[channel] = _full(namespace, checkpoint_id, record, channel)
            continue

        def piece(holder: str, channel: str = channel) -> bytes:
            held = known.get(holder)
            if held is None or channel not in held.pieces:
                raise _damaged(
                    namespace, checkpoint_id, f"checkpoint {holder} holds no value of {channel!r}"
                )
            return held.pieces[channel]

        try:
            values[channel] = assemble(locator, piece, f"channel {channel!r}")
        except ValueError as exc:
            if isinstance(exc, CorruptDataError):
                raise
            raise _damaged(namespace, checkpoint_id, str(exc)) from exc
    return values


def state_of(record: Record, values: Mapping[str, Typed]) -> dict[str, ChannelState]:
    """What a child of this checkpoint needs to store only what it changes."""
    return {k: ChannelState(values[k], loc) for k, loc in record.locators.items() if k in values}


def _full(namespace: SessionStorage, checkpoint_id: str, record: Record, channel: str) -> Typed:
    value = record.full.get(channel)
    if value is None:
        raise _damaged(namespace, checkpoint_id, f"no value of {channel!r}")
    return value


def _damaged(namespace: SessionStorage, checkpoint_id: str, why: str) -> CorruptDataError:
    folder = folder_of(checkpoint_id) or checkpoint_id
    return CorruptDataError(
        f"{namespace.backend}: cannot read the values of LangGraph checkpoint "
        f"{checkpoint_id} ({namespace.narrow_path(folder)}): {why}",
        backend=namespace.backend,
        session_id=folder,
        filename=CHECKPOINT,
        url=namespace.narrow_path(folder),
    )
