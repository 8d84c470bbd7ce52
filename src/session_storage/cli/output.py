"""Printing results: plain text for people, JSON for scripts."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import orjson

__all__ = ["echo", "emit_json", "emit_names", "plain", "timestamp"]


def plain(text: str) -> str:
    """``text`` as is if printable, else its escaped repr (ids may hold newlines, NUL...)."""
    return text if text.isprintable() else repr(text)


def timestamp(value: datetime | None) -> str:
    """An aware datetime as ``2026-11-23 10:22:46Z`` (UTC, seconds), or ``-``."""
    if value is None:
        return "-"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def echo(text: str = "") -> None:
    """One line to stdout."""
    sys.stdout.write(text + "\n")


def emit_json(value: Any) -> None:
    """``value`` as one line of JSON on stdout; datetimes become ISO 8601."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_NAIVE_UTC).decode() + "\n")


def emit_names(names: Sequence[str], as_json: bool) -> None:
    """Session ids or filenames: one JSON list, or one printable name a line."""
    if as_json:
        emit_json(names)
    else:
        for name in names:
            echo(plain(name))
