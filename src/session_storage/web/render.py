"""JSON values as collapsible trees, and the small formats pages share.

A tree is nested ``<details>`` elements, so it folds without any script. Every key
and value goes through :func:`markupsafe.escape`: text, never markup.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import orjson
from markupsafe import Markup

__all__ = ["OPEN_DEPTH", "tree", "when"]

OPEN_DEPTH = 2
"""Levels of a tree shown unfolded."""


def when(value: datetime | None) -> str:
    """A time as ``2026-11-23 10:22:46Z``, or ``-``."""
    if value is None:
        return "-"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _scalar(value: Any) -> Markup:
    kind = "null" if value is None else type(value).__name__
    shown = orjson.dumps(value).decode() if not isinstance(value, str) else value
    if isinstance(value, str):
        return Markup('<span class="v str">"{}"</span>').format(shown)
    return Markup('<span class="v {}">{}</span>').format(kind, shown)


def _node(value: Any, label: Any, depth: int, out: list[str]) -> None:
    key = Markup('<span class="k">{}</span>: ').format(label) if label is not None else ""
    if isinstance(value, dict) and value:
        summary = f"{{…}} {len(value)} key{'s' if len(value) != 1 else ''}"
        items: Any = value.items()
    elif isinstance(value, list) and value:
        summary = f"[…] {len(value)} item{'s' if len(value) != 1 else ''}"
        items = enumerate(value)
    else:
        if isinstance(value, (dict, list)):  # empty: {} or []
            shown = Markup('<span class="v">{}</span>').format(orjson.dumps(value).decode())
        else:
            shown = _scalar(value)
        out.append(Markup("<li>{}{}</li>").format(key, shown))
        return
    opened = " open" if depth < OPEN_DEPTH else ""
    out.append(
        Markup('<li><details{}><summary>{}<span class="n">{}</span></summary><ul>').format(
            Markup(opened), key, summary
        )
    )
    for k, v in items:
        _node(v, k, depth + 1, out)
    out.append("</ul></details></li>")


def tree(value: Any) -> Markup:
    """``value`` (plain JSON) as a tree of ``<details>``, safe to put in a page."""
    out: list[str] = ['<ul class="tree">']
    _node(value, None, 0, out)
    out.append("</ul>")
    return Markup("".join(out))
