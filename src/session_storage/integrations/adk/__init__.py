"""Google ADK sessions and artifacts on any storage: :class:`StorageSessionService`,
:class:`StorageArtifactService`.

One line puts an ADK app's sessions on local disk, memory, S3, GCS or Azure::

    service = StorageSessionService(SessionStorage("s3://bucket/adk"))
    runner = Runner(app_name="demo", agent=agent, session_service=service)

Needs the ``adk`` extra (``pip install "session-storage[adk]"``); importing this package
without ADK raises :class:`~session_storage.core.errors.MissingDependencyError` naming it.

Layout below the storage's root; every part is encoded like a session id, so any app
name, user id or session id is stored safely and listed back as given::

    <app_name>/app/state.json                              app state (app: keys, unprefixed)
    <app_name>/users/<user_id>/state.json                  user state (user: keys, unprefixed)
    <app_name>/sessions/<user_id>/<session_id>/state.json  the session's record
    <app_name>/sessions/<user_id>/<session_id>/events/     its event stream

App and user state files hold ``{"state": {...}}``. The record holds the session's own
state, its last update time and which events of the stream are committed (see
:mod:`.records`). Each event is one item of the
stream ``events``: ``Event.model_dump(mode="json", by_alias=True, exclude_none=True)``,
the JSON ADK's Vertex AI service keeps as an event's raw form; ``temp:`` keys never
reach it. Partial events are not stored.

Semantics are those of ADK's ``InMemorySessionService``, plus the stale-session check of
its ``DatabaseSessionService``: every ``Session`` this service returns carries the
version of the record it was read at, and ``append_event`` commits the event by
rewriting the record only if it is still at that version (a conditional write the
store enforces). A session object that another worker or service appended through in
the meantime is refused with :class:`AdkStaleSessionError` (ADK's
``StaleSessionError``): reload it with ``get_session`` and append again. Appends
through one service to one session take turns, as in the database service. ``app:``
and ``user:`` deltas are merged key by key into the shared state with conditional
writes, retried on conflict, so workers never lose each other's keys; they are written
right after the event is committed (a crash in between loses them, the event keeps them).

Costs (requests on an object store): ``get_session`` reads the record, the app state
and the user state (three GETs, at once) plus the events asked for;
``append_event`` appends one event and rewrites the record (two requests when the
session came from this service and nobody else wrote in between; one GET more
otherwise), plus one write per shared scope (``app:``, ``user:``) its delta touches.

Artifacts: :class:`StorageArtifactService` keeps an app's artifacts beside its sessions
(``<app_name>/artifacts/...``); layout and costs in :mod:`.artifacts`.

ADK's own servers (``adk web``, ``adk api_server``) run on these services through
the URI schemes :func:`register_uri_schemes` registers (``session-storage+s3://...``;
see :mod:`.uri_schemes`).

Modules: :mod:`.service` (the service), :mod:`.artifacts` and :mod:`.artifact_parts`
(artifacts), :mod:`.uri_schemes` (ADK's servers), :mod:`.records` (the session record),
:mod:`.events` (the event stream), :mod:`.shared_state` (``app:`` and ``user:``
state), :mod:`.errors`, and :mod:`.framework` (the one place ADK is imported).
"""

from __future__ import annotations

from .artifacts import StorageArtifactService
from .errors import AdkSessionExistsError, AdkSessionNotFoundError, AdkStaleSessionError
from .events import EVENTS_STREAM
from .service import StorageSessionService
from .uri_schemes import (
    SCHEMES,
    artifact_service_from_uri,
    register_uri_schemes,
    session_service_from_uri,
    storage_from_uri,
)

__all__ = [
    "EVENTS_STREAM",
    "SCHEMES",
    "AdkSessionExistsError",
    "AdkSessionNotFoundError",
    "AdkStaleSessionError",
    "StorageArtifactService",
    "StorageSessionService",
    "artifact_service_from_uri",
    "register_uri_schemes",
    "session_service_from_uri",
    "storage_from_uri",
]
