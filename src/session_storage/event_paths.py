"""Where a session's event streams live, and how their files are named.

Layout under the session folder (``<stream>`` is encoded like a filename, so ``/``
nests streams the way it nests files)::

    <stream>/000000000000.json          event 0
    <stream>/000000000001.json          event 1, ...
    <stream>/~keys/<sha256(key)>.json   idempotency marker of one key

Event names are the index zero-padded to :data:`INDEX_WIDTH` (12) digits, so key order
is index order and a stream holds up to 10**12 - 1 events (thirty years at a thousand
appends a second). Event files are ordinary files of the session: ``list_files`` shows
``<stream>/000000000000.json`` and ``load_session`` can read one. Markers live in a
folder whose name contains ``~``, which no encoded name does, so no stream or file can
collide with it and listings skip it; ``delete_session`` removes it with the rest.

The appending, end-finding and reading over this layout are :mod:`.event_log`'s.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import InvalidKeyError

if TYPE_CHECKING:
    from .context import Scope

__all__ = [
    "INDEX_WIDTH",
    "KEYS_FOLDER",
    "MAX_EVENTS",
    "StreamRef",
    "check_writable",
    "event_name",
    "is_stream_file",
]

INDEX_WIDTH = 12
"""Digits of an event's name; indices run from 0 to 10**12 - 1."""
MAX_EVENTS = 10**INDEX_WIDTH
KEYS_FOLDER = "~keys"
"""Folder of the idempotency markers inside a stream folder."""
_EVENT_NAME = re.compile(rf"\d{{{INDEX_WIDTH}}}\.json")
_MARKER_NAME = re.compile(rf"{re.escape(KEYS_FOLDER)}/[0-9a-f]{{64}}\.json")
_LONGEST_SUFFIX = f"/{KEYS_FOLDER}/{'0' * 64}.json"


def event_name(index: int) -> str:
    """The file name of event ``index`` inside its stream folder."""
    return f"{index:0{INDEX_WIDTH}d}.json"


def is_stream_file(name: str) -> bool:
    """Whether ``name``, relative to a stream folder, is one of its events or markers.

    Files of nested streams (``sub/000000000000.json``) are not.
    """
    return bool(_EVENT_NAME.fullmatch(name) or _MARKER_NAME.fullmatch(name))


def check_writable(filename: str, *, session_id: str, backend: str) -> None:
    """Refuse a state write whose ``filename`` is an event of a stream.

    ``<stream>/000000000007.json`` belongs to the stream's log: a stamped state there
    is a record that ``read_events`` rejects as corrupt, or an event no appender
    wrote. So names of events (a last segment of :data:`INDEX_WIDTH` digits and
    ``.json``, below a folder) are reserved for ``append_event``. ``load_session``
    can still read them, and ``store_bytes`` (raw bytes, what ``copy_sessions``
    copies event logs with) still writes them. Raises InvalidKeyError naming the
    session and file; nothing is written.
    """
    folder, slash, name = filename.rpartition("/")
    if slash and folder and _EVENT_NAME.fullmatch(name):
        raise InvalidKeyError(
            f"{backend}: cannot store session {session_id!r} file {filename!r}: the name "
            f"is an event of stream {folder!r}; use append_event to add events",
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
    scope: Scope
    """The storage the stream was reached through (its deletes go through it)."""

    @property
    def filename(self) -> str:
        return self.stream

    @property
    def path(self) -> str:
        return self.folder

    def event_path(self, index: int) -> str:
        return f"{self.folder}/{event_name(index)}"

    def marker_path(self, key: str) -> str:
        # Hashed: any key, of any length, gives a short fixed-size name.
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{self.folder}/{KEYS_FOLDER}/{digest}.json"

    @staticmethod
    def longest_path(folder: str) -> str:
        """The longest path a stream in ``folder`` writes, for length checks."""
        return folder + _LONGEST_SUFFIX
