"""Which Python values a stored state or event may hold, and where a bad one sits.

A value is stored only if it loads back as what the caller gave, or as something the
README says it becomes. orjson, the encoder, would otherwise change some values
silently: NaN and infinity become ``null``, and datetimes and dataclasses become
strings and dicts. :mod:`session_storage.core.document` refuses those; this module finds the
offending value and names its JSON path (``$.messages[3].score``) for the error.

Converted, as the README documents (they load back as the JSON form, and orjson gives
no hook to refuse them without a per-value scan of every state): tuples become lists,
``Enum`` members their value, ``UUID`` objects their string, and subclasses of
``str``, ``int``, ``dict`` and ``list`` (``StrEnum``, ``defaultdict``, ...) the base type.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import math
import uuid
from collections.abc import Iterable

__all__ = ["find_non_finite", "find_unstorable", "json_path"]

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1  # orjson writes unsigned 64-bit integers too
_MAX_DEPTH = 255  # orjson's own recursion limit
_IDENTIFIER_KEY = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"

# A found problem: the path segments from the value up to the root (reversed, so they
# are only assembled on failure) and what is wrong there.
_Found = tuple[list[str], str]


def json_path(segments: list[str]) -> str:
    """``["x", 3, "a b"]``-style segments (innermost first) as ``$["a b"][3].x``."""
    return "$" + "".join(reversed(segments))


def _key_segment(key: str) -> str:
    if key and not key[0].isdigit() and all(c in _IDENTIFIER_KEY for c in key):
        return f".{key}"
    return "[" + _quote(key) + "]"


def _quote(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def find_non_finite(value: object) -> str | None:
    """The JSON path of the first NaN or infinity inside ``value``, or ``None``.

    Looks only at floats (also inside tuples, dict and list subclasses and enum
    values), so it never refuses what the encoder accepted.
    """
    if not _any_non_finite(value):
        return None
    found = _non_finite(value, 0)
    return None if found is None else json_path(found[0]) + " " + found[1]


def _any_non_finite(value: object) -> bool:
    # Runs for every stored value that holds a null, so it is the fast half: exact
    # type checks, plain leaves skipped without a call, no path kept. Whatever else it
    # meets (tuples, subclasses, enums) is rare and goes to the thorough walk. Depth
    # needs no check: the encoder refused deeper.
    kind = type(value)
    items: Iterable[object]
    if kind is dict:
        items = value.values()  # type: ignore[attr-defined]
    elif kind is list:
        items = value  # type: ignore[assignment]
    elif kind is float:
        return not math.isfinite(value)  # type: ignore[arg-type]
    elif kind in _NO_FLOAT:
        return False
    else:
        return _non_finite(value, 0) is not None
    for item in items:
        item_kind = type(item)
        if item_kind is str or item_kind is int or item is None:
            continue
        if _any_non_finite(item):
            return True
    return False


_NO_FLOAT = frozenset({str, int, bool, type(None)})


def _non_finite(value: object, depth: int) -> _Found | None:
    """The path to the first non-finite float, built on the way back up."""
    if depth > _MAX_DEPTH:
        return None  # the encoder refuses this itself
    if isinstance(value, float):
        return None if math.isfinite(value) else ([], _non_finite_reason(value))
    if isinstance(value, dict):
        for key, item in value.items():
            found = _non_finite(item, depth + 1)
            if found is not None:
                found[0].append(_key_segment(str(key)))
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _non_finite(item, depth + 1)
            if found is not None:
                found[0].append(f"[{index}]")
                return found
    elif isinstance(value, enum.Enum):
        return _non_finite(value.value, depth + 1)
    return None


def _non_finite_reason(value: float) -> str:
    return f"is {float.__repr__(value)}, which JSON cannot hold (it would load back as null)"


def find_unstorable(value: object) -> str | None:
    """``"$.a[3].x is nan, ..."``: the first value the encoder refuses, or ``None``.

    Mirrors what :mod:`session_storage.core.document` accepts; it runs only once encoding has
    failed, to say where and why.
    """
    found = _unstorable(value, 0)
    return None if found is None else json_path(found[0]) + " " + found[1]


def _unstorable(value: object, depth: int) -> _Found | None:
    if depth > _MAX_DEPTH:
        return [], f"is nested deeper than {_MAX_DEPTH} levels (does it contain itself?)"
    if value is None or isinstance(value, (str, bool)):
        return None
    if isinstance(value, enum.Enum):  # stored as its value
        return _unstorable(value.value, depth + 1)
    if isinstance(value, int):
        if _INT_MIN <= value <= _INT_MAX:
            return None
        return [], "is an int outside the 64-bit range that JSON readers share"
    if type(value) is float:
        return None if math.isfinite(value) else ([], _non_finite_reason(value))
    if isinstance(value, dict):
        return _unstorable_dict(value, depth)
    if isinstance(value, list) or type(value) is tuple:
        for index, item in enumerate(value):
            found = _unstorable(item, depth + 1)
            if found is not None:
                found[0].append(f"[{index}]")
                return found
        return None
    if type(value) is uuid.UUID:
        return None
    return [], _why_refused(value)


def _unstorable_dict(value: dict[object, object], depth: int) -> _Found | None:
    for key, item in value.items():
        if type(key) is not str:
            return [], f"has a key that is not a str: {key!r} ({type(key).__name__})"
        found = _unstorable(item, depth + 1)
        if found is not None:
            found[0].append(_key_segment(key))
            return found
    return None


def _why_refused(value: object) -> str:
    name = type(value).__qualname__
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return f"is a {name}, which would load back as a str: store value.isoformat()"
    if dataclasses.is_dataclass(value):
        return (
            f"is a dataclass ({name}), which would load back as a dict: "
            "store dataclasses.asdict(value)"
        )
    if isinstance(value, float):
        return f"is a float subclass ({name}): store float(value)"
    if isinstance(value, (set, frozenset)):
        return f"is a {name}, which JSON cannot hold: store a list"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"is {name}, which JSON cannot hold: use store_bytes, or store text"
    return f"is a {type(value).__module__}.{name}, which JSON cannot hold"
