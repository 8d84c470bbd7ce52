"""Google ADK sessions on session-storage, with a pure-Python agent: no model, no API key.

Local files (``.data/adk``): ``python examples/adk_example.py "hello"``. Run it again and
the conversation goes on where the last run left it, in a new process.

S3 or an S3-compatible server: ``moto_server -H 127.0.0.1 -p 5000``, then
``AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x
python examples/adk_example.py "hello" --url s3://demo/adk --create-bucket``.
Needs ``pip install "session-storage[adk,s3]"``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from google.adk.agents import BaseAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event, EventActions
from google.adk.runners import Runner
from google.genai import types

from session_storage import SessionStorage
from session_storage.integrations.adk import StorageSessionService

APP, USER, SESSION = "adk-demo", "ann", "demo-session"


class EchoAgent(BaseAgent):
    """Answers every message itself; keeps a turn count per session (``turns``), per
    user (``user:turns``) and per app (``app:turns``), and a ``temp:`` note that lives
    only for the turn."""

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        said = ""
        if ctx.user_content and ctx.user_content.parts:
            said = ctx.user_content.parts[0].text or ""
        state = ctx.session.state
        turn = state.get("turns", 0) + 1
        reply = f"turn {turn}: you said {said!r}"
        yield Event(
            author=self.name,
            invocation_id=ctx.invocation_id,
            content=types.Content(role="model", parts=[types.Part(text=reply)]),
            actions=EventActions(
                state_delta={
                    "turns": turn,
                    "user:turns": state.get("user:turns", 0) + 1,
                    "app:turns": state.get("app:turns", 0) + 1,
                    "temp:said": said,  # never stored
                }
            ),
        )


async def main(url: str, options: Mapping[str, Any], message: str, create_bucket: bool) -> None:
    async with SessionStorage(url, options) as storage:
        if create_bucket:
            bucket = url.split("://", 1)[1].split("/", 1)[0]
            try:
                await storage.filesystem._mkdir(bucket)
            except FileExistsError:
                pass
        print(f"storage: {storage.url} (backend: {storage.backend})")
        service = StorageSessionService(storage)  # the one line that moves ADK's sessions
        runner = Runner(app_name=APP, agent=EchoAgent(name="echo"), session_service=service)
        if await service.get_session(app_name=APP, user_id=USER, session_id=SESSION) is None:
            await service.create_session(app_name=APP, user_id=USER, session_id=SESSION)
            print(f"created session {SESSION}")
        content = types.Content(role="user", parts=[types.Part(text=message)])
        async for event in runner.run_async(user_id=USER, session_id=SESSION, new_message=content):
            if event.content and event.content.parts:
                print(f"{event.author}: {event.content.parts[0].text}")
        session = await service.get_session(app_name=APP, user_id=USER, session_id=SESSION)
        assert session is not None
        print(f"session {SESSION}: {len(session.events)} events, state {session.state}")
        listed = await service.list_sessions(app_name=APP, user_id=USER)
        print(f"sessions of {USER}: {[s.id for s in listed.sessions]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("message", nargs="?", default="hello", help="what the user says")
    parser.add_argument("--url", default=".data/adk", help="storage URL (default: .data/adk)")
    parser.add_argument("--create-bucket", action="store_true", help="create the bucket first")
    args = parser.parse_args()
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    options = {"endpoint_url": endpoint} if endpoint and args.url.startswith("s3://") else {}
    asyncio.run(main(args.url, options, args.message, args.create_bucket))
