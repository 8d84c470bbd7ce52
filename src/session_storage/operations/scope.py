"""Where every call happens: shared state, the root, refs, and the one error helper.

A :class:`SessionStorage` and every storage narrowed from it share one :class:`Shared`
(the driver, the settings, the background saver, the event logs, the update locks,
the default concurrency); each has its own root. A :class:`Scope` is that pair, and
it is all a capability module (``state``, ``files``, ``listing``, ...) needs: it
builds the :class:`FileRef` / :class:`FolderRef` of a session's file or folder and
runs every driver call through :meth:`Scope.call`, which turns a backend failure into
the library error naming backend, session, file and URL.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Coroutine, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

import anyio

from ..backends.probe import refused
from ..concurrency.background import DEFAULT_MAX_PENDING, BackgroundSaver
from ..concurrency.keyed_locks import KeyedLocks
from ..concurrency.loop_guard import LoopGuard
from ..core.arguments import check_int
from ..core.errors import (
    BackendUnavailableError,
    InvalidKeyError,
    NotSupportedError,
    Place,
    SessionStorageError,
    StorageTimeoutError,
    innermost,
)
from ..core.keys import encode_filename, encode_segment
from ..core.messages import echo
from ..events.log import EventLogs

if sys.version_info >= (3, 11):
    from asyncio import timeout as _asyncio_timeout
else:  # pragma: no cover - Python 3.10 uses anyio's cancel scope
    _asyncio_timeout = None

if TYPE_CHECKING:
    from ..backends import Driver

__all__ = ["FileRef", "FolderRef", "Located", "Scope", "Shared"]

T = TypeVar("T")
E = TypeVar("E", bound=SessionStorageError)


class Located(Protocol):
    """Anything a call can be about: a file, a folder, an event stream."""

    @property
    def session_id(self) -> str | None: ...
    @property
    def filename(self) -> str | None: ...
    @property
    def path(self) -> str: ...


@dataclass(frozen=True, slots=True)
class FileRef:
    """One file of one session, and its backend path."""

    session_id: str
    filename: str
    path: str


@dataclass(frozen=True, slots=True)
class FolderRef:
    """A session's folder (or, with no session, the storage root) and its backend path."""

    session_id: str | None
    path: str

    @property
    def filename(self) -> None:
        return None


@dataclass(eq=False, slots=True)
class Shared:
    """What a storage shares with every storage narrowed from it.

    One saver, so the owner's ``flush`` and ``aclose`` cover the views' saves; one
    set of event-log hints and update locks, so views of the same files take turns.
    """

    driver: Driver
    timeout: float | None
    """Each remote operation's deadline in seconds (None: none)."""
    max_concurrency: int
    saver: BackgroundSaver
    event_logs: EventLogs
    update_locks: KeyedLocks
    loops: LoopGuard

    @classmethod
    def create(
        cls,
        driver: Driver,
        *,
        timeout: float | None,
        max_concurrency: int | None,
        background_concurrency: int,
        max_pending: int = DEFAULT_MAX_PENDING,
        label: str,
    ) -> Shared:
        """Check the concurrency bounds and build the shared parts around ``driver``
        (already wrapped in its codecs).

        ``label`` names the storage in the background saver's warnings and logs.
        """
        limit = check_int("max_concurrency", max_concurrency, 1, allow_none=True)
        background = check_int("background_concurrency", background_concurrency, 1)
        return cls(
            driver=driver,
            timeout=timeout,
            max_concurrency=driver.default_concurrency if limit is None else limit,
            saver=BackgroundSaver(
                background, max_pending=max_pending, label=label, release=driver.aclose
            ),
            event_logs=EventLogs(driver),
            update_locks=KeyedLocks(),
            loops=LoopGuard(),
        )


