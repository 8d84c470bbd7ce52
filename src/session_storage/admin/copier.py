"""One copy between two storages: how a file is copied, what is counted, the progress.

:mod:`.transfer` decides what to copy and in which order; :mod:`.stream_copy` copies
event streams as units; both copy each file through :class:`Copier`, which compares
it with the destination's, writes it when it is missing or differs, and counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..storage import SessionStorage

__all__ = ["CopyProgress", "CopyResult", "Copier"]


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What a copy did."""

    sessions: int
    """Sessions found at the source."""
    files: int
    """Files found at the source: those listed, and the sealed segments of event
    streams appended to after the listing, which their tails named."""
    copied: int
    """Files written to the destination (missing there, or different)."""
    skipped: int
    """Files already identical at the destination."""
    vanished: int
    """Files deleted at the source between listing and reading them (not copied)."""
    bytes_copied: int
    """Bytes written to the destination."""
    streams: int = 0
    """Event streams copied, each as a consistent snapshot (tail written last)."""
    stream_retries: int = 0
    """Times a stream's tail was read again because a segment it named was removed
    (a truncate or pop at the source) while the stream was being copied."""


@dataclass(frozen=True, slots=True)
class CopyProgress:
    """Where a running copy is; passed to the progress callback after each file.

    ``files_total`` and ``bytes_total`` grow when a stream's tail names segments
    sealed after the listing.
    """

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


class Copier:
    """Copies files from ``source`` to ``destination`` and counts what it did.

    ``there`` holds the destination's listed sizes; ``coded`` says whether codecs
    make listed sizes incomparable with bodies (then every existing file is compared).
    """

    def __init__(
        self,
        source: SessionStorage,
        destination: SessionStorage,
        there: dict[tuple[str, str], int],
        *,
        coded: bool,
        files: int,
        total_bytes: int,
        progress: Callable[[CopyProgress], None] | None,
    ) -> None:
        self.source = source
        self.destination = destination
        self._there = there
        self._coded = coded
        self._progress = progress
        self.files_total = files
        self.bytes_total = total_bytes
        self.files_done = self.bytes_done = 0
        self.copied = self.skipped = self.vanished = self.bytes_copied = 0
        self.streams = self.stream_retries = 0

    async def copy_file(self, session_id: str, filename: str, size: int) -> bytes | None:
        """Copy one listed file (of ``size`` bytes as listed); its bytes, or ``None``
        if it vanished at the source since the listing (counted, not an error)."""
        data = await self.source.load_bytes(session_id, filename)
        if data is None:
            self.vanished += 1
        else:
            await self.put(session_id, filename, data)
        self.done(size)
        return data

    async def put(self, session_id: str, filename: str, data: bytes) -> None:
        """Give the destination file ``data``, unless its bytes are ``data`` already."""
        stored = self._there.get((session_id, filename))
        # Without codecs a stored size that differs from the body's rules out equality.
        comparable = stored is not None and (self._coded or stored == len(data))
        if comparable and await self.destination.load_bytes(session_id, filename) == data:
            self.skipped += 1
            return
        await self.destination.store_bytes(session_id, filename, data)
        self.copied += 1
        self.bytes_copied += len(data)

    def found(self, size: int) -> None:
        """Count a file the listing did not have (a segment sealed after it)."""
        self.files_total += 1
        self.bytes_total += size

    def done(self, size: int) -> None:
        """One file finished (``size`` as counted in the totals): report progress."""
        self.files_done += 1
        self.bytes_done += size
        if self._progress is not None:
            self._progress(
                CopyProgress(self.files_done, self.files_total, self.bytes_done, self.bytes_total)
            )

    def result(self, sessions: int) -> CopyResult:
        return CopyResult(
            sessions=sessions,
            files=self.files_total,
            copied=self.copied,
            skipped=self.skipped,
            vanished=self.vanished,
            bytes_copied=self.bytes_copied,
            streams=self.streams,
            stream_retries=self.stream_retries,
        )
