"""The LangGraph checkpointer: :class:`StorageSaver`, its blocking and async methods.

Layout and costs: :mod:`session_storage.integrations.langgraph`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterator,
    Sequence,
)
from typing import Any, TypeVar, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from ...core.arguments import invalid
from ...core.errors import NotSupportedError
from ...storage import SessionStorage
from ...sync import SyncSessionStorage
from . import maintenance
from .checkpoints import CheckpointStore
from .heads import SaverCache

__all__ = ["StorageSaver"]

T = TypeVar("T")


class StorageSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer keeping every thread's checkpoints in ``storage``.

    ``storage`` is a :class:`SyncSessionStorage` or a :class:`SessionStorage`:

    - With a SyncSessionStorage every method works: the blocking ones (``graph.invoke``,
      ``get_state``, from any number of plain threads) and the async ones (from any event
      loop). All of them run on the storage's own loop thread
      (:meth:`SyncSessionStorage.run` / :meth:`~SyncSessionStorage.submit`), so no second
      loop or storage is involved.
    - With a SessionStorage the async methods (``ainvoke``, ``aget_state``) run in the
      caller's event loop and the blocking ones raise NotSupportedError: wrap the
      storage with ``SyncSessionStorage.wrap`` for those.

    Give the saver a root of its own (``storage.narrow("langgraph")``, say): it keeps
    ``threads/`` and ``runs/`` there, and ``list(None)`` lists every thread under it.
    ``serde`` is LangGraph's serializer protocol (JsonPlusSerializer by default).

    Nothing missing is an error: an unknown thread or checkpoint gets ``None`` from
    ``get_tuple``, nothing from ``list``, and deleting, pruning or copying it does
    nothing. A config without ``thread_id`` raises InvalidArgumentError; storage
    failures raise the library's errors. Thread ids are stored as ``str``.
    """

    def __init__(
        self,
        storage: SessionStorage | SyncSessionStorage,
        *,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(serde=serde)
        if isinstance(storage, SyncSessionStorage):
            self._sync: SyncSessionStorage | None = storage
            root = storage.async_storage
        elif isinstance(storage, SessionStorage):
            self._sync = None
            root = storage
        else:
            got = type(storage).__name__
            raise invalid(f"storage must be a SessionStorage or SyncSessionStorage, got {got}")
        self.storage = storage
        self._root = root
        self._cache = SaverCache()

    # -- blocking API ----------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint ``config`` names (its latest without a ``checkpoint_id``) with its
        pending writes, or None if there is none."""
        return self._blocking(self._store().get_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first, read as the iteration goes; see :meth:`alist`.

        The iteration of :meth:`alist` itself, each step run on the storage's loop.
        """
        sync = self._require_sync("list")
        yield from _iterate(sync, self.alist(config, filter=filter, before=before, limit=limit))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint; the config that names it."""
        return self._blocking(self._store().put(config, checkpoint, metadata))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes at the checkpoint ``config`` names."""
        self._blocking(self._store().put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint and write of the thread (nothing if there is none)."""
        self._blocking(maintenance.delete_thread(self._store(), thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete every checkpoint (with its writes) whose metadata names one of ``run_ids``."""
        self._blocking(maintenance.delete_for_runs(self._store(), run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint and write of one thread to another, ids unchanged."""
        self._blocking(maintenance.copy_thread(self._store(), source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Keep only each namespace's latest checkpoint (``"keep_latest"``) or delete the
        threads (``"delete"``); see :meth:`aprune`."""
        self._blocking(maintenance.prune(self._store(), thread_ids, strategy))

    # -- async API -------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint ``config`` names (its latest without a ``checkpoint_id``) with its
        pending writes, or None if there is none."""
        return await self._on_loop(lambda: self._store().get_tuple(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Checkpoints of the thread ``config`` names (every thread with ``None``), newest
        first per namespace: only its ``checkpoint_ns`` if given, only its
        ``checkpoint_id`` if given, only those older than ``before``'s checkpoint, only
        those whose metadata has every key and value of ``filter``, at most ``limit``."""
        source = self._store().list_checkpoints(config, filter, before, limit)
        done = False
        try:
            while not done:
                # One hop to the storage's loop per step (none when already on it,
                # as when list() runs this).
                done, item = await self._on_loop(lambda: _next(source))
                if not done:
                    yield cast(CheckpointTuple, item)
        finally:
            if not done:
                await self._on_loop(source.aclose)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint; the config that names it."""
        return await self._on_loop(lambda: self._store().put(config, checkpoint, metadata))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes at the checkpoint ``config`` names."""
        await self._on_loop(lambda: self._store().put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint and write of the thread (nothing if there is none)."""
        await self._on_loop(lambda: maintenance.delete_thread(self._store(), thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete every checkpoint (with its writes) whose metadata names one of ``run_ids``."""
        await self._on_loop(lambda: maintenance.delete_for_runs(self._store(), run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint and write of one thread to another, ids unchanged."""
        await self._on_loop(
            lambda: maintenance.copy_thread(self._store(), source_thread_id, target_thread_id)
        )

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Keep only each namespace's latest checkpoint (``"keep_latest"``), writes included,
        or delete the threads (``"delete"``); another strategy raises InvalidArgumentError.

        ``"keep_latest"`` drops the ancestors that LangGraph's (beta) DeltaChannel
        rebuilds its values from; don't use it on threads with such channels.
        """
        await self._on_loop(lambda: maintenance.prune(self._store(), thread_ids, strategy))

    def get_next_version(self, current: str | None, channel: None) -> str:
        """The version after ``current``: a zero-padded counter and a random fraction, as
        LangGraph's own savers make them, so versions sort as strings."""
        if current is None:
            number = 0
        elif isinstance(current, int):
            number = current
        else:
            number = int(current.split(".")[0])
        return f"{number + 1:032}.{random.random():016}"

    # -- where the work runs ---------------------------------------------------------

    def _require_sync(self, method: str) -> SyncSessionStorage:
        if self._sync is None:
            raise NotSupportedError(
                f"StorageSaver.{method} blocks, and this saver was given a SessionStorage, "
                f"which has no loop of its own: use the async method (a{method}), or pass "
                "SyncSessionStorage.wrap(storage) to the saver",
                backend=self._root.backend,
                url=self._root.url,
            )
        return self._sync

    def _blocking(self, coroutine: Coroutine[Any, Any, T]) -> T:
        try:
            sync = self._require_sync(getattr(coroutine, "__name__", "?").lstrip("_"))
        except NotSupportedError:
            coroutine.close()
            raise
        return sync.run(coroutine)

    async def _on_loop(self, make: Callable[[], Awaitable[T]]) -> T:
        """``await make()`` on the storage's loop: here with a SessionStorage, on the loop
        thread of a SyncSessionStorage (here too when already on it)."""
        if self._sync is None:
            return await make()
        try:
            future = self._sync.submit(_call(make))
        except RuntimeError:  # this is the storage's loop thread: no hop needed
            return await make()
        return await asyncio.wrap_future(future)

    def _store(self) -> CheckpointStore:
        # Built per call: ``with_allowlist`` clones the saver with another serde.
        return CheckpointStore(self._root, self.serde, self._cache)


def _iterate(sync: SyncSessionStorage, source: AsyncIterator[T]) -> Iterator[T]:
    """The items of ``source`` for a plain thread, each step run on ``sync``'s loop;
    ``source`` is closed there too if the caller stops early."""
    done = False
    try:
        while not done:
            done, item = sync.run(_next(source))
            if not done:
                yield cast(T, item)
    finally:
        if not done:
            sync.run(_close(source))


async def _close(source: AsyncIterator[Any]) -> None:
    await cast(AsyncGenerator[Any, None], source).aclose()


async def _next(source: AsyncIterator[T]) -> tuple[bool, T | None]:
    """(exhausted, item) of one step of ``source``; StopAsyncIteration cannot cross a future."""
    try:
        return False, await source.__anext__()
    except StopAsyncIteration:
        return True, None


async def _call(make: Callable[[], Awaitable[T]]) -> T:
    return await make()
