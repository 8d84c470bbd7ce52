"""A pure-Python ADK agent (no model, no API key): keeps each message as a new version of
the artifact ``notes.txt`` and counts turns in the session's state."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from google.adk.agents import BaseAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event, EventActions
from google.genai import types


class NotesAgent(BaseAgent):
    """Saves what the user said as the next version of ``notes.txt`` and says so."""

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        content = ctx.user_content
        said = content.parts[0].text if content and content.parts else ""
        turn = ctx.session.state.get("turns", 0) + 1
        assert ctx.artifact_service is not None
        version = await ctx.artifact_service.save_artifact(
            app_name=ctx.app_name,
            user_id=ctx.user_id,
            session_id=ctx.session.id,
            filename="notes.txt",
            artifact=types.Part(text=f"turn {turn}: {said}"),
        )
        reply = f"#{turn}: noted {said!r} as notes.txt version {version}"
        yield Event(
            author=self.name,
            invocation_id=ctx.invocation_id,
            content=types.Content(role="model", parts=[types.Part(text=reply)]),
            actions=EventActions(
                state_delta={"turns": turn}, artifact_delta={"notes.txt": version}
            ),
        )


root_agent = NotesAgent(name="notes")
