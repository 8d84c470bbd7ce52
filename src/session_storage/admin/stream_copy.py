"""Copying an event stream as a unit: a consistent snapshot, its tail written last.

A stream is its tail and the chain of sealed segments the tail names (see
:mod:`session_storage.events.layout`); no other file of its folder is data. Copied
file by file from one listing, a stream that a writer appends to breaks: the tail,
read after the listing, names segments sealed after it, which the copy never had. So
:mod:`.transfer` copies the files of a stream it listed with the session's other files
(sealed segments never change: any copy of one is right) and then, per stream,
:meth:`StreamCopies.copy`:

1. reads the source's tail;
2. walks the chain it names, down to index 0: a segment copied from the listing is
   known already; one sealed since is read and copied now;
3. writes the tail last, so the destination's tail only ever names segments already
   there: a reader of the destination sees its old stream or the new one, whole.

The copy is then the first k events of the source stream, k its length when the tail
was read. Appends never remove a segment, so under appends alone one pass always
succeeds. A truncate or pop at the source may remove a segment the tail read names:
then the tail is read again and the walk starts over, at most :data:`ATTEMPTS`
times, after which :class:`ConflictError` names the session and stream (and the
destination's stream is left as it was: segments written by failed attempts are on
no chain there, so they are never read). Reading the same tail twice while a segment
it names is missing means the source stream is damaged: :class:`CorruptDataError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..core.errors import ConflictError, CorruptDataError, Place, SessionStorageError
from ..core.keys import encode_filename, encode_segment
from ..events.documents import decode_doc
from ..events.layout import SEGMENT_SIZE, TAIL_NAME, Link, parse_segment_name
from .copier import Copier

__all__ = ["ATTEMPTS", "StreamCopies"]

ATTEMPTS = 10
"""Reads of one stream's tail before a copy gives up on a stream rewritten meanwhile."""


@dataclass(frozen=True, slots=True)
class _Sealed:
    """What a chain walk needs of a sealed segment: where it sits, what it links to."""

    first: int
    id: str
    prev: Link | None
    size: int


class _Stale(Exception):
    """A segment the tail names is gone at the source: the tail was replaced."""


