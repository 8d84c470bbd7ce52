"""A Strands model that needs no LLM: :class:`ScriptedModel` streams canned replies.

Each call of ``stream`` plays the next reply of its script: a text, or a tool call
(``ToolCall(name, input)``), as the stream events a real provider sends. It records the
messages each call was given, so a test sees what history the agent handed the model.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from strands.models.model import Model
from strands.types.content import Messages
from strands.types.streaming import StreamEvent
from strands.types.tools import ToolSpec

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class ToolCall:
    """A reply that calls tool ``name`` with ``input``."""

    name: str
    input: dict[str, Any]
    id: str = "tool-1"


@dataclass
class ScriptedModel(Model):
    """Plays ``replies`` in order, one per model call; ``seen`` holds each call's input."""

    replies: list[str | ToolCall]
    seen: list[Messages] = field(default_factory=list)

    def update_config(self, **model_config: Any) -> None:
        pass

    def get_config(self) -> Any:
        return {}

    def structured_output(
        self,
        output_model: type[T],
        prompt: Messages,
        system_prompt: str | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[dict[str, T | Any], None]:
        raise NotImplementedError

    async def stream(  # type: ignore[override]
        self,
        messages: Messages,
        tool_specs: list[ToolSpec] | None = None,
        system_prompt: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterable[StreamEvent]:
        self.seen.append(copy.deepcopy(messages))
        reply = self.replies.pop(0)
        yield {"messageStart": {"role": "assistant"}}
        if isinstance(reply, ToolCall):
            start: Any = {"toolUse": {"toolUseId": reply.id, "name": reply.name}}
            yield {"contentBlockStart": {"start": start}}
            yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(reply.input)}}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "tool_use"}}
        else:
            yield {"contentBlockStart": {"start": {}}}
            yield {"contentBlockDelta": {"delta": {"text": reply}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "end_turn"}}
