"""LlamaIndex chat stores on any storage: :class:`StorageChatStore`.

``ChatMemoryBuffer.from_defaults(chat_store=StorageChatStore(storage),
chat_store_key="chat-42")`` keeps LlamaIndex chat histories on whatever ``storage``
points at (local files, memory, S3, GCS, Azure). The class implements llama-index-core's
``BaseChatStore`` as ``SimpleChatStore`` does, with this layout:

- each key is a session of ``storage.narrow("llama-index")`` (the ``namespace``), so
  ``get_keys`` is one listing (a request per 1000 keys) and never sees other data;
- its messages are one JSON file, ``messages.json`` (:data:`FILENAME`), holding
  ``{"messages": [...]}``, each message in ChatMessage's own JSON form.

``get_messages`` is one read; ``set_messages`` one write; ``add_message``,
``delete_message`` and ``delete_last_message`` one conditional read-modify-write each,
retried when another writer got there first, so two writers adding to one key at once
lose nothing. The blocking methods need a :class:`SyncSessionStorage`; the async ones
(``aget_messages``, ``async_add_message``, ...) work with either. llama-index-core is an
optional dependency: importing this module without it raises MissingDependencyError
naming the extra ``llama-index``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..errors import InvalidArgumentError
from ..storage import SessionStorage
from ..sync import SyncSessionStorage
from . import check_storage, corrupt, on_storage, require

require("llama_index.core", "llama-index")

from llama_index.core.bridge.pydantic import PrivateAttr  # noqa: E402
from llama_index.core.llms import ChatMessage  # noqa: E402
from llama_index.core.storage.chat_store.base import BaseChatStore  # noqa: E402

__all__ = ["FILENAME", "NAMESPACE", "StorageChatStore"]

T = TypeVar("T")
Op = Callable[[SessionStorage], Coroutine[Any, Any, T]]

FILENAME = "messages.json"
"""The file of a key's session that holds its messages."""
NAMESPACE = "llama-index"
"""The narrow key under which every chat key is a session."""


def _dump(messages: list[ChatMessage]) -> dict[str, Any]:
    # ChatMessage's own JSON form (its serializer makes additional_kwargs JSON). Not
    # SimpleChatStore's list serializer: with pydantic 2.12 that one fails on any message.
    return {"messages": [message.model_dump(mode="json") for message in messages]}


def _messages(state: dict[str, Any] | None) -> list[ChatMessage]:
    stored = [] if state is None else state["messages"]
    return [ChatMessage.model_validate(message) for message in stored]


async def _load(storage: SessionStorage, key: str) -> dict[str, Any] | None:
    """The key's stored document, ``None`` if missing; CorruptDataError naming the file
    if it does not hold a list of ChatMessages."""
    state = await storage.load_session(key, FILENAME)
    try:
        _messages(state)
    except (KeyError, TypeError, ValueError) as error:
        raise corrupt(storage, key, FILENAME, "LlamaIndex chat messages") from error
    return state


