"""The JSON documents of an event stream: the tail and the sealed segments.

Both are one JSON object::

    {"first": F,                          index of the first event held
     "events": [{"t": "<UTC ISO time>", "v": <item>}, ...],
     "prev": {"first": P, "id": "<nonce>"} | null,   the sealed segment below
     "id": "<nonce>",                     this document's own nonce
     "keys": [[digest, index, count], ...],   tail only: see idempotency
     "ops": [[commit id, index, count], ...],  tail only
     "_metadata": {"session_id", "stream", "backend", "written_at"}}

Events are held in two forms, so that each stored document is parsed once per read
and no event is re-encoded to be read:

- events read from the store stay inside the bytes of their document
  (:class:`Stored`): a reader parses the document once and takes the items from it;
  parsing again for every read hands each reader objects of its own, so a reader that
  changes what it got cannot change what is cached;
- events this process appends are their encoded JSON, embedded unparsed when a
  document is written, so rewriting a tail encodes only the new events, and an item
  the caller mutates after appending it cannot change what is stored.

A tail read from the store is turned into the second form once, when it is first
rewritten.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import chain
from typing import Any

import orjson

from ..core.document import METADATA_KEY, encode_json, fitted, utc_now_iso
from .idempotency import Entry
from .layout import Link

__all__ = [
    "EMPTY",
    "NO_EVENTS",
    "Doc",
    "EventError",
    "Events",
    "Stored",
    "decode_doc",
    "encode_doc",
    "encode_event",
    "items_of",
    "records_of",
]


@dataclass(frozen=True, slots=True)
class Stored:
    """Events ``start:stop`` of a stored document, held as that document's bytes (which
    :func:`decode_doc` checked)."""

    raw: bytes
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start

    def values(self) -> list[Any]:
        """The events, freshly parsed: one parse of the whole document."""
        events: list[Any] = orjson.loads(self.raw)["events"]
        return events[self.start : self.stop]


_Part = Stored | tuple[bytes, ...]

_EVENT_HEAD = sys.getsizeof(b"") + 8
"""Memory an encoded event holds beyond its length: the ``bytes`` header, and 8 on
average for the allocator's rounding to 16 bytes (its slot in a tuple is counted with
the tuple)."""


@dataclass(frozen=True, slots=True)
class Events:
    """A run of events, in order: slices of stored documents and encoded events.

    Immutable; slicing and joining work on the few parts, not on every event.
    """

    parts: tuple[_Part, ...] = ()

    @staticmethod
    def of(encoded: tuple[bytes, ...]) -> Events:
        """Events given as their encoded JSON, one ``bytes`` each."""
        return Events((encoded,) if encoded else ())

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)

    def __add__(self, other: Events) -> Events:
        if not other.parts:
            return self
        if not self.parts:
            return other
        last, head = self.parts[-1], other.parts[0]
        if isinstance(last, tuple) and isinstance(head, tuple):
            return Events((*self.parts[:-1], last + head, *other.parts[1:]))
        return Events(self.parts + other.parts)

    def __getitem__(self, where: slice) -> Events:
        begin, stop, _ = where.indices(len(self))
        parts: list[_Part] = []
        at = 0
        for part in self.parts:
            size = len(part)
            low, high = max(begin - at, 0), min(stop - at, size)
            if low < high:
                if isinstance(part, Stored):
                    parts.append(Stored(part.raw, part.start + low, part.start + high))
                else:
                    parts.append(part[low:high])
            at += size
        return Events(tuple(parts))

    @property
    def nbytes(self) -> int:
        """About how much memory the events hold, object headers included (a stored
        document counts whole, once per part that slices it)."""
        return sum(
            sys.getsizeof(part.raw)
            if isinstance(part, Stored)
            else sys.getsizeof(part) + sum(map(len, part)) + len(part) * _EVENT_HEAD
            for part in self.parts
        )

    def values(self) -> list[Any]:
        """The events as ``{"t", "v"}`` values, freshly parsed: one parse per part."""
        out: list[Any] = []
        for part in self.parts:
            if isinstance(part, Stored):
                out += part.values()
            else:
                out += orjson.loads(b"[" + b",".join(part) + b"]")
        return out

    def encoded(self) -> Events:
        """These events as encoded JSON only (each stored one encoded once, here)."""
        if all(isinstance(part, tuple) for part in self.parts):
            return self
        return Events.of(tuple(self._encoded()))

    def _encoded(self) -> Iterator[bytes]:
        return chain.from_iterable(
            part if isinstance(part, tuple) else map(_encode_parsed, part.values())
            for part in self.parts
        )

    def array(self) -> bytes:
        """The JSON array of these events (no event parsed when all are encoded)."""
        return b"[" + b",".join(self._encoded()) + b"]"


NO_EVENTS = Events()


@dataclass(frozen=True, slots=True)
class Doc:
    """A tail or a sealed segment, as held in memory."""

    first: int
    events: Events
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


EMPTY = Doc(0, NO_EVENTS, None, "")
"""The tail of a stream that does not exist."""


def encode_event(item: Any, appended_at: str) -> bytes:
    """One event's JSON; raises ValueError (saying where) for an unstorable item.

    Fitted to its length: the event caches keep it (see :func:`~..core.document.fitted`).
    """
    return fitted(encode_json({"t": appended_at, "v": item}, item))


def _encode_parsed(event: Any) -> bytes:
    """An event parsed from the store, encoded again to be cached and rewritten."""
    return fitted(orjson.dumps(event))


class EventError(ValueError):
    """An event that is not ``{"t": <time>, "v": <item>}``; ``position`` in its run."""

    def __init__(self, position: int, why: str) -> None:
        super().__init__(why)
        self.position = position


def items_of(events: list[Any]) -> list[Any]:
    """The items of parsed events; raises EventError for the first that is no event."""
    # One pass that both checks and takes: a per-event function call would cost more
    # than the parse of the whole document did.
    try:
        items = [e["v"] for e in events if e.__class__ is dict and e.get("t").__class__ is str]
    except KeyError:
        items = []
    if len(items) != len(events):
        raise _first_bad(events)
    return items


def records_of(events: list[Any], first: int) -> list[tuple[int, datetime, Any]]:
    """``(index, appended_at, item)`` of parsed events, the first at index ``first``;
    raises EventError like :func:`items_of`."""
    items_of(events)
    try:
        return [
            (index, datetime.fromisoformat(e["t"]), e["v"]) for index, e in enumerate(events, first)
        ]
    except ValueError:
        raise _first_bad(events) from None


def _first_bad(events: list[Any]) -> EventError:
    for position, event in enumerate(events):
        if not isinstance(event, dict) or "v" not in event or not isinstance(event.get("t"), str):
            return EventError(position, "not an event (no 't' and 'v')")
        try:
            datetime.fromisoformat(event["t"])
        except ValueError as exc:
            return EventError(position, str(exc))
    raise AssertionError("no bad event among these")


def encode_doc(doc: Doc, meta: dict[str, str], *, tail: bool) -> bytes:
    """The stored bytes of ``doc``; ``meta`` goes under ``_metadata`` with the time."""
    body: dict[str, Any] = {
        "first": doc.first,
        "events": orjson.Fragment(doc.events.array()),
        "prev": None if doc.prev is None else {"first": doc.prev.first, "id": doc.prev.id},
        "id": doc.id,
    }
    if tail:
        body["keys"] = [list(entry) for entry in doc.keys]
        body["ops"] = [list(entry) for entry in doc.ops]
    body[METADATA_KEY] = {**meta, "written_at": utc_now_iso()}
    return orjson.dumps(body)


def decode_doc(raw: bytes) -> tuple[Doc, list[Any]]:
    """A stored tail or segment, and its events parsed (the caller's to keep: the
    document holds them as ``raw``); raises ValueError saying what is wrong with it."""
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
        doc = Doc(
            first=first,
            events=Events((Stored(raw, 0, len(events)),)) if events else NO_EVENTS,
            prev=None if prev is None else Link(_index(prev["first"]), str(prev["id"])),
            id=nonce,
            keys=_entries(value.get("keys", [])),
            ops=_entries(value.get("ops", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not an event segment: {exc!r}") from exc
    return doc, events


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
