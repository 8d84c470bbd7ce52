"""Google ADK sessions on any storage: :class:`StorageSessionService`.

One line puts an ADK app's sessions on local disk, memory, S3, GCS or Azure::

    service = StorageSessionService(SessionStorage("s3://bucket/adk"))
    runner = Runner(app_name="demo", agent=agent, session_service=service)

Needs the ``adk`` extra (``pip install "session-storage[adk]"``); importing this module
without ADK raises :class:`~session_storage.core.errors.MissingDependencyError` naming it.

Layout below the storage's root; every part is encoded like a session id, so any app
name, user id or session id is stored safely and listed back as given::

    <app_name>/app/state.json                              app state (app: keys, unprefixed)
    <app_name>/users/<user_id>/state.json                  user state (user: keys, unprefixed)
    <app_name>/sessions/<user_id>/<session_id>/state.json  the session's record
    <app_name>/sessions/<user_id>/<session_id>/events/     its event stream

App and user state files hold ``{"state": {...}}``. The record holds the session's own
state, its last update time and which events of the stream are committed (see
:mod:`session_storage.integrations.adk_records`). Each event is one item of the
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
"""

from __future__ import annotations

import copy
import random
import warnings
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Hashable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio

from ..core.errors import (
    ConflictError,
    CorruptDataError,
    InvalidArgumentError,
    MissingDependencyError,
    SessionStorageError,
)
from ..storage import SessionStorage
from .adk_records import SessionRecord

try:
    from google.adk.errors import StaleSessionError
    from google.adk.errors.already_exists_error import AlreadyExistsError
    from google.adk.errors.session_not_found_error import SessionNotFoundError
    from google.adk.events.event import Event
    from google.adk.platform import time as platform_time
    from google.adk.platform import uuid as platform_uuid
    from google.adk.sessions.base_session_service import (
        BaseSessionService,
        GetSessionConfig,
        ListSessionsResponse,
    )
    from google.adk.sessions.session import Session
    from google.adk.sessions.state import State
    from pydantic import ValidationError
    from pydantic_core import to_jsonable_python
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without ADK
    raise MissingDependencyError(
        "session_storage.integrations.adk needs google-adk, which is not installed: "
        'pip install "session-storage[adk]"'
    ) from exc

__all__ = [
    "AdkSessionExistsError",
    "AdkSessionNotFoundError",
    "AdkStaleSessionError",
    "StorageSessionService",
]

EVENTS_STREAM = "events"
"""The name of each session's event stream."""
_APP_STATE_ID = "app"
_MERGE_RETRIES = 16  # conflicting writes in a row before a shared-state merge gives up
_MERGE_PAUSE = 0.005  # seconds; the random pause after a conflict doubles each time
_PAGE = 100  # events read at a time when walking back for after_timestamp


class AdkSessionExistsError(SessionStorageError, AlreadyExistsError):
    """``create_session`` was given the id of a session that exists; nothing was written."""


class AdkSessionNotFoundError(SessionStorageError, SessionNotFoundError):
    """``append_event`` was given a session that is not (or no longer) stored."""


class AdkStaleSessionError(SessionStorageError, StaleSessionError):
    """``append_event`` through a session object that is older than the stored session.

    Another worker (or another service) appended to the session after this object
    was read; nothing was committed. Reload it with ``get_session`` and append again.
    """


@dataclass(frozen=True, slots=True)
class _Scoped:
    """A state or delta split by scope; ``temp:`` keys dropped, values made JSON-safe."""

    app: dict[str, Any]
    user: dict[str, Any]
    session: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Shared:
    """Where one shared state (an app's, or a user's in an app) is stored."""

    store: SessionStorage
    key: str
    cache_key: tuple[str, ...]