class StorageChatStore(BaseChatStore):
    """llama-index-core's ``BaseChatStore`` on a storage (see the module docstring).

    ``storage`` is a :class:`SessionStorage` or :class:`SyncSessionStorage`, opened and
    closed by the caller; the chats live in ``storage.narrow(namespace)`` (``namespace``
    ``None``: in ``storage`` itself, whose every session is then a key). Behaves as
    ``SimpleChatStore``: a key with nothing stored has ``[]``; deleting from it gives
    ``None``; ``delete_message`` past the end gives ``None``; ``delete_last_message`` of
    an emptied key raises IndexError. ``get_keys`` lists keys in key order (the
    reference: insertion order). Blocking methods on a plain :class:`SessionStorage`
    raise InvalidArgumentError naming the async method. The constructor does no I/O.
    """

    _storage: SessionStorage | SyncSessionStorage = PrivateAttr()

    def __init__(
        self,
        storage: SessionStorage | SyncSessionStorage,
        *,
        namespace: str | None = NAMESPACE,
        **kwargs: Any,
    ) -> None:
        check_storage(storage)
        super().__init__(**kwargs)
        self._storage = storage if namespace is None else storage.narrow(namespace)

    @classmethod
    def class_name(cls) -> str:
        return "StorageChatStore"

    @property
    def storage(self) -> SessionStorage | SyncSessionStorage:
        """The storage whose sessions are the chat keys."""
        return self._storage

    def __repr__(self) -> str:
        return f"StorageChatStore({self._storage!r})"

    # -- the two ways to run an operation --------------------------------------------

    def _blocking(self, op: Op[T], method: str) -> T:
        storage = self._storage
        if isinstance(storage, SessionStorage):
            op(storage).close()  # never awaited: close it so Python does not warn
            raise InvalidArgumentError(
                f"StorageChatStore.{method} blocks, which a SessionStorage cannot do: "
                "await its async twin from async code, or give the store a "
                "SyncSessionStorage (SyncSessionStorage.wrap(storage))"
            )
        return storage.run(op(storage.async_storage))

    async def _async(self, op: Op[T]) -> T:
        return await on_storage(self._storage, op)

    # -- blocking ------------------------------------------------------------------

    def set_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Replace the messages of ``key`` with ``messages`` (one write)."""
        self._blocking(_set(key, messages), "set_messages")

    def get_messages(self, key: str) -> list[ChatMessage]:
        """The messages of ``key``; ``[]`` if none are stored (one read)."""
        return self._blocking(_get(key), "get_messages")

    def add_message(self, key: str, message: ChatMessage, idx: int | None = None) -> None:
        """Append ``message`` to ``key`` (insert it at ``idx`` if given)."""
        self._blocking(_add(key, message, idx), "add_message")

    def delete_messages(self, key: str) -> list[ChatMessage] | None:
        """Delete every message of ``key`` and return them; ``None`` if none are stored."""
        return self._blocking(_delete_all(key), "delete_messages")

    def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Delete message ``idx`` of ``key`` and return it; ``None`` if there is none."""
        return self._blocking(_delete_at(key, idx), "delete_message")

    def delete_last_message(self, key: str) -> ChatMessage | None:
        """Delete the last message of ``key`` and return it; ``None`` if none are stored."""
        return self._blocking(_delete_at(key, None), "delete_last_message")

    def get_keys(self) -> list[str]:
        """Every key with messages stored (``[]`` counts), in key order."""
        return self._blocking(_keys, "get_keys")

    # -- async ---------------------------------------------------------------------

    async def aset_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """:meth:`set_messages` for async code."""
        await self._async(_set(key, messages))

    async def aget_messages(self, key: str) -> list[ChatMessage]:
        """:meth:`get_messages` for async code."""
        return await self._async(_get(key))

    async def async_add_message(
        self, key: str, message: ChatMessage, idx: int | None = None
    ) -> None:
        """:meth:`add_message` for async code."""
        await self._async(_add(key, message, idx))

    async def adelete_messages(self, key: str) -> list[ChatMessage] | None:
        """:meth:`delete_messages` for async code."""
        return await self._async(_delete_all(key))

    async def adelete_message(self, key: str, idx: int) -> ChatMessage | None:
        """:meth:`delete_message` for async code."""
        return await self._async(_delete_at(key, idx))

    async def adelete_last_message(self, key: str) -> ChatMessage | None:
        """:meth:`delete_last_message` for async code."""
        return await self._async(_delete_at(key, None))

    async def aget_keys(self) -> list[str]:
        """:meth:`get_keys` for async code."""
        return await self._async(_keys)


# -- the operations, each a function of the async storage ------------------------------


def _set(key: str, messages: list[ChatMessage]) -> Op[None]:
    state = _dump(messages)  # a message JSON cannot hold raises here, before any write

    async def run(storage: SessionStorage) -> None:
        await storage.store_session(key, state, FILENAME)

    return run


def _get(key: str) -> Op[list[ChatMessage]]:
    async def run(storage: SessionStorage) -> list[ChatMessage]:
        return _messages(await _load(storage, key))

    return run


def _add(key: str, message: ChatMessage, idx: int | None) -> Op[None]:
    item = _dump([message])["messages"][0]

    async def run(storage: SessionStorage) -> None:
        def change(state: dict[str, Any] | None) -> dict[str, Any]:
            stored = [] if state is None else _stored(storage, key, state)
            if idx is None:
                stored.append(item)
            else:
                stored.insert(idx, item)
            return {"messages": stored}

        await storage.update_session(key, change, FILENAME)

    return run


def _delete_all(key: str) -> Op[list[ChatMessage] | None]:
    async def run(storage: SessionStorage) -> list[ChatMessage] | None:
        state = await _load(storage, key)
        if state is None:
            return None
        await storage.delete_session(key, FILENAME)
        return _messages(state)

    return run


def _delete_at(key: str, idx: int | None) -> Op[ChatMessage | None]:
    """Delete message ``idx`` (the last if None) in one conditional write; what it was."""

    async def run(storage: SessionStorage) -> ChatMessage | None:
        removed: list[Any] = []

        def change(state: dict[str, Any] | None) -> dict[str, Any] | None:
            removed.clear()  # a retry starts over on the fresh state
            if state is None:
                return None
            stored = _stored(storage, key, state)
            if idx is None:
                if not stored:
                    raise IndexError(f"delete_last_message: key {key!r} has no messages")
                removed.append(stored.pop())
            elif idx >= len(stored):
                return None
            else:
                removed.append(stored.pop(idx))
            return {"messages": stored}

        await storage.update_session(key, change, FILENAME)
        return _messages({"messages": removed})[0] if removed else None

    return run


def _stored(storage: SessionStorage, key: str, state: dict[str, Any]) -> list[Any]:
    """The stored messages of ``key`` as a new list; CorruptDataError if there is none."""
    messages = state.get("messages")
    if not isinstance(messages, list):
        raise corrupt(storage, key, FILENAME, "LlamaIndex chat messages")
    return list(messages)


async def _keys(storage: SessionStorage) -> list[str]:
    return await storage.list_sessions()
