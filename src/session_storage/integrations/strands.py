"""Strands Agents sessions on any storage: :class:`StorageSessionManager`.

``Agent(session_manager=StorageSessionManager("chat-42", storage))`` keeps the agents,
their messages and multi-agent state of Strands session ``chat-42`` on whatever
``storage`` points at (local files, memory, S3, GCS, Azure). It is Strands' own
``RepositorySessionManager`` over :class:`StorageSessionRepository`, which implements
``strands.session.session_repository.SessionRepository`` (the multi-agent methods
included) as ``FileSessionManager`` does, with this layout in storage session
``session_id``:

- ``strands/session.json``: the ``Session``; created with a create-only write;
- ``strands/agents/<agent_id>/agent.json``: a ``SessionAgent``;
- event stream ``strands/agents/<agent_id>/messages``: one event per
  ``create_message`` or ``update_message``, each the whole ``SessionMessage``; the
  latest event of a ``message_id`` is that message. Reading the history is a few
  requests whatever its length (a sealed segment holds 128 events), and a redaction
  appends one event instead of rewriting anything;
- ``strands/multi_agents/<id>.json``: a multi-agent's ``serialize_state()``.

Strands calls the repository synchronously from inside the Agent's own event loop, so
the repository needs a :class:`SyncSessionStorage`, whose calls run on its own loop
thread; given a plain :class:`SessionStorage` it raises InvalidArgumentError at once,
naming the fix (``SyncSessionStorage.wrap(storage)``). Strands is an optional
dependency: importing this module without it raises MissingDependencyError naming the
extra ``strands``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from ..errors import ConflictError, InvalidArgumentError
from ..storage import SessionStorage
from ..sync import SyncSessionStorage
from . import corrupt, require

require("strands", "strands")

from strands.session.repository_session_manager import RepositorySessionManager  # noqa: E402
from strands.session.session_repository import SessionRepository  # noqa: E402
from strands.types.exceptions import SessionException  # noqa: E402
from strands.types.session import Session, SessionAgent, SessionMessage  # noqa: E402

if TYPE_CHECKING:
    from strands.multiagent.base import MultiAgentBase

__all__ = ["PREFIX", "SESSION_FILE", "StorageSessionManager", "StorageSessionRepository"]

T = TypeVar("T")
# What a damaged document raises when a Strands class is built from it.
_DAMAGED = (TypeError, KeyError, ValueError, AttributeError)

PREFIX = "strands"
"""The folder of the storage session that holds everything Strands stores."""
SESSION_FILE = f"{PREFIX}/session.json"
"""The file of a storage session that holds the Strands ``Session``."""
_METADATA = "_metadata"  # the library's stamp on every stored state


class _Missing(Exception):
    """Raised inside an update function when the thing to update is not stored."""


def _checked_id(value: str, what: str) -> str:
    # Strands refuses ids with a path separator (FileSessionManager raises ValueError);
    # the storage would encode them safely, but the same id must fail the same way.
    if not isinstance(value, str) or os.path.basename(value) != value:
        raise ValueError(f"{what}_id={value} | id cannot contain path separators")
    return value


def _unstamped(state: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in state.items() if key != _METADATA}


class StorageSessionRepository(SessionRepository):
    """Strands' ``SessionRepository`` on a :class:`SyncSessionStorage`.

    Each Strands session is the storage session of the same id (see the module
    docstring for the files). ``storage`` is opened and closed by the caller; many
    repositories and processes may share one root. Behaves as ``FileSessionManager``
    does: creating an existing session raises ``SessionException``; ``update_agent``,
    ``update_message`` and ``update_multi_agent`` of something not stored raise it too,
    and keep the stored ``created_at``; ``list_messages`` of an agent never created
    raises it; reads of missing things give ``None``. Bytes in messages and agent
    state come back as bytes. A plain :class:`SessionStorage` raises
    InvalidArgumentError: the repository is synchronous (see the module docstring).
    """

    def __init__(self, storage: SyncSessionStorage) -> None:
        if isinstance(storage, SessionStorage):
            raise InvalidArgumentError(
                "StorageSessionRepository needs a SyncSessionStorage: Strands calls its "
                "repository synchronously from inside the agent's event loop, where a "
                "SessionStorage cannot be awaited. Pass SyncSessionStorage.wrap(storage) "
                "(it runs the storage on a loop thread of its own) or open a "
                "SyncSessionStorage"
            )
        if not isinstance(storage, SyncSessionStorage):
            raise InvalidArgumentError(
                f"storage must be a SyncSessionStorage, got {type(storage).__name__}"
            )
        self._storage = storage

    @property
    def storage(self) -> SyncSessionStorage:
        """The storage holding the sessions."""
        return self._storage

    def __repr__(self) -> str:
        return f"StorageSessionRepository({self._storage!r})"

    # -- file names ----------------------------------------------------------------

    @staticmethod
    def _agent_file(agent_id: str) -> str:
        return f"{PREFIX}/agents/{_checked_id(agent_id, 'agent')}/agent.json"

    @staticmethod
    def _messages(agent_id: str) -> str:
        return f"{PREFIX}/agents/{_checked_id(agent_id, 'agent')}/messages"

    @staticmethod
    def _multi_agent_file(multi_agent_id: str) -> str:
        return f"{PREFIX}/multi_agents/{_checked_id(multi_agent_id, 'agent')}.json"

    def _load(
        self, session_id: str, filename: str, build: Callable[[dict[str, Any]], T], what: str
    ) -> T | None:
        """``build`` of the stored document, ``None`` if missing; CorruptDataError naming
        the file if it does not hold ``what``."""
        state = self._storage.load_session(_checked_id(session_id, "session"), filename)
        if state is None:
            return None
        try:
            return build(_unstamped(state))
        except _DAMAGED as error:
            raise corrupt(self._storage, session_id, filename, what) from error

    def _replace(
        self, session_id: str, filename: str, new: dict[str, Any], what: str, keep: str | None
    ) -> None:
        """Overwrite a stored document with ``new`` (its ``keep`` field from the stored
        one) in one conditional write; SessionException naming ``what`` if not stored."""

        def change(state: dict[str, Any] | None) -> dict[str, Any]:
            if state is None:
                raise _Missing
            if keep is not None and keep in state:
                new[keep] = state[keep]
            return new

        try:
            self._storage.update_session(_checked_id(session_id, "session"), change, filename)
        except _Missing:
            raise SessionException(f"{what} in session {session_id} does not exist") from None

    # -- sessions ------------------------------------------------------------------

    def create_session(self, session: Session, **kwargs: Any) -> Session:
        """Store ``session``; SessionException if one of that id is stored (create-only)."""
        session_id = _checked_id(session.session_id, "session")
        try:
            self._storage.store_session(session_id, session.to_dict(), SESSION_FILE, if_absent=True)
        except ConflictError as error:
            raise SessionException(f"Session {session_id} already exists") from error
        return session

    def read_session(self, session_id: str, **kwargs: Any) -> Session | None:
        """The stored ``Session``, or ``None``."""
        return self._load(session_id, SESSION_FILE, Session.from_dict, "a Strands Session")

    def delete_session(self, session_id: str, **kwargs: Any) -> None:
        """Delete the whole storage session ``session_id`` (every file, Strands' or not);
        SessionException if no Strands session of that id is stored."""
        if self.read_session(session_id) is None:
            raise SessionException(f"Session {session_id} does not exist")
        self._storage.delete_session(session_id)

    # -- agents --------------------------------------------------------------------

    def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Store ``session_agent`` (over one of the same id, as Strands' file store does)."""
        filename = self._agent_file(session_agent.agent_id)
        self._storage.store_session(
            _checked_id(session_id, "session"), session_agent.to_dict(), filename
        )

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        """The stored ``SessionAgent``, or ``None``."""
        filename = self._agent_file(agent_id)
        return self._load(session_id, filename, SessionAgent.from_dict, "a Strands SessionAgent")

    def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Replace the stored agent, keeping its ``created_at`` (also set on
        ``session_agent``); SessionException if none is stored."""
        agent_id = session_agent.agent_id
        new = session_agent.to_dict()
        what = f"Agent {agent_id}"
        self._replace(session_id, self._agent_file(agent_id), new, what, "created_at")
        session_agent.created_at = new["created_at"]

    # -- messages ------------------------------------------------------------------

    def _history(self, session_id: str, agent_id: str) -> list[SessionMessage]:
        """Every message of the agent, by ``message_id``: the latest event of each id.
        CorruptDataError naming the stream if an event is not a SessionMessage."""
        stream = self._messages(agent_id)
        events = self._storage.read_events(_checked_id(session_id, "session"), stream)
        try:
            latest = {_message_id(event): event for event in events}
            return [SessionMessage.from_dict(latest[key]) for key in sorted(latest)]
        except _DAMAGED as error:
            raise corrupt(self._storage, session_id, stream, "Strands messages") from error

    def create_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """Append ``session_message``; one of the same ``message_id`` is replaced by it."""
        _check_message_id(session_message.message_id)
        self._storage.append_event(
            _checked_id(session_id, "session"), self._messages(agent_id), session_message.to_dict()
        )

    def read_message(
        self, session_id: str, agent_id: str, message_id: int, **kwargs: Any
    ) -> SessionMessage | None:
        """The message ``message_id`` of the agent, or ``None``; ValueError if the id is
        not an int."""
        _check_message_id(message_id)
        for stored in self._history(session_id, agent_id):
            if stored.message_id == message_id:
                return stored
        return None

    def update_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """Store ``session_message`` (a redaction, typically) as the message of its id,
        keeping the stored ``created_at`` (also set on ``session_message``); one appended
        event, the history is not rewritten. SessionException if no such message."""
        previous = self.read_message(session_id, agent_id, session_message.message_id)
        if previous is None:
            raise SessionException(f"Message {session_message.message_id} does not exist")
        session_message.created_at = previous.created_at
        self._storage.append_event(session_id, self._messages(agent_id), session_message.to_dict())

    def list_messages(
        self,
        session_id: str,
        agent_id: str,
        limit: int | None = None,
        offset: int = 0,
        **kwargs: Any,
    ) -> list[SessionMessage]:
        """The agent's messages in ``message_id`` order, from position ``offset``, at most
        ``limit``; SessionException if the agent was never created."""
        history = self._history(session_id, agent_id)
        if not history and self.read_agent(session_id, agent_id) is None:
            _no_agent(session_id, agent_id)
        chosen = history[offset:] if limit is None else history[offset : offset + limit]
        return chosen

    # -- multi-agent state ---------------------------------------------------------

    def create_multi_agent(
        self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any
    ) -> None:
        """Store ``multi_agent.serialize_state()`` (over a stored one)."""
        filename = self._multi_agent_file(multi_agent.id)
        state = {"state": multi_agent.serialize_state()}
        self._storage.store_session(_checked_id(session_id, "session"), state, filename)

    def read_multi_agent(
        self, session_id: str, multi_agent_id: str, **kwargs: Any
    ) -> dict[str, Any] | None:
        """The stored multi-agent state, or ``None``."""
        filename = self._multi_agent_file(multi_agent_id)
        return self._load(session_id, filename, _multi_agent_state, "a multi-agent state")

    def update_multi_agent(
        self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any
    ) -> None:
        """Replace the stored multi-agent state; SessionException if none is stored."""
        new = {"state": multi_agent.serialize_state()}
        what = f"MultiAgent state {multi_agent.id}"
        self._replace(session_id, self._multi_agent_file(multi_agent.id), new, what, None)


def _message_id(event: Any) -> int:
    message_id = event["message_id"]
    if not isinstance(message_id, int):
        raise TypeError(f"message_id {message_id!r} is not an int")
    return message_id


def _multi_agent_state(stored: dict[str, Any]) -> dict[str, Any]:
    return dict(stored["state"])


def _check_message_id(message_id: object) -> None:
    if not isinstance(message_id, int):
        raise ValueError(f"message_id=<{message_id}> | message id must be an integer")


def _no_agent(session_id: str, agent_id: str) -> NoReturn:
    message = f"Messages directory missing from agent: {agent_id} in session {session_id}"
    raise SessionException(message)


class StorageSessionManager(RepositorySessionManager):
    """Strands' ``RepositorySessionManager`` over a :class:`StorageSessionRepository`.

    ``StorageSessionManager(session_id, storage)`` reads the session ``session_id``
    (creating it if it is not stored, as every Strands session manager does) and is
    passed to ``Agent(session_manager=...)``. ``storage`` must be a
    :class:`SyncSessionStorage` (InvalidArgumentError otherwise, naming the fix);
    ``kwargs`` go to ``RepositorySessionManager``.
    """

    def __init__(self, session_id: str, storage: SyncSessionStorage, **kwargs: Any) -> None:
        self.repository = StorageSessionRepository(storage)
        super().__init__(session_id=session_id, session_repository=self.repository, **kwargs)
