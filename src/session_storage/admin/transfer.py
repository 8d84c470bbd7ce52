"""Copy every session and every file from one storage to another (file -> s3, say).

Files are copied byte for byte, ``_metadata`` stamps included, so a copy there and
back gives the same bytes. A destination file counts as identical when its bytes are
equal to the source's. What that costs: both roots are listed once (one LIST per
1000 files on object stores, giving every size); every source file is read once; a
destination file whose size equals the source's is read too and compared; only files
that are missing or differ are written. Files of different sizes are never read on the
destination side.

With codecs (encryption, compression) on either side every file is decoded at the
source and encoded for its place at the destination, where it is bound to its new
path; listed sizes are then sizes of envelopes, not of bodies, so every destination
file that exists is read and compared.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

from ..concurrency.bounded import run_bounded
from ..core.arguments import check_int, invalid
from ..storage import SessionStorage

__all__ = ["CopyProgress", "CopyResult", "copy_sessions"]

DEFAULT_COPY_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What a copy did."""

    sessions: int
    """Sessions found at the source."""
    files: int
    """Files found at the source."""
    copied: int
    """Files written to the destination (missing there, or different)."""
    skipped: int
    """Files already identical at the destination."""
    vanished: int
    """Files deleted at the source between listing and reading them."""
    bytes_copied: int
    """Bytes written to the destination."""


@dataclass(frozen=True, slots=True)
class CopyProgress:
    """Where a running copy is; passed to the progress callback after each file."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


async def copy_sessions(
    source: SessionStorage,
    destination: SessionStorage,
    *,
    max_concurrency: int = DEFAULT_COPY_CONCURRENCY,
    progress: Callable[[CopyProgress], None] | None = None,
    concurrency: int | None = None,
) -> CopyResult:
    """Copy every file of every session under ``source`` to ``destination``.

    Sessions and files are created at the same ids and names; files already at the
    destination with identical bytes are skipped; nothing at the destination is
    deleted. ``progress`` is called with a CopyProgress after each file. Raises the
    first backend error; files copied before it stay copied, and running the copy
    again resumes (identical files are skipped). At most ``max_concurrency`` files
    are copied at once; ``concurrency`` is its deprecated former name. A bad argument
    raises InvalidArgumentError before anything is read.
    """
    if concurrency is not None:
        warnings.warn(
            "copy_sessions(concurrency=...) is deprecated; use max_concurrency=...",
            DeprecationWarning,
            stacklevel=2,
        )
        max_concurrency = concurrency
    limit = check_int("max_concurrency", max_concurrency, 1)
    for name, value in (("source", source), ("destination", destination)):
        if not isinstance(value, SessionStorage):
            raise invalid(f"{name} must be a SessionStorage, got {type(value).__name__}")
    if progress is not None and not callable(progress):
        raise invalid(f"progress must be callable or None, got {type(progress).__name__}")
    wanted = [
        (m["session_id"], m["filename"], m["size"]) async for m in source.iter_file_metadata()
    ]
    wanted.sort()
    there = {
        (m["session_id"], m["filename"]): m["size"] async for m in destination.iter_file_metadata()
    }
    total_bytes = sum(size for _, _, size in wanted)
    # Listed sizes are stored sizes: with codecs they say nothing about the bodies.
    coded = _coded(source) or _coded(destination)
    counts = {"copied": 0, "skipped": 0, "vanished": 0, "bytes": 0, "done": 0, "done_bytes": 0}

    async def copy_one(session_id: str, filename: str, size: int) -> None:
        data = await source.load_bytes(session_id, filename)
        if data is None:
            counts["vanished"] += 1
        elif _worth_comparing(there.get((session_id, filename)), len(data), coded) and (
            await destination.load_bytes(session_id, filename) == data
        ):
            counts["skipped"] += 1
        else:
            await destination.store_bytes(session_id, filename, data)
            counts["copied"] += 1
            counts["bytes"] += len(data)
        counts["done"] += 1
        counts["done_bytes"] += size
        if progress is not None:
            progress(CopyProgress(counts["done"], len(wanted), counts["done_bytes"], total_bytes))

    await run_bounded(lambda item: copy_one(*item), wanted, limit)
    return CopyResult(
        sessions=len({session_id for session_id, _, _ in wanted}),
        files=len(wanted),
        copied=counts["copied"],
        skipped=counts["skipped"],
        vanished=counts["vanished"],
        bytes_copied=counts["bytes"],
    )


def _coded(storage: SessionStorage) -> bool:
    """Whether ``storage`` passes every body through codecs (encryption, compression)."""
    settings = storage.settings
    return settings.keyring is not None or settings.compression_codec is not None


def _worth_comparing(stored_size: int | None, body_size: int, coded: bool) -> bool:
    """Whether the destination file may equal the source's body: it exists, and (sizes
    being comparable without codecs) has the body's size."""
    return stored_size is not None and (coded or stored_size == body_size)
