"""orjson encoding and decoding of session states, and the metadata stamp."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, NoReturn, TypeAlias, TypeVar

import orjson

from .errors import CorruptDataError, SerializationError
from .values import find_non_finite, find_unstorable

__all__ = [
    "METADATA_KEY",
    "UPDATES_KEY",
    "Where",
    "decode_state",
    "encode_json",
    "encode_stamped",
    "encode_state",
    "stamped_updates",
    "fitted",
    "utc_now_iso",
]

Where: TypeAlias = "str | Callable[[], str]"
"""Where a call happens, for error messages; a callable is only called on failure."""

METADATA_KEY = "_metadata"
"""The reserved key under which every stored state carries its stamp."""

UPDATES_KEY = "updates"
"""The stamp's optional list of recent ``update_session`` idempotency keys (digests),
oldest first; present only once a keyed update wrote the file."""


def utc_now_iso() -> str:
    """The current UTC time as ISO 8601 with an explicit ``+00:00`` offset."""
    return datetime.now(timezone.utc).isoformat()


def fitted(data: bytes) -> bytes:
    """``data`` in a ``bytes`` object of its own size, for anything kept for long.

    orjson returns ``bytes`` that keep the whole buffer they were built in (measured
    with tracemalloc on orjson 3.13): 4 KiB for a 95-byte event, up to 8 times the
    length for a long string, while ``sys.getsizeof`` reports only the length. A body
    sent away and dropped may keep it; a cached event or a file of the memory backend
    is copied into one of its own size first, so what a cache counts is what it holds.
    """
    # bytes(data) would return data itself; the memoryview forces a copy of len(data).
    return bytes(memoryview(data))


def _where(where: Where) -> str:
    return where if isinstance(where, str) else where()


E = TypeVar("E", SerializationError, CorruptDataError)


def _error(
    kind: type[E], problem: str, where: Where, session_id: str, filename: str, backend: str
) -> E:
    """A ``kind`` error about one file, its message ``where`` followed by ``problem``."""
    text = f"{_where(where)}: {problem}"
    return kind(text, backend=backend, session_id=session_id, filename=filename)


# Datetimes and dataclasses go to _refuse instead of becoming strings and dicts that
# would load back as something else. orjson has no such switch for tuples, enums and
# UUIDs: those convert as documented (see values.py).
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _refuse(value: object) -> NoReturn:
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def encode_json(document: object, content: object) -> bytes:
    """``document`` as compact JSON, refusing every value that would load back changed.

    ``content`` is the caller's part of ``document`` (a state, an event's item): the
    only part that can hold a bad value, and the one the JSON path in the error starts
    from. Raises ``ValueError`` saying where and why (``$.scores[2] is nan, ...``).
    """
    try:
        data = orjson.dumps(document, default=_refuse, option=_OPTIONS)
    except TypeError as exc:  # orjson.JSONEncodeError subclasses TypeError
        raise ValueError(find_unstorable(content) or f"$ {exc}") from exc
    # orjson writes NaN and infinity as null. Most states hold no null at all, so a
    # substring test, far cheaper than any walk, spares them the walk over every value.
    if b"null" in data:
        where = find_non_finite(content)
        if where is not None:
            raise ValueError(where)
    return data


def encode_state(
    state: object, *, session_id: str, filename: str, backend: str, where: Where
) -> bytes:
    """Stamp ``state`` and encode it as compact JSON.

    Raises :class:`SerializationError` (a ``ValueError``) if ``state`` is not a dict or
    holds a value that would not load back as given (NaN, infinity, a datetime, a
    dataclass, a set, bytes, a non-str key, ...); the message names the value's JSON
    path. The caller has written nothing yet.
    """
    return encode_stamped(
        state, session_id=session_id, filename=filename, backend=backend, where=where
    )[1]


def encode_stamped(
    state: object,
    *,
    session_id: str,
    filename: str,
    backend: str,
    where: Where,
    updates: Sequence[str] | None = None,
) -> tuple[dict[str, Any], bytes]:
    """Like :func:`encode_state`, also returning the stamped dict that was encoded.

    ``updates`` (the update keys to remember) goes into the stamp; without it, the
    keys of a stamp already in ``state`` (a loaded state stored back) are kept.
    """
    about = (where, session_id, filename, backend)
    if not isinstance(state, dict):
        problem = f"state must be a dict, got {type(state).__name__}"
        raise _error(SerializationError, problem, *about)
    if METADATA_KEY in state and not _is_stamp(state[METADATA_KEY]):
        # Replacing it would drop the caller's data without a word.
        problem = (
            f"the key {METADATA_KEY!r} is reserved for the library's stamp; store your own "
            f"data under another key (a loaded state's stamp may stay: it is renewed)"
        )
        raise _error(SerializationError, problem, *about)
    stamped = dict(state)
    stamp: dict[str, Any] = {
        "session_id": session_id,
        "filename": filename,
        "stored_at": utc_now_iso(),
        "backend": backend,
    }
    if updates is None and METADATA_KEY in state:
        updates = state[METADATA_KEY].get(UPDATES_KEY)
    if updates:
        stamp[UPDATES_KEY] = list(updates)
    stamped[METADATA_KEY] = stamp
    try:
        return stamped, encode_json(stamped, stamped)
    except ValueError as exc:
        problem = f"state is not JSON-serializable: {exc}"
        raise _error(SerializationError, problem, *about) from exc


_STAMP_KEYS = frozenset({"session_id", "filename", "stored_at", "backend"})


def _is_stamp(value: object) -> bool:
    """Whether ``value`` is a stamp as the library writes it (from a loaded state)."""
    if not isinstance(value, dict):
        return False
    if value.keys() == _STAMP_KEYS:
        return True
    updates = value.get(UPDATES_KEY)
    return (
        value.keys() == _STAMP_KEYS | {UPDATES_KEY}
        and isinstance(updates, list)
        and all(isinstance(key, str) for key in updates)
    )


def stamped_updates(state: dict[str, Any] | None) -> list[str]:
    """The update keys remembered in a loaded state's stamp (none if it has none)."""
    stamp = state.get(METADATA_KEY) if state is not None else None
    if not isinstance(stamp, dict) or not _is_stamp(stamp):
        return []
    return list(stamp.get(UPDATES_KEY, []))


def decode_state(
    data: bytes, *, session_id: str, filename: str, backend: str, where: Where
) -> dict[str, Any]:
    """Decode a stored state; a file that is not a JSON object raises CorruptDataError."""
    about = (where, session_id, filename, backend)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        problem = f"stored file is not valid JSON: {exc}"
        raise _error(CorruptDataError, problem, *about) from exc
    if not isinstance(value, dict):
        problem = f"stored file holds a JSON {type(value).__name__}, not an object"
        raise _error(CorruptDataError, problem, *about)
    return value
