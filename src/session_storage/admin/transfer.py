"""Copy every session and every file from one storage to another (file -> s3, say).

Files are copied byte for byte, ``_metadata`` stamps included, so a copy there and
back gives the same bytes. A destination file counts as identical when its bytes are
equal to the source's. What that costs: both roots are listed once (one LIST per
1000 files on object stores, giving every size); every source file is read once; a
destination file whose size equals the source's is read too and compared; only files
that are missing or differ are written. Files of different sizes are never read on the
destination side.

Event streams are copied as units, each a consistent snapshot with its tail written
last (see :mod:`.stream_copy`): first every listed file other than a stream's tail,
then each stream's tail, after the segments it names that the listing did not have
(sealed since). On a source nobody writes to that costs nothing more; under appends,
one read of each segment sealed since the listing.

A file deleted at the source between the listing and its read is skipped and counted
as ``vanished``; a file that cannot be read raises (the copy is not reported done).

With codecs (encryption, compression) on either side every file is decoded at the
source and encoded for its place at the destination, where it is bound to its new
path; listed sizes are then sizes of envelopes, not of bodies, so every destination
file that exists is read and compared.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

from ..concurrency.bounded import run_bounded
from ..core.arguments import check_int, invalid
from ..storage import SessionStorage
from .copier import Copier, CopyProgress, CopyResult
from .stream_copy import ATTEMPTS, StreamCopies

__all__ = ["CopyProgress", "CopyResult", "copy_sessions"]

DEFAULT_COPY_CONCURRENCY = 8


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
    deleted. A file deleted at the source while the copy runs is skipped and counted
    in ``vanished``. Each event stream is copied as a consistent snapshot, the first
    k events of the source stream, even while other processes append to it; one
    truncated or rewritten at the source faster than it can be copied raises
    ConflictError naming the session and stream (after a few tries), one whose files
    are damaged CorruptDataError. ``progress`` is called with a CopyProgress after each
    file. Raises the first backend error; files copied before it stay copied, and
    running the copy again resumes (identical files are skipped). At most
    ``max_concurrency`` files are copied at once; ``concurrency`` is its deprecated
    former name. A bad argument raises InvalidArgumentError before anything is read.
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
    return await _copy(source, destination, limit, progress, ATTEMPTS)


async def _copy(
    source: SessionStorage,
    destination: SessionStorage,
    limit: int,
    progress: Callable[[CopyProgress], None] | None,
    attempts: int,
) -> CopyResult:
    wanted = [
        (m["session_id"], m["filename"], m["size"]) async for m in source.iter_file_metadata()
    ]
    wanted.sort()
    there = {
        (m["session_id"], m["filename"]): m["size"] async for m in destination.iter_file_metadata()
    }
    copier = Copier(
        source,
        destination,
        there,
        # Listed sizes are stored sizes: with codecs they say nothing about the bodies.
        coded=_coded(source) or _coded(destination),
        files=len(wanted),
        total_bytes=sum(size for _, _, size in wanted),
        progress=progress,
    )
    streams = StreamCopies(wanted, attempts)

    async def copy_one(item: tuple[str, str, int]) -> None:
        session_id, filename, size = item
        data = await copier.copy_file(session_id, filename, size)
        if data is not None:
            streams.note(session_id, filename, data)

    # Tails last: each is copied after every segment it names, so a destination tail
    # never names a segment the destination does not have.
    files = [item for item in wanted if not streams.holds_tail(item[0], item[1])]
    await run_bounded(copy_one, files, limit)
    await run_bounded(lambda stream: streams.copy(copier, *stream), streams.streams, limit)
    return copier.result(sessions=len({session_id for session_id, _, _ in wanted}))


def _coded(storage: SessionStorage) -> bool:
    """Whether ``storage`` passes every body through codecs (encryption, compression)."""
    settings = storage.settings
    return settings.keyring is not None or settings.compression_codec is not None