class _Versions:
    """The version and value this service last read or wrote per object (an LRU).

    Only a first guess for a conditional write: a stale entry makes the write fail,
    and the caller then reads the object afresh. Values are never handed out uncopied.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, tuple[str | None, Any]] = OrderedDict()

    def get(self, key: Hashable) -> tuple[str | None, Any] | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: Hashable, version: str | None, value: Any) -> None:
        self._items[key] = (version, value)
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def drop(self, key: Hashable) -> None:
        self._items.pop(key, None)


class _TurnLocks:
    """One lock per session key, alive while somebody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[anyio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (anyio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class StorageSessionService(BaseSessionService):
    """An ADK ``BaseSessionService`` that keeps sessions, events and state in ``storage``.

    ``storage`` is any :class:`~session_storage.SessionStorage` (narrow it to keep the
    ADK data under a prefix); the caller opens and closes it. Behaves as ADK's
    ``InMemorySessionService`` does, with the database service's refusal of stale
    session objects; the module docstring gives the layout and the costs.
    ``cache_size`` bounds how many objects' versions the service remembers to save a
    read before a write. Storage failures raise the library's errors
    (:class:`~session_storage.core.errors.SessionStorageError`).
    """

    def __init__(self, storage: SessionStorage, *, cache_size: int = 4096) -> None:
        if not isinstance(storage, SessionStorage):
            raise InvalidArgumentError(
                f"storage must be a SessionStorage, got {type(storage).__name__}"
            )
        if not isinstance(cache_size, int) or isinstance(cache_size, bool) or cache_size < 0:
            raise InvalidArgumentError(f"cache_size must be an int >= 0, got {cache_size!r}")
        self._storage = storage
        self._versions = _Versions(cache_size)
        self._turns = _TurnLocks()

    @property
    def storage(self) -> SessionStorage:
        """The storage the sessions are kept in."""
        return self._storage

    # -- where things live ---------------------------------------------------------

    def _sessions(self, app_name: str, user_id: str) -> SessionStorage:
        return self._storage.narrow(app_name, "sessions", user_id)

    def _app(self, app_name: str) -> _Shared:
        return _Shared(self._storage.narrow(app_name), _APP_STATE_ID, ("app", app_name))

    def _user(self, app_name: str, user_id: str) -> _Shared:
        store = self._storage.narrow(app_name, "users")
        return _Shared(store, user_id, ("user", app_name, user_id))

    # -- BaseSessionService --------------------------------------------------------

    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> Session:
        """Store a new session; ``session_id`` (stripped) or a generated id.

        An existing id raises :class:`AdkSessionExistsError` (ADK's
        ``AlreadyExistsError``) and writes nothing. ``app:`` and ``user:`` keys of
        ``state`` go to the shared states, ``temp:`` keys are dropped.
        """
        session_id = (session_id.strip() if session_id else None) or platform_uuid.new_uuid()
        scoped = _split(state or {})
        record = SessionRecord(scoped.session, platform_time.get_time())
        store = self._sessions(app_name, user_id)
        try:
            version = await store.store_session(
                session_id, record.to_json(app_name, user_id, session_id), if_absent=True
            )
        except ConflictError as exc:
            raise AdkSessionExistsError(
                f"{store.backend}: session {session_id!r} of user {user_id!r} in app "
                f"{app_name!r} already exists ({store.narrow_path(session_id)}); nothing "
                "was written",
                backend=store.backend,
                session_id=session_id,
                url=store.narrow_path(session_id),
            ) from exc
        self._versions.put(("session", app_name, user_id, session_id), version, record)
        app_state, user_state = await _gather(
            self._write_or_read(self._app(app_name), scoped.app),
            self._write_or_read(self._user(app_name, user_id), scoped.user),
        )
        return _session(app_name, user_id, session_id, version, record, [], app_state, user_state)

    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> Session | None:
        """The session with its merged state and events, or ``None`` if it is not stored.

        ``config.num_recent_events`` keeps the latest n events (0: none);
        ``config.after_timestamp`` then keeps those after the newest event older than
        it, as ADK's in-memory service does. Only the events kept are read.
        """
        session_id = session_id.strip() if session_id else session_id
        if not (app_name and user_id and session_id):
            return None  # no stored session can have an empty name
        loaded, (_, app_state), (_, user_state) = await _gather(
            self._read_record(app_name, user_id, session_id),
            self._read_shared(self._app(app_name)),
            self._read_shared(self._user(app_name, user_id)),
        )
        if loaded is None:
            return None
        version, record = loaded
        store = self._sessions(app_name, user_id)
        events = await self._read_events(store, session_id, record, config)
        return _session(
            app_name, user_id, session_id, version, record, events, app_state, user_state
        )

    async def list_sessions(
        self, *, app_name: str, user_id: str | None = None
    ) -> ListSessionsResponse:
        """The sessions of one user of the app, or of every user (``user_id=None``).

        Each with its merged state and no events, oldest update first (ties by user
        and id), as ADK defines it; an app or user without sessions gives none. Costs
        one listing per user (per 1000 sessions) and one read per session.
        """
        if not app_name or user_id == "":
            return ListSessionsResponse()
        if user_id is None:
            users = [u async for u in self._storage.narrow(app_name, "sessions").iter_sessions()]
        else:
            users = [user_id]
        _, app_state = await self._read_shared(self._app(app_name))
        limiter = anyio.CapacityLimiter(max(1, self._storage.max_concurrency))

        async def read(user: str, session_id: str) -> tuple[str, SessionRecord] | None:
            async with limiter:
                return await self._read_record(app_name, user, session_id)

        found: list[Session] = []
        for user in users:
            ids = [s async for s in self._sessions(app_name, user).iter_sessions()]
            if not ids:
                continue
            _, user_state = await self._read_shared(self._user(app_name, user))
            records = await _gather(*(read(user, session_id) for session_id in ids))
            for session_id, loaded in zip(ids, records, strict=True):
                if loaded is not None:  # a folder left without its record is no session
                    version, record = loaded
                    found.append(
                        _session(
                            app_name, user, session_id, version, record, [], app_state, user_state
                        )
                    )
        found.sort(key=lambda s: (s.last_update_time, s.user_id, s.id))
        return ListSessionsResponse(sessions=found)

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        """Delete the session's record and events; nothing happens if it is missing.

        App and user state stay, as in ADK's services.
        """
        session_id = session_id.strip() if session_id else session_id
        if not (app_name and user_id and session_id):
            return
        await self._sessions(app_name, user_id).delete_session(session_id)
        self._versions.drop(("session", app_name, user_id, session_id))

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        """The user's state in the app without the ``user:`` prefix; ``{}`` if none."""
        if not (app_name and user_id):
            return {}
        return copy.deepcopy((await self._read_shared(self._user(app_name, user_id)))[1])

    async def append_event(self, session: Session, event: Event) -> Event:
        """Store ``event`` and apply its state delta, to the storage and to ``session``.

        Partial events are returned untouched and stored nowhere, and so is an event
        ``session`` already holds (a re-delivery). ``temp:`` keys are applied to
        ``session`` only. A session that is not stored raises
        :class:`AdkSessionNotFoundError`; a ``session`` older than the stored one
        raises :class:`AdkStaleSessionError` with nothing committed (both are ADK's
        error types).
        """
        if event.partial:
            return event
        if any(held.id == event.id and held == event for held in session.events):
            return event
        async with self._turns.hold(("session", session.app_name, session.user_id, session.id)):
            return await self._append(session, event)

    # -- appending -----------------------------------------------------------------

    async def _append(self, session: Session, event: Event) -> Event:
        app_name, user_id, session_id = session.app_name, session.user_id, session.id
        store = self._sessions(app_name, user_id)
        base = await self._base_record(store, session, event)
        if base is None:
            return event  # committed already by an earlier call whose reply was lost
        version, record, cached = base
        self._apply_temp_state(session, event)
        event = self._trim_temp_delta_state(event)
        scoped = _split(event.actions.state_delta if event.actions else {})
        dumped = _dump(event)
        try:
            # Only onto the stream the record describes. Known from this service's own
            # last commit, the stream must hold exactly the record's events: if another
            # worker appended since (a stale ``session``), nothing is written. Read just
            # now, it may hold more (events of a writer that died before committing:
            # a gap), never fewer (truncated, or the session deleted).
            index = await store.append_event(
                session_id,
                EVENTS_STREAM,
                dumped,
                if_count=record.end if cached else None,
                if_count_at_least=record.end,
            )
        except ConflictError as exc:
            loaded = await self._read_record(app_name, user_id, session_id)
            if not cached or loaded is None or loaded[0] != version:
                raise await self._refusal(store, session) from exc
            # Nobody committed since: the extra events are uncommitted ones.
            record = loaded[1]
            try:
                index = await store.append_event(
                    session_id, EVENTS_STREAM, dumped, if_count_at_least=record.end
                )
            except ConflictError as again:
                raise await self._refusal(store, session) from again
        try:
            new = record.after_append(index, event.id, event.timestamp, scoped.session)
        except ValueError as exc:
            raise self._corrupt(store, session_id, str(exc)) from exc
        try:
            written = await store.store_session(
                session_id, new.to_json(app_name, user_id, session_id), if_version=version
            )
        except ConflictError as exc:
            raise await self._refusal(store, session) from exc
        self._versions.put(("session", app_name, user_id, session_id), written, new)
        if scoped.app or scoped.user:
            await _gather(
                self._write_or_read(self._app(app_name), scoped.app, merge_only=True),
                self._write_or_read(self._user(app_name, user_id), scoped.user, merge_only=True),
            )
        session.last_update_time = event.timestamp
        session._storage_update_marker = written
        return self._commit_event_to_session(session, event)

    async def _base_record(
        self, store: SessionStorage, session: Session, event: Event
    ) -> tuple[str, SessionRecord, bool] | None:
        """The stored record ``session`` was read at, its version, and whether both
        come from this service's cache (not read now); ``None`` if ``event`` is already
        the session's latest. Raises if ``session`` is stale."""
        marker = session._storage_update_marker
        cached = self._versions.get(("session", session.app_name, session.user_id, session.id))
        if marker is not None and cached is not None and cached[0] == marker:
            record: SessionRecord = cached[1]
            return marker, record, True
        loaded = await self._read_record(session.app_name, session.user_id, session.id)
        if loaded is None:
            raise self._not_found(store, session)
        version, record = loaded
        if marker == version:
            return version, record, False
        if record.last_event_id == event.id:
            return None
        if marker is None and _matches(record, session):
            # A session built elsewhere: DatabaseSessionService's fallback.
            return version, record, False
        raise self._stale(store, session)

    async def _refusal(self, store: SessionStorage, session: Session) -> SessionStorageError:
        """Why the conditional write of the record failed: the session is gone, or stale."""
        loaded = await self._read_record(session.app_name, session.user_id, session.id)
        return self._not_found(store, session) if loaded is None else self._stale(store, session)

    # -- reading and writing -------------------------------------------------------

    async def _read_record(
        self, app_name: str, user_id: str, session_id: str
    ) -> tuple[str, SessionRecord] | None:
        store = self._sessions(app_name, user_id)
        state, version = await store.load_session(session_id, with_version=True)
        if state is None or version is None:
            return None
        try:
            record = SessionRecord.from_json(state)
        except ValueError as exc:
            raise self._corrupt(store, session_id, f"not an ADK session record: {exc}") from exc
        self._versions.put(("session", app_name, user_id, session_id), version, record)
        return version, record

    async def _read_shared(self, shared: _Shared) -> tuple[str | None, dict[str, Any]]:
        """A shared state and its version; ``(None, {})`` if it was never written."""
        stored, version = await shared.store.load_session(shared.key, with_version=True)
        state: dict[str, Any] = {}
        if stored is not None:
            found = stored.get("state")
            if not isinstance(found, dict):
                raise self._corrupt(shared.store, shared.key, "its 'state' is not an object")
            state = found
        self._versions.put(shared.cache_key, version, state)
        return version, state

    async def _write_or_read(
        self, shared: _Shared, delta: dict[str, Any], *, merge_only: bool = False
    ) -> dict[str, Any]:
        """Merge ``delta`` into a shared state (conditional writes, retried) and return
        the result; with no delta, read it (or, with ``merge_only``, do nothing)."""
        if not delta:
            return {} if merge_only else (await self._read_shared(shared))[1]
        cached = self._versions.get(shared.cache_key)
        for attempt in range(_MERGE_RETRIES):
            version, state = cached if cached is not None else await self._read_shared(shared)
            merged = {**state, **delta}
            try:
                written = await shared.store.store_session(
                    shared.key, {"state": merged}, if_version=version, if_absent=version is None
                )
            except ConflictError:
                cached = None  # somebody else wrote it: merge into theirs
                await anyio.sleep(random.uniform(0, _MERGE_PAUSE * 2 ** min(attempt, 6)))
                continue
            self._versions.put(shared.cache_key, written, merged)
            return merged
        url = shared.store.narrow_path(shared.key)
        raise ConflictError(
            f"{shared.store.backend}: cannot merge into shared state {shared.key!r} ({url}): "
            f"{_MERGE_RETRIES} conflicting writes in a row",
            backend=shared.store.backend,
            session_id=shared.key,
            url=url,
        )

    async def _read_events(
        self,
        store: SessionStorage,
        session_id: str,
        record: SessionRecord,
        config: GetSessionConfig | None,
    ) -> list[Event]:
        latest = config.num_recent_events if config else None
        after = config.after_timestamp if config else None
        if latest == 0:
            return []
        if latest is None and after is not None:
            return await self._events_since(store, session_id, record, after)
        events = await self._load_events(store, session_id, record.committed(latest))
        return events if after is None else _since(events, after)

    async def _events_since(
        self, store: SessionStorage, session_id: str, record: SessionRecord, after: float
    ) -> list[Event]:
        """The events after the newest one older than ``after``, read a page at a time
        from the end, so a recent ``after`` reads only the tail."""
        kept: list[Event] = []
        stop = record.end
        while indices := record.committed_before(stop, _PAGE):
            page = await self._load_events(store, session_id, indices)
            older = _since(page, after)
            if len(older) < len(page):
                return older + kept
            kept = page + kept
            stop = indices[0]
        return kept

    async def _load_events(
        self, store: SessionStorage, session_id: str, indices: list[int]
    ) -> list[Event]:
        """The events at ``indices`` (ascending), read as one range of the stream."""
        if not indices:
            return []
        start, stop = indices[0], indices[-1] + 1
        items = await store.read_events(session_id, EVENTS_STREAM, start, stop - start)
        if len(items) < stop - start:
            why = f"its event stream ends at {start + len(items)}, the record says {stop}"
            raise self._corrupt(store, session_id, why)
        events = []
        for index in indices:
            try:
                events.append(Event.model_validate(items[index - start]))
            except ValidationError as exc:
                why = f"event {index} of stream {EVENTS_STREAM!r} is not an ADK event: {exc}"
                raise self._corrupt(store, session_id, why) from exc
        return events

    # -- errors --------------------------------------------------------------------

    def _not_found(self, store: SessionStorage, session: Session) -> AdkSessionNotFoundError:
        url = store.narrow_path(session.id)
        return AdkSessionNotFoundError(
            f"{store.backend}: session {session.id!r} of user {session.user_id!r} in app "
            f"{session.app_name!r} is not stored ({url}); nothing was committed",
            backend=store.backend,
            session_id=session.id,
            url=url,
        )

    def _stale(self, store: SessionStorage, session: Session) -> AdkStaleSessionError:
        url = store.narrow_path(session.id)
        return AdkStaleSessionError(
            f"{store.backend}: session {session.id!r} of user {session.user_id!r} in app "
            f"{session.app_name!r} was changed in storage after this Session object was "
            f"read ({url}); nothing was committed. Reload it with get_session and append "
            "again.",
            backend=store.backend,
            session_id=session.id,
            url=url,
        )

    def _corrupt(self, store: SessionStorage, key: str, why: str) -> CorruptDataError:
        url = store.narrow_path(key)
        return CorruptDataError(
            f"{store.backend}: cannot read ADK data of {key!r} ({url}): {why}",
            backend=store.backend,
            session_id=key,
            filename="state.json",
            url=url,
        )


def _split(state: Mapping[str, Any]) -> _Scoped:
    """Split a state or delta by scope, as ADK's services do; values JSON-safe."""
    scoped = _Scoped({}, {}, {})
    for key, value in _json_safe(state).items():
        if key.startswith(State.APP_PREFIX):
            scoped.app[key.removeprefix(State.APP_PREFIX)] = value
        elif key.startswith(State.USER_PREFIX):
            scoped.user[key.removeprefix(State.USER_PREFIX)] = value
        elif not key.startswith(State.TEMP_PREFIX):
            scoped.session[key] = value
    return scoped


def _json_safe(state: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON form of ``state`` as ADK's database service makes it: rich values
    (datetimes, models) faithfully; anything else as its ``repr``, with a warning."""
    try:
        safe = to_jsonable_python(dict(state))
    except Exception:  # pydantic raises several types here; all mean the same thing
        warnings.warn(
            "ADK state holds values that are not JSON-serializable; they are stored as "
            "their repr()",
            stacklevel=3,
        )
        safe = to_jsonable_python(dict(state), fallback=repr)
    result: dict[str, Any] = safe
    return result


def _dump(event: Event) -> dict[str, Any]:
    """An event as stored: its JSON form with ADK's camelCase aliases, unset fields out."""
    dumped: dict[str, Any] = event.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def _since(events: list[Event], after: float) -> list[Event]:
    """The events after the newest one older than ``after`` (InMemorySessionService's
    ``after_timestamp``); all of them if none is older."""
    for position in range(len(events) - 1, -1, -1):
        if events[position].timestamp < after:
            return events[position + 1 :]
    return events


def _matches(record: SessionRecord, session: Session) -> bool:
    """Whether a session object without a version still describes the stored session:
    nothing was stored after it, or its newest event is the stored newest."""
    if record.last_update_time <= session.last_update_time:
        return True
    newest = session.events[-1].id if session.events else None
    return record.last_event_id == newest


def _session(
    app_name: str,
    user_id: str,
    session_id: str,
    version: str,
    record: SessionRecord,
    events: list[Event],
    app_state: Mapping[str, Any],
    user_state: Mapping[str, Any],
) -> Session:
    """A Session as ADK's services return it: own, app: and user: state merged, copied."""
    state = copy.deepcopy(record.state)
    state.update({State.APP_PREFIX + k: copy.deepcopy(v) for k, v in app_state.items()})
    state.update({State.USER_PREFIX + k: copy.deepcopy(v) for k, v in user_state.items()})
    session = Session(
        id=session_id,
        app_name=app_name,
        user_id=user_id,
        state=state,
        events=events,
        last_update_time=record.last_update_time,
    )
    session._storage_update_marker = version
    return session


async def _gather(*works: Awaitable[Any]) -> list[Any]:
    """Await operations at once (their requests in flight together); their results in
    order. The first failure is raised as itself, not inside an exception group, once
    every operation has finished."""
    results: list[Any] = [None] * len(works)
    failures: list[Exception] = []

    async def run(position: int, work: Awaitable[Any]) -> None:
        try:
            results[position] = await work
        except Exception as exc:  # re-raised below, after the others finished
            failures.append(exc)

    async with anyio.create_task_group() as group:
        for position, work in enumerate(works):
            group.start_soon(run, position, work)
    if failures:
        raise failures[0]
    return results
