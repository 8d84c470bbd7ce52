"""Which framework wrote a store: found from the layout of its folders.

- ``langgraph``: LangGraph's ``StorageSaver`` keeps ``threads/<thread>/ns-<ns>/...``
  (see :mod:`session_storage.integrations.langgraph.layout`);
- ``adk``: ADK's ``StorageSessionService`` keeps ``<app>/{app,users,sessions}/...``
  (see :mod:`session_storage.integrations.adk`);
- ``plain``: anything else, sessions as the application stored them. OpenAI Agents
  conversations live in plain stores, as the ``openai-agents`` stream of a session
  (:data:`OPENAI_STREAM`): they are found per stream, not per store.
"""

from __future__ import annotations

from typing import Literal, get_args

from ..storage import SessionStorage

__all__ = ["ADK_PARTS", "KINDS", "OPENAI_STREAM", "Kind", "detect", "is_conversation"]

Kind = Literal["plain", "langgraph", "adk"]
KINDS: tuple[str, ...] = get_args(Kind)

OPENAI_STREAM = "openai-agents"
"""The stream the OpenAI Agents integration keeps a conversation in."""
ADK_PARTS = frozenset({"app", "users", "sessions"})
"""The folders an ADK app holds."""


async def detect(storage: SessionStorage) -> Kind:
    """The layout of ``storage``: ``langgraph``, ``adk`` or ``plain``.

    At most five listings, each of one or a few names, whatever the store's size; an
    empty or missing store is ``plain``. An ADK app must hold a user folder holding a
    session folder: a plain session with a stream named ``sessions`` is no app.
    """
    threads = await storage.narrow("threads").list_sessions(limit=1)
    if threads:
        namespaces = await storage.narrow("threads", threads[0]).list_sessions(limit=1)
        if namespaces and namespaces[0].startswith("ns-"):
            return "langgraph"
    first = await storage.list_sessions(limit=1)
    if first:
        app = first[0]
        parts = await storage.narrow(app).list_sessions(limit=4)
        if "sessions" in parts and set(parts) <= ADK_PARTS:
            users = await storage.narrow(app, "sessions").list_sessions(limit=1)
            if users and await storage.narrow(app, "sessions", users[0]).list_sessions(limit=1):
                return "adk"
    return "plain"


def is_conversation(stream: str) -> bool:
    """Whether a stream holds an OpenAI Agents conversation (by its name)."""
    return stream == OPENAI_STREAM
