"""A pure-Python ADK agent (no model) and a conversation with it through ADK's Runner.

Kept apart from the tests so that a child process can import it without pytest.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from google.adk.agents import BaseAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event, EventActions
from google.adk.runners import Runner
from google.adk.sessions import BaseSessionService
from google.genai import types

__all__ = ["CountingAgent", "converse"]


class CountingAgent(BaseAgent):
    """A pure-Python agent: counts turns in session, user and app state, uses temp: state
    within the turn, and answers in two events."""

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        turn = ctx.session.state.get("turns", 0) + 1
        said = ctx.user_content.parts[0].text if ctx.user_content and ctx.user_content.parts else ""
        yield Event(
            author=self.name,
            invocation_id=ctx.invocation_id,
            actions=EventActions(
                state_delta={"temp:heard": said, "turns": turn, "app:calls": turn}
            ),
        )
        heard = ctx.session.state.get("temp:heard")
        yield Event(
            author=self.name,
            invocation_id=ctx.invocation_id,
            content=types.Content(role="model", parts=[types.Part(text=f"#{turn}: {heard}")]),
            actions=EventActions(state_delta={"user:last": heard, "history": [said] * turn}),
        )


async def converse(service: BaseSessionService, messages: list[str]) -> list[str]:
    """Send ``messages`` to CountingAgent in session c1 of user ann (created if missing)
    through ADK's Runner on ``service``; the agent's text replies."""
    runner = Runner(app_name="chat", agent=CountingAgent(name="counter"), session_service=service)
    if await service.get_session(app_name="chat", user_id="ann", session_id="c1") is None:
        await service.create_session(app_name="chat", user_id="ann", session_id="c1")
    replies = []
    for text in messages:
        message = types.Content(role="user", parts=[types.Part(text=text)])
        async for event in runner.run_async(user_id="ann", session_id="c1", new_message=message):
            if event.content and event.content.parts:
                replies.append(str(event.content.parts[0].text))
    return replies
