"""An OpenAI Agents conversation (the items the SDK stores) as turns a person reads.

The SDK's items (``TResponseInputItem``) are JSON dicts: messages ``{"role", "content"}``
(content a str or a list of parts with ``text``), tool calls ``{"type": "function_call",
"name", "arguments", "call_id"}`` and their outputs ``{"type":
"function_call_output", "call_id", "output"}``, reasoning, and other tool kinds. A
kind this module does not know is shown by its ``type`` with the item itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .store import EventRow

__all__ = ["Turn", "turn_of"]


@dataclass(frozen=True)
class Turn:
    """One item: who (``role``), what kind, its text; a tool call's name and arguments."""

    index: int
    role: str
    kind: str
    """``message``, ``tool call``, ``tool output``, ``reasoning`` or the item's own type."""
    text: str
    tool: str | None = None
    call_id: str | None = None
    item: Any = None
    """The stored item, for the kinds shown only as themselves."""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                text = part.get("text", part.get("refusal"))
                parts.append(text if isinstance(text, str) else f"[{part.get('type', 'part')}]")
            else:
                parts.append(str(part))
        return "\n".join(parts)
    return "" if content is None else str(content)


def turn_of(event: EventRow) -> Turn:
    """The turn an event of an ``openai-agents`` stream stands for."""
    item = event.item
    if not isinstance(item, dict):
        return Turn(event.index, "?", "item", "", item=item)
    kind = item.get("type")
    if "role" in item and kind in (None, "message"):
        return Turn(event.index, str(item["role"]), "message", _text(item.get("content")))
    if kind == "function_call":
        return Turn(
            event.index,
            "assistant",
            "tool call",
            str(item.get("arguments", "")),
            tool=str(item.get("name", "")),
            call_id=str(item.get("call_id", "")),
        )
    if kind == "function_call_output":
        return Turn(
            event.index,
            "tool",
            "tool output",
            _text(item.get("output")),
            call_id=str(item.get("call_id", "")),
        )
    if kind == "reasoning":
        summary = item.get("summary")
        return Turn(event.index, "assistant", "reasoning", _text(summary))
    return Turn(event.index, str(item.get("role", "assistant")), str(kind), "", item=item)
