"""The ADK session service on a storage: :class:`StorageSessionService`.

Layout, semantics and costs: :mod:`session_storage.integrations.adk`.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from ...concurrency.bounded import map_bounded
from ...concurrency.keyed_locks import KeyedLocks
from ...core.errors import ConflictError, InvalidArgumentError, SessionStorageError
from ...storage import SessionStorage
from .errors import corrupt, exists, not_found, stale
from .events import EVENTS_STREAM, dump, read_events
from .framework import (
    BaseSessionService,
    Event,
    GetSessionConfig,
    ListSessionsResponse,
    Session,
    State,
    platform_time,
    platform_uuid,
)
from .records import SessionRecord
from .shared_state import Shared, SharedStates, Versions, split

__all__ = ["StorageSessionService"]

_APP_STATE_ID = "app"


class StorageSessionService(BaseSessionService):
    """An ADK ``BaseSessionService`` that keeps sessions, events and state in ``storage``.

    ``storage`` is any :class:`~session_storage.SessionStorage` (narrow it to keep the
    ADK data under a prefix); the caller opens and closes it. Behaves as ADK's
    ``InMemorySessionService`` does, with the database service's refusal of stale
    session objects; :mod:`session_storage.integrations.adk` gives the layout and costs.
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
        self._versions: Versions = Versions(cache_size)
        self._shared = SharedStates(self._versions)
        self._turns = KeyedLocks()

    @property
    def storage(self) -> SessionStorage:
        """The storage the sessions are kept in."""
        return self._storage

    # -- where things live ---------------------------------------------------------

    def _sessions(self, app_name: str, user_id: str) -> SessionStorage:
        return self._storage.narrow(app_name, "sessions", user_id)

    def _app(self, app_name: str) -> Shared:
        return Shared(self._storage.narrow(app_name), _APP_STATE_ID, ("app", app_name))

    def _user(self, app_name: str, user_id: str) -> Shared:
        store = self._storage.narrow(app_name, "users")
        return Shared(store, user_id, ("user", app_name, user_id))

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
        scoped = split(state or {})
        record = SessionRecord(scoped.session, platform_time.get_time())
        store = self._sessions(app_name, user_id)
        try:
            version = await store.store_session(
                session_id, record.to_json(app_name, user_id, session_id), if_absent=True
            )
        except ConflictError as exc:
            raise exists(store, app_name, user_id, session_id) from exc
        self._versions.put(("session", app_name, user_id, session_id), (version, record))
        app_state, user_state = await _at_once(
            lambda: self._shared.write_or_read(self._app(app_name), scoped.app),
            lambda: self._shared.write_or_read(self._user(app_name, user_id), scoped.user),
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
        loaded, (_, app_state), (_, user_state) = await _at_once(
            lambda: self._read_record(app_name, user_id, session_id),
            lambda: self._shared.read(self._app(app_name)),
            lambda: self._shared.read(self._user(app_name, user_id)),
        )
        if loaded is None:
            return None
        version, record = loaded
        store = self._sessions(app_name, user_id)
        events = await read_events(store, session_id, record, config)
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
        _, app_state = await self._shared.read(self._app(app_name))
        limit = max(1, self._storage.max_concurrency)
        found: list[Session] = []
        for user in users:
            ids = [s async for s in self._sessions(app_name, user).iter_sessions()]
            if not ids:
                continue
            _, user_state = await self._shared.read(self._user(app_name, user))
            read = partial(self._read_record, app_name, user)
            records = await map_bounded(read, ids, limit)
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
        self._versions.pop(("session", app_name, user_id, session_id))

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        """The user's state in the app without the ``user:`` prefix; ``{}`` if none."""
        if not (app_name and user_id):
            return {}
        return copy.deepcopy((await self._shared.read(self._user(app_name, user_id)))[1])

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
        scoped = split(event.actions.state_delta if event.actions else {})
        dumped = dump(event)
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
            raise corrupt(store, session_id, str(exc)) from exc
        try:
            written = await store.store_session(
                session_id, new.to_json(app_name, user_id, session_id), if_version=version
            )
        except ConflictError as exc:
            raise await self._refusal(store, session) from exc
        self._versions.put(("session", app_name, user_id, session_id), (written, new))
        if scoped.app or scoped.user:
            await _at_once(
                lambda: self._shared.write_or_read(
                    self._app(app_name), scoped.app, merge_only=True
                ),
                lambda: self._shared.write_or_read(
                    self._user(app_name, user_id), scoped.user, merge_only=True
                ),
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
            raise not_found(store, session)
        version, record = loaded
        if marker == version:
            return version, record, False
        if record.last_event_id == event.id:
            return None
        if marker is None and _matches(record, session):
            # A session built elsewhere: DatabaseSessionService's fallback.
            return version, record, False
        raise stale(store, session)

    async def _refusal(self, store: SessionStorage, session: Session) -> SessionStorageError:
        """Why the conditional write of the record failed: the session is gone, or stale."""
        loaded = await self._read_record(session.app_name, session.user_id, session.id)
        return not_found(store, session) if loaded is None else stale(store, session)

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
            raise corrupt(store, session_id, f"not an ADK session record: {exc}") from exc
        self._versions.put(("session", app_name, user_id, session_id), (version, record))
        return version, record


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


async def _at_once(*calls: Callable[[], Awaitable[Any]]) -> list[Any]:
    """The results of ``calls``, run at once (their requests in flight together).

    Every call runs to its end, even when another fails (a shared-state write is never
    cancelled half-way, its outcome unknown); then the first failure is raised.
    """
    outcomes = await map_bounded(_settled, calls, len(calls))
    for outcome in outcomes:
        if isinstance(outcome, _Failed):
            raise outcome.error
    return outcomes


@dataclass(frozen=True, slots=True)
class _Failed:
    error: Exception


async def _settled(call: Callable[[], Awaitable[Any]]) -> Any:
    try:
        return await call()
    except Exception as exc:  # noqa: BLE001 - raised by _at_once once every call ended
        return _Failed(exc)
