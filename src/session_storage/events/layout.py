"""Where a session's event streams live, and how their files are named.

Layout under the session folder (``<stream>`` is encoded like a filename, so ``/``
nests streams the way it nests files)::

    <stream>/tail.json                              the open segment: the newest events
    <stream>/seg-000000000000-<nonce>.json          sealed: events 0 .. 127
    <stream>/seg-000000000128-<nonce>.json          sealed: events 128 .. 255, ...

A sealed segment holds exactly :data:`SEGMENT_SIZE` events, starting at a multiple
of it, and is written once and never rewritten. Its name carries its first index
(zero-padded to :data:`INDEX_WIDTH` digits, so key order is index order) and a random
nonce, so two writers sealing the same range never race on a name. Only the segments
on the chain that starts at the tail (each document names the one below it) are
data; any other is garbage left by a writer whose commit failed (see
:mod:`.log`), never read as events.

Stream files are ordinary files of the session: ``list_files`` shows
``<stream>/tail.json`` and ``load_session`` can read one; ``copy_sessions`` copies
them byte for byte. Their names are reserved: a state write onto one is refused
(:func:`check_writable`), since a stamped state there would break the stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.errors import InvalidKeyError

__all__ = [
    "INDEX_WIDTH",
    "MAX_EVENTS",
    "SEGMENT_SIZE",
    "TAIL_NAME",
    "Link",
    "StreamRef",
    "check_writable",
    "parse_segment_name",
    "segment_name",
]

INDEX_WIDTH = 12
"""Digits of a segment's first index in its name; indices run from 0 to 10**12 - 1."""
MAX_EVENTS = 10**INDEX_WIDTH
SEGMENT_SIZE = 128
"""Events in one sealed segment; the open tail holds fewer (0 .. SEGMENT_SIZE - 1)."""
TAIL_NAME = "tail.json"
"""The open segment's fixed name inside its stream folder."""
NONCE_HEX = 16
"""Hex digits of a segment's nonce (64 random bits)."""

_SEGMENT_NAME = re.compile(rf"seg-(\d{{{INDEX_WIDTH}}})-([0-9a-f]{{{NONCE_HEX}}})\.json")
_LONGEST_SUFFIX = f"/seg-{'0' * INDEX_WIDTH}-{'0' * NONCE_HEX}.json"


@dataclass(frozen=True, slots=True)
class Link:
    """A reference to a sealed segment: its first index and nonce (which name it)."""

    first: int
    id: str

    @property
    def name(self) -> str:
        return segment_name(self.first, self.id)


def segment_name(first: int, nonce: str) -> str:
    """The file name of the sealed segment starting at ``first`` with ``nonce``."""
    return f"seg-{first:0{INDEX_WIDTH}d}-{nonce}.json"


def parse_segment_name(name: str) -> Link | None:
    """The link a segment file name stands for, or ``None`` if it is not one."""
    match = _SEGMENT_NAME.fullmatch(name)
    return None if match is None else Link(int(match[1]), match[2])


def _is_stream_name(name: str) -> bool:
    return name == TAIL_NAME or _SEGMENT_NAME.fullmatch(name) is not None


def check_writable(filename: str, *, session_id: str, backend: str) -> None:
    """Refuse a state write whose ``filename`` is a file of an event stream.

    ``<stream>/tail.json`` and ``<stream>/seg-<12 digits>-<16 hex>.json`` belong to
    the stream's log: a stamped state there would make ``read_events`` fail as
    corrupt, or hide events. So those names (below a folder) are reserved for the
    event calls. ``load_session`` can still read them, and ``store_bytes`` (raw bytes,
    what ``copy_sessions`` copies event logs with) still writes them. Raises
    InvalidKeyError naming the session and file; nothing is written.
    """
    folder, slash, name = filename.rpartition("/")
    if slash and folder and _is_stream_name(name):
        raise InvalidKeyError(
            f"{backend}: cannot store session {session_id!r} file {filename!r}: the name "
            f"is a file of event stream {folder!r}; use append_event to add events",
            backend=backend,
            session_id=session_id,
            filename=filename,
        )


@dataclass(frozen=True, slots=True)
class StreamRef:
    """One stream of one session, with the backend paths the facade built for it."""

    session_id: str
    stream: str
    folder: str
    """Backend path of the stream folder."""

    @property
    def filename(self) -> str:
        return self.stream

    @property
    def path(self) -> str:
        return self.folder

    @property
    def tail_path(self) -> str:
        return f"{self.folder}/{TAIL_NAME}"

    def segment_path(self, link: Link) -> str:
        return f"{self.folder}/{link.name}"

    def file_of(self, name: str) -> str:
        """The stream-relative name of one of its files, as errors show it."""
        return f"{self.stream}/{name}"

    @staticmethod
    def longest_path(folder: str) -> str:
        """The longest path a stream in ``folder`` writes, for length checks."""
        return folder + _LONGEST_SUFFIX
