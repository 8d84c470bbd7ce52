"""An OpenAI Agents SDK chat whose history lives on session-storage.

Each run plays one more turn of the conversation ``weather-chat``: the agent calls a
tool and answers, and the runner keeps the history in the storage, so the next run
(a new process) carries on where this one stopped. The model is the SDK's
``ScriptedModel``: no network, no API key. With a real model, drop ``model=``.

Local files (``.data/sessions``): ``python examples/openai_agents_example.py``.
S3, or a local S3 server such as moto or MinIO: ``AWS_ENDPOINT_URL=http://127.0.0.1:5000
AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x python examples/openai_agents_example.py
s3://demo --create-bucket``. Needs ``pip install "session-storage[openai-agents]"``
(plus ``[s3]`` for S3).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

from session_storage import SessionStorage
from session_storage.integrations.openai_agents import STREAM, StorageSession

CITIES = ["Paris", "Zürich", "Lagos", "Lima"]


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny, 21 °C in {city}"


def scripted_model(turn: int, city: str) -> ScriptedModel:
    """What an LLM would answer in this turn: call the tool, then say what it said."""
    return ScriptedModel(
        [
            [function_call("get_weather", {"city": city}, call_id=f"call_{turn}")],
            [assistant_message(f"In {city} it is sunny, 21 °C.", item_id=f"msg_{turn}")],
        ]
    )


async def play_turn(url: str, options: dict[str, Any], create_bucket: bool) -> None:
    async with SessionStorage(url, options) as storage:
        if create_bucket:
            bucket = url.split("://", 1)[1].split("/", 1)[0]
            try:
                await storage.filesystem._mkdir(bucket)
            except FileExistsError:
                pass
        print(f"storage: {storage.url} (backend: {storage.backend})")

        # The one line: the conversation's history on this storage.
        session = StorageSession("weather-chat", storage)

        history = await session.get_items()
        turn = sum(1 for item in history if item.get("role") == "user") + 1
        city = CITIES[(turn - 1) % len(CITIES)]
        print(f"turn {turn}: {len(history)} items in the history so far")

        model = scripted_model(turn, city)
        agent = Agent(
            name="weather", instructions="Answer briefly.", model=model, tools=[get_weather]
        )
        result = await Runner.run(agent, f"What is the weather in {city}?", session=session)
        model.assert_complete()
        print(f"assistant: {result.final_output}")
        print(f"the model was sent {len(model.calls[0].input)} items in its first call")

        items = await session.get_items()
        print(f"history now: {len(items)} items, kept as the event stream {STREAM!r}")
        print(f"latest 2 items: {[item.get('type', 'message') for item in items[-2:]]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("url", nargs="?", default=".data/sessions", help="storage URL or folder")
    parser.add_argument("--create-bucket", action="store_true", help="create the bucket first")
    args = parser.parse_args()
    set_tracing_disabled(True)  # the SDK's trace export would need an API key
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    options = {"endpoint_url": endpoint} if endpoint and args.url.startswith("s3://") else {}
    asyncio.run(play_turn(args.url, options, args.create_bucket))


if __name__ == "__main__":
    main()
