"""orjson encoding and decoding of session states, and the metadata stamp."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeAlias

import orjson

from .errors import CorruptDataError, SerializationError

__all__ = [
    "METADATA_KEY",
    "Where",
    "decode_state",
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


def encode_state(
    state: object, *, session_id: str, filename: str, backend: str, where: Where
) -> bytes:
    """Stamp ``state`` and encode it as compact JSON.

    Raises :class:`SerializationError` (a ``ValueError``) if ``state`` is not a dict or
    holds something JSON cannot represent; the caller has written nothing yet.
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
        return stamped, orjson.dumps(stamped)
    except TypeError as exc:  # orjson.JSONEncodeError subclasses TypeError
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
