"""OpenAI Agents SDK sessions on any storage: :class:`StorageSession`.

``Runner.run(agent, text, session=StorageSession("chat-42", storage))`` keeps the
conversation history of ``chat-42`` on whatever ``storage`` points at (local files,
memory, S3, GCS, Azure) instead of SQLite. The class implements the SDK's ``Session``
protocol (``agents.memory.Session``) on the event-log API of :class:`SessionStorage`:

- the history is the event stream ``openai-agents`` (:data:`STREAM`) of the storage
  session ``session_id``, one event per item, in order; other files and streams of
  that session are left alone;
- ``add_items`` is one :meth:`~SessionStorage.append_events` (all items or none),
  ``get_items(limit)`` one :meth:`~SessionStorage.read_events` of the latest
  ``limit``, ``pop_item`` one :meth:`~SessionStorage.pop_events` (atomic across
  workers), ``clear_session`` one :meth:`~SessionStorage.truncate_events` to 0.

Items are the SDK's JSON dicts (``TResponseInputItem``) and come back exactly as
given. The SDK is an optional dependency: importing this module without it raises
:class:`~session_storage.core.errors.MissingDependencyError` naming the extra.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..storage import SessionStorage
from ..sync import SyncSessionStorage
from . import check_name, check_storage, on_storage, require

require("agents", "openai-agents")

from agents.items import TResponseInputItem  # noqa: E402
from agents.memory import SessionSettings  # noqa: E402
from agents.memory.session_settings import (  # noqa: E402
    coerce_session_settings,
    resolve_session_limit,
)

__all__ = ["STREAM", "StorageSession"]

T = TypeVar("T")

STREAM = "openai-agents"
"""The event stream of the storage session that holds the history."""

# A tail this long is the whole stream: no stream holds that many events, and the
# event log refuses starts further back than its own maximum.
_WHOLE_STREAM = 10**12


class StorageSession:
    """The SDK's ``Session`` protocol on a :class:`SessionStorage`: one conversation.

    ``session_id`` names the conversation and is the session id on ``storage`` (any
    string; the storage encodes it). ``storage`` is a :class:`SessionStorage` or a
    :class:`SyncSessionStorage`; the caller opens and closes it, and many
    ``StorageSession`` objects may share one. ``session_settings`` (a
    ``SessionSettings`` or a dict of its fields) gives the default ``limit`` of
    :meth:`get_items`, as for the SDK's ``SQLiteSession``. ``stream`` names the event
    stream that holds the items (``openai-agents`` unless told otherwise), so several
    agents can keep separate histories in one storage session.

    Which storage for which runner: a :class:`SessionStorage` serves one event loop
    at a time (successive loops are fine, such as ``asyncio.run`` twice, or
    ``Runner.run_sync`` called again and again from one thread). When
    ``Runner.run_sync`` runs in several threads at once, each on its own loop, give
    them a :class:`SyncSessionStorage`: every call then runs on that storage's own
    loop thread, whichever loop awaits it.

    The constructor does no I/O. Nothing stored yet is an empty history, not an
    error; a failing storage raises its :class:`SessionStorageError`.
    """

    session_id: str
    session_settings: SessionSettings | None

    def __init__(
        self,
        session_id: str,
        storage: SessionStorage | SyncSessionStorage,
        *,
        session_settings: SessionSettings | dict[str, Any] | None = None,
        stream: str = STREAM,
    ) -> None:
        check_storage(storage)
        check_name("session_id", session_id)
        check_name("stream", stream)
        self.session_id = session_id
        self.session_settings = (
            coerce_session_settings(session_settings)
            if session_settings is not None
            else SessionSettings()
        )
        self._storage = storage
        self._stream = stream

    @property
    def storage(self) -> SessionStorage | SyncSessionStorage:
        """The storage holding the history."""
        return self._storage

    @property
    def stream(self) -> str:
        """The event stream of storage session :attr:`session_id` that holds the items."""
        return self._stream

    def __repr__(self) -> str:
        return f"StorageSession({self.session_id!r}, {self._storage!r}, stream={self._stream!r})"

    async def _on_storage(self, call: Callable[[SessionStorage], Coroutine[Any, Any, T]]) -> T:
        return await on_storage(self._storage, call)

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The latest ``limit`` items, oldest first; all of them if ``limit`` is None.

        A ``limit`` of None falls back to ``session_settings.limit``; as in
        ``SQLiteSession``, 0 gives ``[]`` and a negative limit gives every item. A
        conversation with nothing stored gives ``[]``.
        """
        limit = resolve_session_limit(limit, self.session_settings)
        if limit == 0:
            return []
        start = 0 if limit is None or limit < 0 or limit >= _WHOLE_STREAM else -limit
        items: list[TResponseInputItem] = await self._on_storage(
            lambda storage: storage.read_events(self.session_id, self._stream, start)
        )
        return items

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append ``items`` after the stored ones, all or none (one ``append_events``).

        An empty list writes nothing. An item that JSON cannot hold exactly (NaN, an
        integer beyond 64 bits, a key that is not a str) raises SerializationError with
        nothing written.
        """
        if not items:
            return
        batch = list(items)
        await self._on_storage(
            lambda storage: storage.append_events(self.session_id, self._stream, batch)
        )

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove the latest item and return it; ``None`` if there is none.

        Atomic across workers: of two workers popping a one-item history, one gets the
        item and the other ``None``.
        """
        popped: list[TResponseInputItem] = await self._on_storage(
            lambda storage: storage.pop_events(self.session_id, self._stream, 1)
        )
        return popped[0] if popped else None

    async def clear_session(self) -> None:
        """Remove every item of the history; other files of the storage session stay.

        A history with nothing stored is left as it is.
        """
        await self._on_storage(
            lambda storage: storage.truncate_events(self.session_id, self._stream, 0)
        )