class StreamCopies:
    """The event streams of one copy: those whose tail the listing had, and what is
    known of their sealed segments (keyed by session id and filename)."""

    def __init__(self, listed: Iterable[tuple[str, str, int]], attempts: int = ATTEMPTS) -> None:
        self.streams = sorted(
            (session_id, filename[: -len(TAIL_NAME) - 1], size)
            for session_id, filename, size in listed
            if is_tail(filename)
        )
        """``(session id, stream, listed size of its tail)`` of every listed tail."""
        self._folders = {(session_id, stream) for session_id, stream, _ in self.streams}
        self._sealed: dict[tuple[str, str], _Sealed] = {}
        self._attempts = attempts

    def holds_tail(self, session_id: str, filename: str) -> bool:
        """Whether ``filename`` is the tail of one of these streams (copied by :meth:`copy`)."""
        return is_tail(filename) and (session_id, filename[: -len(TAIL_NAME) - 1]) in self._folders

    def note(self, session_id: str, filename: str, data: bytes) -> None:
        """Remember a segment of a listed stream, copied with the other files.

        One that does not parse is not remembered: if the chain needs it, the walk
        reads it again and reports it.
        """
        folder, _, name = filename.rpartition("/")
        if (session_id, folder) not in self._folders or parse_segment_name(name) is None:
            return
        try:
            doc, _ = decode_doc(data)
        except ValueError:
            return
        self._sealed[session_id, filename] = _Sealed(doc.first, doc.id, doc.prev, len(doc.events))

    async def copy(self, copier: Copier, session_id: str, stream: str, listed_size: int) -> None:
        """Copy the stream as a consistent snapshot, its tail last (see the module).

        A tail gone at the source since the listing counts as vanished. Raises
        ConflictError when :data:`ATTEMPTS` tails in a row each named a segment removed
        before it was read, CorruptDataError for a damaged source stream.
        """
        tail_name = f"{stream}/{TAIL_NAME}"
        seen: bytes | None = None
        for _ in range(self._attempts):
            raw = await copier.source.load_bytes(session_id, tail_name)
            if raw is None:  # the stream (or its session) was deleted since the listing
                copier.vanished += 1
                copier.done(listed_size)
                return
            try:
                await self._walk(copier, session_id, stream, raw)
            except _Stale:
                if raw == seen:  # the same tail twice: the segment is lost
                    why = "a segment its tail names is missing at the source"
                    raise _error(CorruptDataError, copier, session_id, stream, why) from None
                seen = raw
                copier.stream_retries += 1
                continue
            await copier.put(session_id, tail_name, raw)
            copier.streams += 1
            copier.done(listed_size)
            return
        why = (
            f"the source stream was truncated or rewritten under {self._attempts} reads "
            "in a row, so no consistent snapshot of it could be taken; the destination's "
            "stream was left as it was"
        )
        raise _error(ConflictError, copier, session_id, stream, why)

    async def _walk(self, copier: Copier, session_id: str, stream: str, raw: bytes) -> None:
        """Copy every segment the tail ``raw`` chains to that is not copied yet.

        Raises _Stale for a segment gone at the source, CorruptDataError for a tail,
        segment or chain that is not what the layout says.
        """
        try:
            tail, _ = decode_doc(raw)
        except ValueError as exc:
            why = f"its tail is not an event segment: {exc}"
            raise _error(CorruptDataError, copier, session_id, stream, why) from exc
        link, above = tail.prev, tail.first
        while above > 0:
            if link is None or link.first != above - SEGMENT_SIZE:
                why = f"the segment chain breaks below index {above}"
                raise _error(CorruptDataError, copier, session_id, stream, why)
            filename = f"{stream}/{link.name}"
            sealed = self._sealed.get((session_id, filename))
            if sealed is None:  # sealed after the listing (or gone since)
                sealed = await self._fetch(copier, session_id, stream, filename)
            if (sealed.first, sealed.id, sealed.size) != (link.first, link.id, SEGMENT_SIZE):
                why = f"segment {link.name!r} is not the sealed segment its name and link say"
                raise _error(CorruptDataError, copier, session_id, stream, why)
            link, above = sealed.prev, sealed.first

    async def _fetch(self, copier: Copier, session_id: str, stream: str, filename: str) -> _Sealed:
        """Read a segment the listing did not have and copy it; _Stale if it is gone."""
        data = await copier.source.load_bytes(session_id, filename)
        if data is None:
            raise _Stale
        try:
            doc, _ = decode_doc(data)
        except ValueError as exc:
            why = f"segment {filename.rpartition('/')[2]!r} is not an event segment: {exc}"
            raise _error(CorruptDataError, copier, session_id, stream, why) from exc
        copier.found(len(data))
        await copier.put(session_id, filename, data)
        copier.done(len(data))
        sealed = _Sealed(doc.first, doc.id, doc.prev, len(doc.events))
        self._sealed[session_id, filename] = sealed
        return sealed


def is_tail(filename: str) -> bool:
    """Whether ``filename`` is the tail of an event stream (``<stream>/tail.json``)."""
    folder, slash, name = filename.rpartition("/")
    return bool(slash and folder) and name == TAIL_NAME


def _error(
    cls: type[SessionStorageError],
    copier: Copier,
    session_id: str,
    stream: str,
    why: str,
) -> SessionStorageError:
    """A ``cls`` error naming the source backend, the session and the stream."""
    source = copier.source
    url = f"{source.url}/{encode_segment(session_id, 'session id')}/{encode_filename(stream)}"
    place = Place(source.backend, "copy event stream of", session_id, stream, url)
    return place.error(cls, why)