@dataclass(frozen=True, slots=True)
class Scope:
    """One storage's view: the shared state and the root it works under."""

    shared: Shared
    root: str

    @property
    def driver(self) -> Driver:
        return self.shared.driver

    @property
    def backend(self) -> str:
        return self.shared.driver.name

    def url(self, path: str | None = None) -> str:
        """``path`` (default: the root) as a URL."""
        return self.shared.driver.url(self.root if path is None else path)

    def narrowed(self, keys: tuple[str, ...]) -> Scope:
        """The scope ``keys`` levels below this one; no key can reach outside it."""
        if not keys:
            raise InvalidKeyError("narrow() needs at least one key", backend=self.backend)
        # Joined as folder() joins, so that below an empty root (a DirFileSystem's) a
        # narrowed root is "/tenant" like a session's folder "/s", never "tenant": the
        # codecs bind each file to its path relative to the root's "/".
        below = "/".join(encode_segment(k, "narrow key") for k in keys)
        return Scope(self.shared, f"{self.root}/{below}")

    # -- refs ----------------------------------------------------------------------

    def root_ref(self) -> FolderRef:
        return FolderRef(None, self.root)

    def folder(self, session_id: str) -> FolderRef:
        """The folder of a session; raises InvalidKeyError for an unusable id."""
        return FolderRef(session_id, f"{self.root}/{encode_segment(session_id, 'session id')}")

    def file(self, session_id: str, filename: str) -> FileRef:
        """One file of a session; raises InvalidKeyError for an unusable or too long name."""
        path = f"{self.folder(session_id).path}/{encode_filename(filename)}"
        self.check_length(session_id, filename, path)
        return FileRef(session_id, filename, path)

    def check_length(self, session_id: str, filename: str, path: str) -> None:
        """Refuse a path the backend would refuse, before sending anything."""
        reason = self.shared.driver.check_length(path)
        if reason is not None:
            raise InvalidKeyError(
                f"{self.backend}: session {echo(session_id)} file {echo(filename)} is too long "
                f"for this backend: {reason}",
                backend=self.backend,
                session_id=session_id,
                filename=filename,
            )

    def place(self, action: str, ref: Located) -> Place:
        """Where ``action`` on ``ref`` happens, for the errors about it."""
        return Place(self.backend, action, ref.session_id, ref.filename, self.url(ref.path))

    def where(self, action: str, ref: Located) -> str:
        """``"s3: cannot load session 'a' file 'state.json' (s3://b/a/state.json)"``."""
        return str(self.place(action, ref))

    def require_conditions(self, action: str, ref: Located) -> None:
        """Refuse, before writing, what needs conditional writes on a backend without them."""
        capabilities = self.shared.driver.capabilities
        if not capabilities.conditional_writes:
            lacking = capabilities.missing(if_absent=True, if_version=True)
            why = (
                f"the {self.backend} backend lacks the capability {lacking}, and this needs "
                "conditional_writes (create_only and compare_and_swap): nothing would "
                "enforce its condition"
            ) + (f". Instead: {capabilities.instead}" if capabilities.instead else "")
            raise self.failure(NotSupportedError, action, ref, why)

    # -- the one way a driver call is made -------------------------------------------

    async def call(
        self,
        ref: Located,
        action: str,
        operation: Awaitable[T],
        conflict: str | None = None,
        *,
        deadline: bool = True,
    ) -> T:
        """Await one driver operation about ``ref``, translating any backend failure.

        Every driver call of the library goes through here, so this is the one place
        where a per-operation limit (a deadline, a retry) wraps the await. A library
        error passes unchanged; any other exception becomes the library error for its
        kind (see :func:`errors.translate`), raised ``from`` it. ``conflict`` says, for
        a conditional write, which condition failed.

        On backends that wait on a network peer (:attr:`Driver.remote`) the operation
        is cancelled when the storage's ``timeout`` passes (unless ``deadline`` is
        False) and raises StorageTimeoutError.
        """
        driver = self.shared.driver
        if driver.loop_bound:
            if not self.shared.loops.enter():
                if isinstance(operation, Coroutine):
                    operation.close()  # never awaited: no "never awaited" warning
                raise self.other_loop(action, ref)
            try:
                return await self._call(driver, ref, action, operation, conflict, deadline)
            finally:
                self.shared.loops.leave()
        return await self._call(driver, ref, action, operation, conflict, deadline)

    async def _call(
        self,
        driver: Driver,
        ref: Located,
        action: str,
        operation: Awaitable[T],
        conflict: str | None,
        deadline: bool,
    ) -> T:
        timeout = self.shared.timeout if deadline and driver.remote else None
        if timeout is None:
            # No deadline (none configured, or a backend that never waits on a peer):
            # a cancel scope per call would cost more than a memory store itself.
            try:
                return await operation
            except (SessionStorageError, StopAsyncIteration):
                raise
            except Exception as exc:
                raise await self._failed(exc, action, ref, conflict) from exc
        if _asyncio_timeout is not None:
            # Remote drivers run on asyncio (fsspec's async clients, obstore), and its
            # own timeout costs half of what a portable cancel scope does per call.
            limit = _asyncio_timeout(timeout)
            try:
                async with limit:
                    return await operation
            except (SessionStorageError, StopAsyncIteration):
                raise
            except Exception as exc:
                # The deadline's TimeoutError, or a client that turned the
                # cancellation into an error of its own.
                if limit.expired():
                    raise await self._unreachable(action, ref) from exc
                raise await self._failed(exc, action, ref, conflict) from exc
        scope = anyio.move_on_after(timeout)
        try:
            with scope:
                return await operation
        except (SessionStorageError, StopAsyncIteration):
            raise
        except Exception as exc:
            if scope.cancel_called:  # a client that turned the cancellation into an error
                raise await self._unreachable(action, ref) from exc
            raise await self._failed(exc, action, ref, conflict) from exc
        # Only a passed deadline gets here: the operation was cancelled.
        raise await self._unreachable(action, ref)

    async def _failed(
        self, exc: Exception, action: str, ref: Located, conflict: str | None
    ) -> SessionStorageError:
        """:meth:`error`, or for an unreachable remote backend :meth:`_unreachable`."""
        error = self.error(exc, action, ref, conflict)
        if type(error) is BackendUnavailableError and self.shared.driver.remote:
            return await self._unreachable(action, ref, error)
        return error

    async def _unreachable(
        self, action: str, ref: Located, error: SessionStorageError | None = None
    ) -> SessionStorageError:
        """The error for a call that outlived the timeout (``error`` None) or failed as
        unreachable: if the endpoint refuses connections (a closed port), one that says
        so, since clients retry a refused connection until the deadline and would
        report no answer; otherwise ``error`` or :meth:`timed_out`."""
        where = await refused(self.shared.driver.endpoint())
        if where is not None:
            why = f"connection refused by {where}: nothing listens there (is the service running?)"
            return self.failure(BackendUnavailableError, action, ref, why)
        return self.timed_out(action, ref) if error is None else error

    def other_loop(self, action: str, ref: Located) -> NotSupportedError:
        """The error for an operation from a second event loop while another runs one."""
        why = (
            "this storage is in use by another event loop (another thread) right now; a "
            "SessionStorage serves one event loop at a time: share a SyncSessionStorage "
            "between threads, or give each loop its own storage"
        )
        return self.failure(NotSupportedError, action, ref, why)

    def timed_out(self, action: str, ref: Located) -> StorageTimeoutError:
        """The error for an operation about ``ref`` that outlived the timeout."""
        why = f"no answer within the timeout of {self.shared.timeout} s"
        return self.failure(StorageTimeoutError, action, ref, why)

    async def iterate(
        self, ref: Located, action: str, pages: AsyncIterator[T]
    ) -> AsyncGenerator[T, None]:
        """The items of a driver's async generator, each step awaited through :meth:`call`.

        The driver's generator is closed as soon as this one is (a consumer that stops
        early), not left to garbage collection with its request state.
        """
        # Drivers implement their listings as async generators, which have aclose().
        async with aclosing(cast(AsyncGenerator[T, None], pages)) as steps:
            while True:
                try:
                    item = await self.call(ref, action, steps.__anext__())
                except StopAsyncIteration:
                    return
                yield item

    def failure(self, cls: type[E], action: str, ref: Located, why: str) -> E:
        """A ``cls`` error about ``ref``: where it happened (:meth:`where`), then ``why``."""
        return self.place(action, ref).error(cls, why)

    def error(
        self, exc: Exception, action: str, ref: Located, conflict: str | None = None
    ) -> SessionStorageError:
        """The library error for a backend failure; the caller raises it ``from exc``."""
        leaf = innermost(exc)
        if isinstance(leaf, SessionStorageError):
            return leaf
        kind = self.shared.driver.classify(leaf)
        reason = conflict if kind == "conflict" else None
        if kind == "missing_storage":
            reason = self.shared.driver.missing_storage(ref.path)
        return self.place(action, ref).translate(leaf, kind, reason)

    # -- deletes -------------------------------------------------------------------
    # Every delete goes through these three, each a driver call through :meth:`call`.
    # The driver prunes the folders a delete leaves empty up to the root it was opened
    # with (local disk; object stores have no empty folders), so a narrowed view's
    # emptied prefix goes too.

    async def delete_file(self, ref: FileRef, action: str) -> bool:
        """Delete one file; whether it existed."""
        return await self.call(ref, action, self.shared.driver.delete_file(ref.path))

    async def delete_files(self, ref: Located, action: str, paths: Sequence[str]) -> None:
        """Delete ``paths`` (all about ``ref``) in as few requests as the backend allows;
        missing ones are skipped."""
        await self.call(ref, action, self.shared.driver.delete_files(paths))

    async def delete_tree(self, ref: FolderRef, action: str) -> bool:
        """Delete every file below ``ref``'s folder; whether there was any."""
        return await self.call(ref, action, self.shared.driver.delete_tree(ref.path))
