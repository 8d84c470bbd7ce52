"""Stores for the browser tests: a plain store (states, bytes, streams, an OpenAI
Agents conversation, hostile ids and values), a LangGraph store written by a real
graph, and an ADK store written by the ADK service."""

from __future__ import annotations

from typing import Any

from session_storage import SessionStorage

XSS = "<img src=x onerror=window.__xss=1><script>window.__xss=1</script>"
"""Markup that sets a window flag if any page renders it as markup."""
XSS_ID = f"x{XSS}"

CONVERSATION: list[dict[str, Any]] = [
    {"role": "user", "content": "What is the weather in Paris?"},
    {
        "type": "function_call",
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
        "call_id": "call-1",
    },
    {"type": "function_call_output", "call_id": "call-1", "output": "sunny, 21 C"},
    {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "It is sunny in Paris."}],
    },
]


async def fill_plain(storage: SessionStorage, sessions: int = 60, events: int = 250) -> None:
    """``user-00`` .. : states; ``user-00`` also a bytes file, a long stream and a
    conversation; a session whose id, filename, state and events are markup."""
    await storage.store_sessions(
        {
            f"user-{i:02d}": {"turn": i, "profile": {"name": f"user {i}", "tags": ["a", "b"]}}
            for i in range(sessions)
        }
    )
    await storage.store_bytes("user-00", "avatar.png", b"\x89PNG\r\n\x1a\n" + bytes(64))
    await storage.store_bytes("user-00", "notes.html", XSS.encode())
    for start in range(0, events, 100):
        batch = [{"n": n, "text": f"event {n}"} for n in range(start, min(events, start + 100))]
        await storage.append_events("user-00", "log", batch)
    await storage.append_events("user-00", "openai-agents", CONVERSATION)
    await storage.store_session(XSS_ID, {XSS: XSS, "nested": {"list": [XSS]}}, f"{XSS}.json")
    await storage.append_event(XSS_ID, XSS, {XSS: XSS})
    await storage.append_events(
        XSS_ID, "openai-agents", [{"role": XSS, "content": XSS}, {"type": XSS, "x": XSS}]
    )


async def fill_langgraph(storage: SessionStorage) -> None:
    """Two threads of a real graph (plain Python nodes), one with markup in its id."""
    from session_storage.integrations.langgraph import StorageSaver

    from .langgraph_support import build_graph

    graph = build_graph(StorageSaver(storage))
    for thread in ("thread-1", XSS_ID):
        config = {"configurable": {"thread_id": thread}}
        await graph.ainvoke({"messages": ["hello"], "turns": 0, "route": ""}, config)
        await graph.ainvoke({"messages": [f"again {XSS}"]}, config)


async def fill_adk(storage: SessionStorage) -> None:
    """An app with a user and two sessions, events with text and state deltas."""
    from google.adk.events.event import Event
    from google.adk.events.event_actions import EventActions
    from google.genai import types

    from session_storage.integrations.adk import StorageSessionService

    service = StorageSessionService(storage)
    for sid in ("session-1", XSS_ID):
        session = await service.create_session(
            app_name="weather-app", user_id="alice", session_id=sid, state={"city": "Paris"}
        )
        for n, (author, text) in enumerate(
            [("user", "Hi there"), ("weather_agent", f"Hello! {XSS}"), ("user", "Bye")]
        ):
            event = Event(
                id=f"event-{n}",
                invocation_id="inv-1",
                author=author,
                timestamp=1_767_225_700.0 + n,
                content=types.Content(role="user", parts=[types.Part(text=text)]),
                actions=EventActions(state_delta={"turns": n + 1}),
            )
            await service.append_event(session, event)
