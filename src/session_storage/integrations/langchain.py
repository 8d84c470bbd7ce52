"""LangChain chat histories on any storage: :class:`StorageChatMessageHistory`.

``StorageChatMessageHistory("chat-42", storage)`` implements langchain-core's
``BaseChatMessageHistory`` (what ``RunnableWithMessageHistory`` asks its
``get_session_history`` for) on the event-log API of :class:`SessionStorage`:

- the history is the event stream ``langchain`` (:data:`STREAM`) of the storage
  session ``session_id``, one event per message (``message_to_dict``), in order;
- ``add_messages`` is one ``append_events`` (all or none), ``messages`` one
  ``read_events``, ``clear`` one ``truncate_events`` to 0.

The blocking methods (``messages``, ``add_messages``, ``clear``) need a
:class:`SyncSessionStorage`; the async ones (``aget_messages``, ``aadd_messages``,
``aclear``) work with either. Both classes are deprecated since langchain-core 1.6.4
(removal in 2.0); LangChain recommends its short-term memory instead (LangGraph
persistence, for which :mod:`session_storage.integrations.langgraph` has a
checkpointer). langchain-core is an optional dependency: importing this module without
it raises MissingDependencyError naming the extra ``langchain``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from ..errors import InvalidArgumentError
from ..storage import SessionStorage
from ..sync import SyncSessionStorage
from . import check_name, check_storage, corrupt, on_storage, require

require("langchain_core", "langchain")

from langchain_core.chat_history import BaseChatMessageHistory  # noqa: E402
from langchain_core.messages import (  # noqa: E402
    BaseMessage,
    message_to_dict,
    messages_from_dict,
)

__all__ = ["STREAM", "StorageChatMessageHistory"]

T = TypeVar("T")

STREAM = "langchain"
"""The event stream of the storage session that holds the history."""


class StorageChatMessageHistory(BaseChatMessageHistory):
    """langchain-core's ``BaseChatMessageHistory`` on a storage: one conversation.

    ``session_id`` names the conversation and is the session id on ``storage`` (a
    :class:`SessionStorage` or a :class:`SyncSessionStorage`, opened and closed by the
    caller). ``stream`` names the event stream (``langchain`` unless told otherwise).
    Messages come back as stored: their type, ``id``, ``content``,
    ``additional_kwargs``, ``response_metadata``, ``tool_calls``. Nothing stored yet
    is an empty history. The blocking methods on a plain :class:`SessionStorage` raise
    InvalidArgumentError naming the async method to use instead. The constructor does
    no I/O.
    """

    def __init__(
        self,
        session_id: str,
        storage: SessionStorage | SyncSessionStorage,
        *,
        stream: str = STREAM,
    ) -> None:
        check_storage(storage)
        check_name("session_id", session_id)
        check_name("stream", stream)
        self.session_id = session_id
        self.storage = storage
        self.stream = stream

    def __repr__(self) -> str:
        return f"StorageChatMessageHistory({self.session_id!r}, {self.storage!r})"

    # -- the two ways to reach the storage -----------------------------------------

    def _blocking(self, method: str) -> SyncSessionStorage:
        storage = self.storage
        if isinstance(storage, SessionStorage):
            raise InvalidArgumentError(
                f"StorageChatMessageHistory.{method} blocks, which a SessionStorage cannot "
                f"do (session {self.session_id!r}): use a{method} from async code, or give "
                "the history a SyncSessionStorage (SyncSessionStorage.wrap(storage))"
            )
        return storage

    async def _on_storage(self, call: Callable[[SessionStorage], Coroutine[Any, Any, T]]) -> T:
        return await on_storage(self.storage, call)

    def _decoded(self, stored: list[Any]) -> list[BaseMessage]:
        """The messages of the stored events; CorruptDataError naming the stream if one
        is not a message (written by something else, say)."""
        try:
            return messages_from_dict(stored)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            what = "LangChain messages"
            raise corrupt(self.storage, self.session_id, self.stream, what) from error

    # -- blocking ------------------------------------------------------------------

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """Every message, oldest first (one ``read_events``); ``[]`` if none is stored."""
        storage = self._blocking("get_messages")
        return self._decoded(storage.read_events(self.session_id, self.stream))

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append ``messages`` after the stored ones, all or none (one ``append_events``)."""
        batch = _dicts(messages)
        if batch:
            self._blocking("add_messages").append_events(self.session_id, self.stream, batch)

    def clear(self) -> None:
        """Remove every message; other files of the storage session stay."""
        self._blocking("clear").truncate_events(self.session_id, self.stream, 0)

    # -- async ---------------------------------------------------------------------

    async def aget_messages(self) -> list[BaseMessage]:
        """Every message, oldest first; ``[]`` if none is stored."""
        stored: list[Any] = await self._on_storage(
            lambda storage: storage.read_events(self.session_id, self.stream)
        )
        return self._decoded(stored)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append ``messages`` after the stored ones, all or none."""
        batch = _dicts(messages)
        if batch:
            await self._on_storage(
                lambda storage: storage.append_events(self.session_id, self.stream, batch)
            )

    async def aclear(self) -> None:
        """Remove every message; other files of the storage session stay."""
        await self._on_storage(
            lambda storage: storage.truncate_events(self.session_id, self.stream, 0)
        )


def _dicts(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidArgumentError(
            f"messages must be a sequence of BaseMessage, got {type(messages).__name__}"
        )
    for message in messages:
        if not isinstance(message, BaseMessage):
            raise InvalidArgumentError(
                f"messages must be BaseMessage objects, got {type(message).__name__}"
            )
    return [message_to_dict(message) for message in messages]
