"""Checks of the caller's arguments: the one place a bad argument becomes an error.

Every check raises :class:`InvalidArgumentError` (a ``ValueError``) naming the
argument, before any request is sent. ``bool`` is refused where a number is wanted:
it is an ``int`` to Python, but ``limit=True`` is always a mistake.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar, overload

from .errors import InvalidArgumentError

T = TypeVar("T")

__all__ = [
    "check_age",
    "check_aware",
    "check_bool",
    "check_instance",
    "check_int",
    "check_mapping",
    "check_number",
    "check_url",
    "invalid",
]


def invalid(message: str, *, where: str | None = None) -> InvalidArgumentError:
    """The error for a bad argument; ``where`` (``"memory: cannot ..."``) leads the message."""
    text = message if where is None else f"{where}: {message}"
    return InvalidArgumentError(text)


@overload
def check_int(
    name: str,
    value: object,
    minimum: int = ...,
    *,
    allow_none: Literal[False] = ...,
    where: str | None = ...,
) -> int: ...


@overload
def check_int(
    name: str,
    value: object,
    minimum: int = ...,
    *,
    allow_none: Literal[True],
    where: str | None = ...,
) -> int | None: ...


def check_int(
    name: str,
    value: object,
    minimum: int = 0,
    *,
    allow_none: bool = False,
    where: str | None = None,
) -> int | None:
    """``value`` if it is an int of at least ``minimum`` (or None, when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        wanted = f"an int >= {minimum}"
        if allow_none:
            wanted = f"None or {wanted}"
        raise invalid(f"{name} must be {wanted}, got {value!r}", where=where)
    return value


def check_number(name: str, value: object, *, where: str | None = None) -> float:
    """``value`` if it is a number >= 0 (an int or float; not a bool, not NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise invalid(f"{name} must be a number >= 0, got {value!r}", where=where)
    return value


def check_bool(name: str, value: object, *, where: str | None = None) -> bool:
    """``value`` if it is a bool."""
    if not isinstance(value, bool):
        raise invalid(f"{name} must be a bool, got {type(value).__name__}", where=where)
    return value


def check_instance(name: str, value: object, cls: type[T]) -> T:
    """``value`` if it is an instance of ``cls``."""
    if not isinstance(value, cls):
        raise invalid(f"{name} must be a {cls.__name__}, got {type(value).__name__}")
    return value


def check_mapping(name: str, value: object) -> Mapping[str, Any] | None:
    """``value`` if it is None or a mapping (a dict, say)."""
    if value is not None and not isinstance(value, Mapping):
        raise invalid(f"{name} must be None or a mapping, got {type(value).__name__}")
    return value


def check_url(value: object) -> str:
    """A storage URL or local path (a ``str`` or ``os.PathLike`` of ``str``) as a str."""
    path = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(path, str):
        raise invalid(f"url must be a str or a path, got {type(value).__name__}")
    return path


def check_age(value: object) -> timedelta:
    """A retention age: a timedelta or a number of seconds, not negative."""
    if isinstance(value, timedelta):
        age = value
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(f"age must be a timedelta or seconds, got {type(value).__name__}")
    else:
        try:
            age = timedelta(seconds=value)
        except (OverflowError, ValueError) as exc:  # inf, nan, or past timedelta.max
            raise invalid(f"age must be a usable number of seconds, got {value!r}") from exc
    if age < timedelta(0):
        raise invalid(f"age must not be negative, got {age}")
    return age


def check_aware(name: str, value: object) -> datetime | None:
    """``value`` if it is None or a timezone-aware datetime."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise invalid(f"{name} must be a timezone-aware datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise invalid(f"{name} must be a timezone-aware datetime")
    return value
