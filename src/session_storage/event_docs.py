"""The JSON documents of an event stream: the tail and the sealed segments.

Both are one JSON object::

    {"first": F,                          index of the first event held
     "events": [{"t": "<UTC ISO time>", "v": <item>}, ...],
     "prev": {"first": P, "id": "<nonce>"} | null,   the sealed segment below
     "id": "<nonce>",                     this document's own nonce
     "keys": [[digest, index, count], ...],   tail only: see idempotency
     "ops": [[commit id, index, count], ...],  tail only
     "_metadata": {"session_id", "stream", "backend", "written_at"}}

Events are held as their encoded JSON bytes and embedded unparsed when a document is
written (``orjson.Fragment``), so rewriting a tail encodes only the new events, and
an item the caller mutates after appending it cannot change what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson

from .codec import METADATA_KEY, encode_json, utc_now_iso
from .event_paths import Link
from .idempotency import Entry

__all__ = ["EMPTY", "Doc", "decode_doc", "decode_event", "encode_doc", "encode_event"]


@dataclass(frozen=True, slots=True)
class Doc:
    """A tail or a sealed segment, as held in memory."""

    first: int
    events: tuple[bytes, ...]
    prev: Link | None
    id: str
    keys: tuple[Entry, ...] = ()
    ops: tuple[Entry, ...] = ()

    @property
    def count(self) -> int:
        """The stream's length if this is its tail: one past the last index held."""
        return self.first + len(self.events)

    def cut(self, length: int) -> Doc:
        """This document holding only the events below index ``length``."""
        return replace(self, events=self.events[: max(0, length - self.first)])


EMPTY = Doc(0, (), None, "")
"""The tail of a stream that does not exist."""


def encode_event(item: Any, appended_at: str) -> bytes:
    """One event's JSON; raises ValueError (saying where) for an unstorable item."""
    return encode_json({"t": appended_at, "v": item}, item)


def decode_event(raw: bytes) -> tuple[datetime, Any]:
    """An event's append time and item; raises ValueError if it is not an event."""
    event = orjson.loads(raw)
    if not isinstance(event, dict) or "v" not in event or not isinstance(event.get("t"), str):
        raise ValueError("not an event (no 't' and 'v')")
    return datetime.fromisoformat(event["t"]), event["v"]


def encode_doc(doc: Doc, meta: dict[str, str], *, tail: bool) -> bytes:
    """The stored bytes of ``doc``; ``meta`` goes under ``_metadata`` with the time."""
    body: dict[str, Any] = {
        "first": doc.first,
        "events": [orjson.Fragment(event) for event in doc.events],
        "prev": None if doc.prev is None else {"first": doc.prev.first, "id": doc.prev.id},
        "id": doc.id,
    }
    if tail:
        body["keys"] = [list(entry) for entry in doc.keys]
        body["ops"] = [list(entry) for entry in doc.ops]
    body[METADATA_KEY] = {**meta, "written_at": utc_now_iso()}
    return orjson.dumps(body)


def decode_doc(raw: bytes) -> Doc:
    """A stored tail or segment; raises ValueError saying what is wrong with it."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"a JSON {type(value).__name__}, not an object")
    try:
        first, events, nonce = value["first"], value["events"], value["id"]
        prev = value.get("prev")
        if not _is_index(first) or not isinstance(events, list) or not isinstance(nonce, str):
            raise TypeError("'first', 'events' or 'id' of the wrong type")
        return Doc(
            first=first,
            events=tuple(orjson.dumps(event) for event in events),
            prev=None if prev is None else Link(_index(prev["first"]), str(prev["id"])),
            id=nonce,
            keys=_entries(value.get("keys", [])),
            ops=_entries(value.get("ops", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not an event segment: {exc!r}") from exc


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _index(value: object) -> int:
    if not _is_index(value):
        raise TypeError(f"not an index: {value!r}")
    assert isinstance(value, int)
    return value


def _entries(value: object) -> tuple[Entry, ...]:
    if not isinstance(value, list):
        raise TypeError("a window that is not a list")
    return tuple((str(name), _index(first), _index(count)) for name, first, count in value)
