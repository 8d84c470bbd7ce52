"""SyncSessionStorage: the same storage for blocking code (scripts, Flask, Django, notebooks).

It holds a :class:`SessionStorage` and runs its coroutines on a private event loop in
a background thread (:mod:`session_storage.concurrency.loop_thread`), so there is one
implementation and this module only forwards. Each method below is one line of the
table in the class body: ``blocking`` turns a coroutine method into a blocking one,
``iterating`` turns an async-iterator method into a plain iterator, and both keep the
async method's signature for type checkers. A method added to SessionStorage gets
its twin by adding one line there; a test fails until it has one.
"""

from __future__ import annotations

import concurrent.futures
import functools
import inspect
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar

from .backends.capabilities import Capabilities
from .backends.registry import DEFAULT_ENGINE
from .codecs.compression import Compression
from .concurrency.background import DEFAULT_CONCURRENCY, DEFAULT_MAX_PENDING, SaveHandle
from .concurrency.deadlines import DEFAULT_TIMEOUT
from .concurrency.loop_thread import LoopThread
from .core.arguments import check_instance, invalid
from .settings import DEFAULT_URL, StorageSettings
from .storage import DEFAULT_FILENAME, SessionStorage

__all__ = ["SyncSessionStorage"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
S = TypeVar("S", bound="SyncSessionStorage")


def blocking(
    method: Callable[Concatenate[SessionStorage, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[SyncSessionStorage, P], R]:
    """A blocking method that runs the async ``method`` on the storage's loop thread."""

    name = method.__name__

    @functools.wraps(method)
    def call(self: SyncSessionStorage, /, *args: P.args, **kwargs: P.kwargs) -> R:
        # Looked up on the storage object, not its class: a traced storage wraps its
        # methods on the instance (see operations.spans).
        bound: Callable[P, Coroutine[Any, Any, R]] = getattr(self._storage, name)
        return self._runner.call(bound(*args, **kwargs))

    return call


def iterating(
    method: Callable[Concatenate[SessionStorage, P], AsyncIterator[T]],
) -> Callable[Concatenate[SyncSessionStorage, P], Iterator[T]]:
    """A method returning a plain iterator over the async iterator ``method`` returns."""

    name = method.__name__

    @functools.wraps(method)
    def call(self: SyncSessionStorage, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        # Creating an async generator runs none of its code; that happens on the loop.
        bound: Callable[P, AsyncIterator[T]] = getattr(self._storage, name)
        return self._runner.iterate(bound(*args, **kwargs))

    return call


class SyncSessionStorage:
    """A blocking :class:`SessionStorage`: same methods, same arguments, same results.

    Usable from plain functions and from any number of threads at once, with no event
    loop of the caller's: calls run on a private event loop in a daemon thread that
    starts on first use. Use it as a context manager or call :meth:`close`, which
    flushes background saves and stops the thread; a storage still open at
    interpreter exit is closed then. From async code, use SessionStorage itself.
    """

    def __init__(
        self,
        url: str | os.PathLike[str] = DEFAULT_URL,
        storage_options: Mapping[str, Any] | None = None,
        *,
        background_concurrency: int = DEFAULT_CONCURRENCY,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_concurrency: int | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        engine: str = DEFAULT_ENGINE,
        encryption_keys: Mapping[str, bytes | str] | None = None,
        compression: Compression | str | Mapping[str, Any] | None = None,
    ) -> None:
        """The arguments of :class:`SessionStorage`, with the same meaning."""
        self._attach(
            SessionStorage(
                url,
                storage_options,
                background_concurrency=background_concurrency,
                max_pending=max_pending,
                max_concurrency=max_concurrency,
                timeout=timeout,
                engine=engine,
                encryption_keys=encryption_keys,
                compression=compression,
            )
        )

    def _attach(self, storage: SessionStorage, runner: LoopThread | None = None) -> None:
        self._storage = storage
        # The owner starts and stops its own loop thread; a narrowed view runs on its
        # parent's and leaves it running when closed.
        self._owner = runner is None
        self._runner = runner or LoopThread(f"session-storage {storage!r}", storage.aclose)

    @classmethod
    def _serving(cls: type[S], storage: SessionStorage, runner: LoopThread | None = None) -> S:
        """A blocking storage for ``storage``: the owner of a new loop thread, or a view
        sharing ``runner``."""
        sync = cls.__new__(cls)
        sync._attach(storage, runner)
        return sync

    @classmethod
    def wrap(cls, storage: SessionStorage) -> SyncSessionStorage:
        """A blocking view of an existing storage (a SessionStorageAdapter, say).

        The storage must not be used from another event loop while this one is open.
        """
        return cls._serving(check_instance("storage", storage, SessionStorage))

    @classmethod
    def from_filesystem(
        cls,
        fs: Any,
        root: str,
        *,
        background_concurrency: int = DEFAULT_CONCURRENCY,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_concurrency: int | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        engine: str = DEFAULT_ENGINE,
        encryption_keys: Mapping[str, bytes | str] | None = None,
        compression: Compression | str | Mapping[str, Any] | None = None,
    ) -> SyncSessionStorage:
        """A blocking storage on a filesystem object (see SessionStorage.from_filesystem);
        closing it never closes the filesystem."""
        return cls.wrap(
            SessionStorage.from_filesystem(
                fs,
                root,
                background_concurrency=background_concurrency,
                max_pending=max_pending,
                max_concurrency=max_concurrency,
                timeout=timeout,
                engine=engine,
                encryption_keys=encryption_keys,
                compression=compression,
            )
        )

    @classmethod
    def from_settings(cls, settings: StorageSettings) -> SyncSessionStorage:
        """A storage for ``settings``."""
        return cls.wrap(SessionStorage.from_settings(settings))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SyncSessionStorage:
        """A storage configured by ``SESSION_STORAGE_*`` variables (see StorageSettings)."""
        return cls.wrap(SessionStorage.from_env(environ))

    # -- identity and lifecycle ----------------------------------------------------

    @property
    def async_storage(self) -> SessionStorage:
        """The SessionStorage underneath; use it only through this object's loop."""
        return self._storage

    @property
    def backend(self) -> str:
        """``"file"``, ``"memory"``, ``"s3"``, ``"gcs"`` or ``"azure"``."""
        return self._storage.backend

    @property
    def url(self) -> str:
        """The URL of this storage's root."""
        return self._storage.url

    @property
    def settings(self) -> StorageSettings:
        """The settings of this storage's root."""
        return self._storage.settings

    @property
    def max_concurrency(self) -> int:
        """How many operations a batch call runs at once unless told otherwise."""
        return self._storage.max_concurrency

    @property
    def supports_conditional_writes(self) -> bool:
        """Whether the backend enforces ``if_version`` / ``if_absent`` atomically."""
        return self._storage.supports_conditional_writes

    @property
    def capabilities(self) -> Capabilities:
        """What this backend guarantees (see SessionStorage.capabilities)."""
        return self._storage.capabilities

    def __repr__(self) -> str:
        return f"Sync{self._storage!r}"

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Write pending background saves, release connections and stop the loop thread.

        Raises BackgroundSaveError if a background save failed. A narrowed storage
        flushes its own saves and leaves the shared thread running. Close after the
        other threads using this storage are done; the next call starts afresh.
        """
        if self._owner:
            self._runner.close()
        elif self._runner.running:
            self._runner.call(self._storage.aclose())

    # -- running coroutines on this storage's loop ------------------------------------

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on this storage's event loop and block until it is done.

        The way for code built on top of this storage (an integration with a framework's
        blocking API, say) to run its own async code, typically calls on
        :attr:`async_storage`, without a loop thread or a storage of its own. Returns what
        the coroutine returns and raises what it raises, unchanged; Ctrl-C (or any error
        of the waiting thread) cancels it. The loop thread starts if it is not running.

        Thread-safe: any number of threads may call it at once; their coroutines run
        interleaved on the one loop, as every method of this class does. Called on the
        loop thread itself (from a coroutine running there, or an ``update_session``
        function), it would wait for itself forever: it closes ``coroutine`` unrun and
        raises ``RuntimeError``; await the coroutine there instead. Anything but a
        coroutine object raises InvalidArgumentError.
        """
        return self._runner.call(self._checked(coroutine))

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coroutine`` on this storage's event loop; returns at once.

        The ``concurrent.futures.Future`` gives its result or error; cancelling the future
        cancels the coroutine. From async code on another loop,
        ``await asyncio.wrap_future(sync.submit(coro))`` waits without blocking that loop.
        Thread-safety and the loop-thread rule are as for :meth:`run`.
        """
        return self._runner.submit(self._checked(coroutine))

    @staticmethod
    def _checked(coroutine: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
        if not inspect.iscoroutine(coroutine):
            # A coroutine function (not called) is the likely mistake: say so.
            hint = " (call the async function to get one)" if callable(coroutine) else ""
            got = type(coroutine).__name__
            raise invalid(f"coroutine must be a coroutine object, got {got}{hint}")
        return coroutine

    # -- narrowing -----------------------------------------------------------------

    def narrow(self, *keys: str) -> SyncSessionStorage:
        """A storage rooted ``keys`` levels below this one; see SessionStorage.narrow.

        It shares this storage's connection and loop thread.
        """
        return self._serving(self._storage.narrow(*keys), self._runner)

    def narrow_path(self, *keys: str) -> str:
        """The URL of the root that :meth:`narrow` with the same keys would use."""
        return self._storage.narrow_path(*keys)

    # -- background saves ----------------------------------------------------------

    def store_session_nowait(
        self, session_id: str, state: Mapping[str, Any], filename: str = DEFAULT_FILENAME
    ) -> concurrent.futures.Future[str]:
        """Accept a store to run in the background; see SessionStorage.store_session_nowait.

        Bad input raises here. Returns a ``concurrent.futures.Future`` whose result is
        the version written (or the write's error); :meth:`flush` and :meth:`close`
        wait for every accepted save.
        """

        async def accept() -> SaveHandle:
            return self._storage.store_session_nowait(session_id, state, filename)

        handle = self._runner.call(accept())
        what = f"session {session_id!r} file {filename!r}: its background save"
        return self._runner.submit(_outcome(handle), what)

    # -- everything else: one line per async method ----------------------------------

    store_session = blocking(SessionStorage.store_session)
    load_session = blocking(SessionStorage.load_session)
    store_bytes = blocking(SessionStorage.store_bytes)
    load_bytes = blocking(SessionStorage.load_bytes)
    session_exists = blocking(SessionStorage.session_exists)
    get_session_metadata = blocking(SessionStorage.get_session_metadata)
    iter_file_metadata = iterating(SessionStorage.iter_file_metadata)
    list_sessions = blocking(SessionStorage.list_sessions)
    iter_sessions = iterating(SessionStorage.iter_sessions)
    load_sessions = blocking(SessionStorage.load_sessions)
    store_sessions = blocking(SessionStorage.store_sessions)
    delete_sessions = blocking(SessionStorage.delete_sessions)
    list_files = blocking(SessionStorage.list_files)
    delete_session = blocking(SessionStorage.delete_session)
    delete_sessions_older_than = blocking(SessionStorage.delete_sessions_older_than)
    # update_session's fn runs on the loop thread; it may be a plain or an async function.
    update_session = blocking(SessionStorage.update_session)
    append_event = blocking(SessionStorage.append_event)
    append_events = blocking(SessionStorage.append_events)
    pop_events = blocking(SessionStorage.pop_events)
    read_events = blocking(SessionStorage.read_events)
    iter_events = iterating(SessionStorage.iter_events)
    event_count = blocking(SessionStorage.event_count)
    list_streams = blocking(SessionStorage.list_streams)
    truncate_events = blocking(SessionStorage.truncate_events)
    flush = blocking(SessionStorage.flush)
    check = blocking(SessionStorage.check)


async def _outcome(handle: SaveHandle) -> str:
    return await handle
