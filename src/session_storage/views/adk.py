"""ADK apps, their users, their sessions, and a session's events, as values.

Apps, users and session ids are pages of names (one LIST each); a session is read
through the integration's public reader, ``StorageSessionService.get_session``, for
its latest :data:`EVENT_PAGE` committed events (three GETs at once, then the events:
see :mod:`session_storage.integrations.adk`). An event shows its author, its text,
its state delta and the whole event as JSON.

Needs the ``adk`` extra for a session; without it that call raises
MissingDependencyError naming it. Listing apps, users and session ids needs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..storage import SessionStorage
from .store import NamesPage, names_page
from .values import jsonable

__all__ = [
    "EVENT_PAGE",
    "AdkEvent",
    "AdkSession",
    "adk_session",
    "apps_page",
    "sessions_of",
    "sessions_page",
    "users_of",
    "users_page",
]

EVENT_PAGE = 100
"""The latest events shown of one session."""


async def apps_page(
    storage: SessionStorage, prefix: str = "", after: str | None = None
) -> NamesPage:
    """A page of app names, in key order."""
    return await names_page(storage, prefix, after)


def users_of(storage: SessionStorage, app: str) -> SessionStorage:
    """The storage whose sessions are the users of ``app`` that have sessions."""
    return storage.narrow(app, "sessions")


def sessions_of(storage: SessionStorage, app: str, user: str) -> SessionStorage:
    """The storage whose sessions are ``user``'s ADK sessions in ``app``."""
    return storage.narrow(app, "sessions", user)


async def users_page(
    storage: SessionStorage, app: str, prefix: str = "", after: str | None = None
) -> NamesPage:
    """A page of the users of ``app`` that have sessions."""
    return await names_page(users_of(storage, app), prefix, after)


async def sessions_page(
    storage: SessionStorage, app: str, user: str, prefix: str = "", after: str | None = None
) -> NamesPage:
    """A page of ``user``'s session ids in ``app``."""
    return await names_page(sessions_of(storage, app, user), prefix, after)


@dataclass(frozen=True)
class AdkEvent:
    author: str
    time: datetime | None
    text: str
    state_delta: dict[str, Any]
    event: Any
    """The whole event as JSON."""


@dataclass(frozen=True)
class AdkSession:
    app: str
    user: str
    session_id: str
    state: dict[str, Any]
    """The merged state (``app:`` and ``user:`` keys included), as ADK gives it."""
    events: list[AdkEvent]
    """Newest first."""
    last_update: datetime | None


def _time(seconds: Any) -> datetime | None:
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        return datetime.fromtimestamp(seconds, timezone.utc)
    return None


def _event(event: Any) -> AdkEvent:
    parts = getattr(getattr(event, "content", None), "parts", None) or []
    texts = [p.text for p in parts if getattr(p, "text", None)]
    calls = [f"call {p.function_call.name}" for p in parts if getattr(p, "function_call", None)]
    delta = getattr(getattr(event, "actions", None), "state_delta", None) or {}
    return AdkEvent(
        str(getattr(event, "author", "")),
        _time(getattr(event, "timestamp", None)),
        "\n".join(texts + calls),
        jsonable(delta),
        jsonable(event),
    )


async def adk_session(
    storage: SessionStorage, app: str, user: str, session_id: str
) -> AdkSession | None:
    """The session's state and its latest events, newest first; None if not stored."""
    # The integration's package raises MissingDependencyError naming the extra.
    from ..integrations.adk import StorageSessionService
    from ..integrations.adk.framework import GetSessionConfig

    service = StorageSessionService(storage)
    found = await service.get_session(
        app_name=app,
        user_id=user,
        session_id=session_id,
        config=GetSessionConfig(num_recent_events=EVENT_PAGE),
    )
    if found is None:
        return None
    events = [_event(e) for e in reversed(found.events)]
    return AdkSession(
        app, user, session_id, jsonable(found.state), events, _time(found.last_update_time)
    )
