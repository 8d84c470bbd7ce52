"""A model for the OpenAI Agents SDK that needs no LLM, and an agent that uses it.

:class:`CannedModel` implements the SDK's ``Model`` interface with canned responses,
one per call, and records the input of every call, so a test can see what history
the runner handed the model. :func:`conversation` is the script of a two-turn chat
whose first turn calls a tool.

Run as ``python -m tests.support.openai_agents_model URL SESSION TURN`` it plays one turn of
that chat against a storage at URL (S3 endpoint in ``AWS_ENDPOINT_URL``) in a process
of its own, and prints what the model was given and what the session holds, as JSON.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from agents import Agent, ModelResponse, ModelSettings, Runner, Usage, function_tool
from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import TResponseInputItem, TResponseOutputItem, TResponseStreamEvent
from agents.memory import Session
from agents.models.interface import Model, ModelTracing
from agents.tool import Tool
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam

# What the user says in each turn of the scripted chat, and what the agent answers.
TURNS = ["What is the weather in Paris?", "And in Zürich? ☃"]
REPLIES = ["It is sunny in Paris.", "Snow in Zürich, 2 °C. ❄"]


def message(text: str, item_id: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id=item_id,
        type="message",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
    )


def tool_call(name: str, arguments: dict[str, Any], call_id: str) -> ResponseFunctionToolCall:
    return ResponseFunctionToolCall(
        id=f"fc_{call_id}",
        call_id=call_id,
        type="function_call",
        name=name,
        arguments=json.dumps(arguments),
        status="completed",
    )


def answers(turn: int) -> list[list[TResponseOutputItem]]:
    """The model's answers in turn ``turn`` of :data:`TURNS`, one list of output items
    per model call: the first turn calls ``get_weather`` and then answers with its
    result (two calls), the second answers at once (one call)."""
    if turn == 0:
        return [
            [tool_call("get_weather", {"city": "Paris"}, "call_1")],
            [message(REPLIES[0], "msg_1")],
        ]
    return [[message(REPLIES[1], "msg_2")]]


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


class CannedModel(Model):
    """A ``Model`` that answers each call with the next canned list of output items."""

    def __init__(self, outputs: list[list[TResponseOutputItem]]) -> None:
        self.outputs = list(outputs)
        self.inputs: list[str | list[TResponseInputItem]] = []

    def _next(self, given: str | list[TResponseInputItem]) -> list[TResponseOutputItem]:
        self.inputs.append(copy.deepcopy(given))
        if not self.outputs:
            raise AssertionError(f"unexpected model call #{len(self.inputs)}")
        return self.outputs.pop(0)

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        return ModelResponse(output=self._next(input), usage=Usage(), response_id=None)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        # The runner takes the turn's output from the terminal event alone.
        response = Response(
            id=f"resp_{len(self.inputs)}",
            created_at=0,
            model="canned",
            object="response",
            output=self._next(input),
            tool_choice="auto",
            tools=[],
            parallel_tool_calls=False,
        )
        yield ResponseCompletedEvent(
            type="response.completed", response=response, sequence_number=0
        )


def agent(model: Model) -> Agent[Any]:
    return Agent(name="weather", instructions="Answer briefly.", model=model, tools=[get_weather])


async def _play(url: str, session_id: str, turn: int) -> dict[str, Any]:
    from session_storage import SessionStorage
    from session_storage.integrations.openai_agents import StorageSession

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"} if endpoint else {}
    async with SessionStorage(url, options) as storage:
        session: Session = StorageSession(session_id, storage)
        model = CannedModel(answers(turn))
        result = await Runner.run(agent(model), TURNS[turn], session=session)
        return {
            "final_output": result.final_output,
            "model_inputs": model.inputs,
            "items": await session.get_items(),
        }


if __name__ == "__main__":
    url, session_id, turn = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(asyncio.run(_play(url, session_id, turn))))
