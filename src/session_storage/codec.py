"""orjson encoding and decoding of session states, and the metadata stamp."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, NoReturn, TypeAlias

import orjson

from .errors import CorruptDataError, SerializationError
from .values import find_non_finite, find_unstorable

__all__ = [
    "METADATA_KEY",
    "Where",
    "decode_state",
    "encode_json",
    "encode_stamped",
    "encode_state",
    "utc_now_iso",
]

Where: TypeAlias = "str | Callable[[], str]"
"""Where a call happens, for error messages; a callable is only called on failure."""

METADATA_KEY = "_metadata"
"""The reserved key under which every stored state carries its stamp."""


def utc_now_iso() -> str:
    """The current UTC time as ISO 8601 with an explicit ``+00:00`` offset."""
    return datetime.now(timezone.utc).isoformat()


def _where(where: Where) -> str:
    return where if isinstance(where, str) else where()


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
    # substring test (~1 us for 1 KiB) spares them the walk over every value.
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
    state: object, *, session_id: str, filename: str, backend: str, where: Where
) -> tuple[dict[str, Any], bytes]:
    """Like :func:`encode_state`, also returning the stamped dict that was encoded."""
    if not isinstance(state, dict):
        raise SerializationError(
            f"{_where(where)}: state must be a dict, got {type(state).__name__}",
            backend=backend,
            session_id=session_id,
            filename=filename,
        )
    stamped = dict(state)
    stamped[METADATA_KEY] = {
        "session_id": session_id,
        "filename": filename,
        "stored_at": utc_now_iso(),
        "backend": backend,
    }
    try:
        return stamped, encode_json(stamped, stamped)
    except ValueError as exc:
        raise SerializationError(
            f"{_where(where)}: state is not JSON-serializable: {exc}",
            backend=backend,
            session_id=session_id,
            filename=filename,
        ) from exc


def decode_state(
    data: bytes, *, session_id: str, filename: str, backend: str, where: Where
) -> dict[str, Any]:
    """Decode a stored state; a file that is not a JSON object raises CorruptDataError."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CorruptDataError(
            f"{_where(where)}: stored file is not valid JSON: {exc}",
            backend=backend,
            session_id=session_id,
            filename=filename,
        ) from exc
    if not isinstance(value, dict):
        raise CorruptDataError(
            f"{_where(where)}: stored file holds a JSON {type(value).__name__}, not an object",
            backend=backend,
            session_id=session_id,
            filename=filename,
        )
    return value
