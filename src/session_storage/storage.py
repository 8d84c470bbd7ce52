"""SessionStorage: the facade callers use. Sessions and files in, bucket paths out.

The class reads as a table of contents: construction, lifecycle and narrowing live
here; every other method is one line handing the call to the module of its
capability (:mod:`.state`, :mod:`.files`, :mod:`.listing`, :mod:`.batch`,
:mod:`.read_modify_write`, :mod:`.events`, :mod:`.retention`), each working in the
:class:`~session_storage.context.Scope` of this storage.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

from . import batch, events, files, listing, read_modify_write, retention
from . import state as json_state
from .arguments import check_instance, check_mapping, check_url
from .backends import open_driver
from .background import DEFAULT_CONCURRENCY, SaveHandle
from .context import Scope, Shared
from .read_modify_write import DEFAULT_BACKOFF, DEFAULT_MAX_BACKOFF, DEFAULT_RETRIES, StateUpdate
from .redaction import redact_url
from .settings import DEFAULT_URL, StorageSettings
from .state import DEFAULT_FILENAME
from .versions import VersionedBytes, VersionedState

__all__ = ["DEFAULT_FILENAME", "SessionStorage"]

S = TypeVar("S", bound="SessionStorage")


class SessionStorage:
    """Per-session JSON state and files on any supported fsspec backend.

    ``url`` is a local path or ``file://`` URL (the default, ``.data/sessions``),
    ``memory://name``, ``s3://bucket/prefix``, ``gs://bucket/prefix`` or
    ``az://container/prefix``; ``storage_options`` go to the fsspec filesystem.

    The constructor does no I/O. The filesystem opens in the running event loop on
    first use and is released by :meth:`aclose` or by leaving ``async with``. One
    storage can serve many concurrent tasks and successive event loops.

    Missing things are not errors: loads return ``None``, deletes return ``False``.
    Everything else raises a :class:`~session_storage.errors.SessionStorageError`
    naming the backend, session, file and URL; a bad argument raises an
    :class:`~session_storage.errors.InvalidArgumentError` naming it.

    ``max_concurrency`` bounds how many operations of one call (:meth:`load_sessions`,
    :meth:`store_sessions`, :meth:`delete_sessions`) run at once; by default 1 in
    memory, 8 on local disk, and the connection pool size (64 unless
    ``config_kwargs`` set ``max_pool_connections``) on S3, 32 on GCS and Azure.
    ``background_concurrency`` bounds the background saves in flight
    (:meth:`store_session_nowait`), for this storage and its narrowed views together.
    """

    def __init__(
        self,
        url: str | os.PathLike[str] = DEFAULT_URL,
        storage_options: Mapping[str, Any] | None = None,
        *,
        background_concurrency: int = DEFAULT_CONCURRENCY,
        max_concurrency: int | None = None,
    ) -> None:
        options = check_mapping("storage_options", storage_options)
        settings = StorageSettings(check_url(url), options or {})
        driver, root = open_driver(settings.url, settings.storage_options)
        shared = Shared.create(
            settings,
            driver,
            max_concurrency=max_concurrency,
            background_concurrency=background_concurrency,
            label=f"{type(self).__name__}({redact_url(driver.url(root))!r})",
        )
        self._attach(Scope(shared, root), owner=True)

    def _attach(self, scope: Scope, *, owner: bool) -> None:
        self._scope = scope
        self._owner = owner  # the owner closes the shared filesystem; views do not

    @classmethod
    def _view(cls: type[S], scope: Scope) -> S:
        """A storage on ``scope`` that shares, and does not own, its filesystem."""
        view = cls.__new__(cls)
        view._attach(scope, owner=False)
        return view

    @classmethod
    def from_settings(cls, settings: StorageSettings) -> SessionStorage:
        """A storage for ``settings``."""
        checked = check_instance("settings", settings, StorageSettings)
        return cls(checked.url, checked.storage_options)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SessionStorage:
        """A storage configured by ``SESSION_STORAGE_*`` variables.

        See :meth:`StorageSettings.from_env`; with nothing set, ``.data/sessions``.
        """
        checked = check_mapping("environ", environ)
        return cls.from_settings(StorageSettings.from_env(checked))

    # -- identity and lifecycle ----------------------------------------------------

    @property
    def backend(self) -> str:
        """``"file"``, ``"memory"``, ``"s3"``, ``"gcs"`` or ``"azure"``."""
        return self._scope.backend

    @property
    def url(self) -> str:
        """The URL of this storage's root (a narrowed storage's own root).

        It never holds a credential: those given in the URL were moved into
        ``settings.storage_options`` (see :class:`StorageSettings`), and any left
        are shown as ``***``, so it is safe to log.
        """
        return redact_url(self._scope.url())

    @property
    def settings(self) -> StorageSettings:
        """The settings of this storage's root."""
        return StorageSettings(self.url, self._scope.shared.settings.storage_options)

    @property
    def max_concurrency(self) -> int:
        """How many operations a batch call runs at once unless told otherwise."""
        return self._scope.shared.max_concurrency

    @property
    def supports_conditional_writes(self) -> bool:
        """Whether this backend enforces ``if_version`` / ``if_absent`` atomically.

        True for memory, S3, GCS, Azure, and local disk (on systems with ``flock``).
        Where it is False, conditional stores, :meth:`update_session` and
        :meth:`append_event` raise NotSupportedError instead of silently overwriting.
        """
        return self._scope.driver.supports_conditional_writes

    @property
    def filesystem(self) -> Any:
        """The async fsspec filesystem underneath, for raw access. Needs a running loop."""
        return self._scope.driver.filesystem

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    async def __aenter__(self: S) -> S:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Write every pending background save, then release the filesystem's connections.

        Raises BackgroundSaveError (after closing) if a background save failed. A
        narrowed storage flushes its own saves and leaves the shared filesystem open.
        The storage stays usable: the next call opens the filesystem again.
        """
        try:
            await self.flush()
        finally:
            if self._owner:
                await self._scope.driver.aclose()

    async def flush(self) -> None:
        """Wait for every background save accepted so far, then report failures.

        Raises BackgroundSaveError carrying every failed save since the last flush
        (their handles raise the same errors). The owner storage waits for its
        narrowed views' saves too; a narrowed storage waits for its own.
        """
        prefix = None if self._owner else self._scope.root.rstrip("/") + "/"
        await self._scope.shared.saver.flush(prefix)

    # -- narrowing -----------------------------------------------------------------

    def narrow(self: S, *keys: str) -> S:
        """A storage rooted ``keys`` levels below this one, sharing its filesystem.

        Keys are encoded like session ids, so no key can reach outside this root. The
        narrowed root is a folder here, so it shows up in this storage's
        :meth:`list_sessions` once it holds any file. Raises InvalidKeyError without keys.
        """
        return self._view(self._scope.narrowed(keys))

    def narrow_path(self, *keys: str) -> str:
        """The URL of the root that :meth:`narrow` with the same keys would use."""
        return self._scope.narrowed(keys).url()

    # -- JSON state ----------------------------------------------------------------

    async def store_session(
        self,
        session_id: str,
        state: Mapping[str, Any],
        filename: str = DEFAULT_FILENAME,
        *,
        if_version: str | None = None,
        if_absent: bool = False,
    ) -> str:
        """Store ``state`` as the session's ``filename``, replacing it atomically.

        The stored JSON is ``state`` plus ``_metadata`` (session_id, filename,
        stored_at, backend); a ``_metadata`` key in ``state`` is replaced. Returns the
        new version token. A state that is not a dict or not JSON-serializable raises
        SerializationError and nothing is written.

        ``if_version=token`` writes only if the file is still at that version;
        ``if_absent=True`` only if it does not exist. The backend checks the condition
        atomically with the write; a failed one raises ConflictError (naming the
        condition) and writes nothing. The two exclude each other
        (InvalidArgumentError).
        """
        condition = (if_version, if_absent)
        return (await json_state.store(self._scope, session_id, state, filename, *condition))[1]

    def store_session_nowait(
        self, session_id: str, state: Mapping[str, Any], filename: str = DEFAULT_FILENAME
    ) -> SaveHandle:
        """Accept a :meth:`store_session` to run in the background; returns at once.

        Bad input raises here and nothing is queued. Saves of one file land in the
        order accepted; a waiting state is replaced by a newer one (the older handle
        resolves with it). ``await handle`` gives the version written or raises the
        write's error; :meth:`flush` (and :meth:`aclose`) waits for every save and
        raises any that failed. Direct calls do not wait for pending saves of the
        same file. Needs a running event loop; see :mod:`session_storage.background`.
        """
        return json_state.store_nowait(self._scope, session_id, state, filename)

    @overload
    async def load_session(
        self, session_id: str, filename: str = ..., *, with_version: Literal[False] = False
    ) -> dict[str, Any] | None: ...
    @overload
    async def load_session(
        self, session_id: str, filename: str = ..., *, with_version: Literal[True]
    ) -> VersionedState: ...
    @overload
    async def load_session(
        self, session_id: str, filename: str = ..., *, with_version: bool
    ) -> dict[str, Any] | VersionedState | None: ...

    async def load_session(
        self, session_id: str, filename: str = DEFAULT_FILENAME, *, with_version: bool = False
    ) -> dict[str, Any] | VersionedState | None:
        """The stored state (``_metadata`` included), or ``None`` if there is none.

        One request. A file that is not a JSON object raises CorruptDataError. With
        ``with_version=True`` returns ``VersionedState(state, version)`` from that same
        request (both ``None`` if the file is missing), ready for ``if_version``.
        """
        loaded = await json_state.prepare_load(self._scope, session_id, filename)()
        return loaded if with_version else loaded.state

    async def update_session(
        self,
        session_id: str,
        fn: StateUpdate,
        filename: str = DEFAULT_FILENAME,
        *,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
    ) -> dict[str, Any] | None:
        """Read-modify-write the session's state without losing concurrent updates.

        Calls ``fn(state)`` (``None`` if the file is missing; plain or async) and
        stores the result only if nobody wrote in between; on a conflict it pauses
        (randomly, from ``backoff`` doubling up to ``max_backoff`` seconds) and calls
        ``fn`` again on the fresh state, so ``fn`` must have no other effects. Updates
        through this storage take turns. Returns the state as stored; if ``fn``
        returns ``None`` nothing is written and the state is returned as loaded.
        Raises ConflictError after ``retries`` conflicting retries; an exception from
        ``fn`` propagates with nothing written.
        """
        policy = (retries, backoff, max_backoff)
        return await read_modify_write.update(self._scope, session_id, fn, filename, *policy)

    # -- batches -------------------------------------------------------------------

    async def load_sessions(
        self,
        session_ids: Iterable[str],
        filename: str = DEFAULT_FILENAME,
        *,
        max_concurrency: int | None = None,
    ) -> dict[str, dict[str, Any] | None]:
        """Load many sessions at once: ``{id: state}``, ``None`` for a missing one.

        At most ``max_concurrency`` at a time (default: :attr:`max_concurrency`); a
        repeated id is loaded once; results keep the order of first appearance. Every
        id is attempted; failures come in one :class:`BatchError` with the loaded
        states in ``results`` and each id's error in ``errors``. Invalid ids raise a
        BatchError naming them all before anything is read (see :mod:`.batch`).
        """
        return await batch.load_sessions(self._scope, session_ids, filename, max_concurrency)

    async def store_sessions(
        self,
        states: Mapping[str, Mapping[str, Any]],
        filename: str = DEFAULT_FILENAME,
        *,
        max_concurrency: int | None = None,
    ) -> dict[str, str]:
        """Store many sessions at once from ``{id: state}``; returns ``{id: version}``.

        Every id and state is checked first: if any is bad, a :class:`BatchError`
        naming each bad id is raised and nothing is written. The writes then run at
        most ``max_concurrency`` at a time; failures come in one BatchError with the
        written versions in ``results``. Not a transaction: what succeeded stays.
        """
        return await batch.store_sessions(self._scope, states, filename, max_concurrency)

    async def delete_sessions(
        self,
        session_ids: Iterable[str],
        filename: str | None = None,
        *,
        max_concurrency: int | None = None,
    ) -> dict[str, bool]:
        """Delete many sessions (or one ``filename`` of each): ``{id: existed}``.

        Each id is deleted as :meth:`delete_session` would delete it, at most
        ``max_concurrency`` at a time. Every id is attempted; failures are reported
        per id in a :class:`BatchError` raised after all have finished, and an
        invalid id raises one before anything is deleted.
        """
        return await batch.delete_sessions(self._scope, session_ids, filename, max_concurrency)

    # -- raw bytes and metadata ----------------------------------------------------

    async def store_bytes(
        self,
        session_id: str,
        filename: str,
        data: bytes,
        *,
        if_version: str | None = None,
        if_absent: bool = False,
    ) -> str:
        """Store raw bytes as the session's ``filename`` (no stamping); returns the version.

        ``if_version`` and ``if_absent`` work as in :meth:`store_session`. Data that is
        not bytes-like raises InvalidArgumentError and nothing is written.
        """
        args = (session_id, filename, data, if_version, if_absent)
        return await files.store_bytes(self._scope, *args)

    @overload
    async def load_bytes(
        self, session_id: str, filename: str, *, with_version: Literal[False] = False
    ) -> bytes | None: ...
    @overload
    async def load_bytes(
        self, session_id: str, filename: str, *, with_version: Literal[True]
    ) -> VersionedBytes: ...
    @overload
    async def load_bytes(
        self, session_id: str, filename: str, *, with_version: bool
    ) -> bytes | VersionedBytes | None: ...

    async def load_bytes(
        self, session_id: str, filename: str, *, with_version: bool = False
    ) -> bytes | VersionedBytes | None:
        """The stored bytes of ``filename``, or ``None`` if there is no such file.

        With ``with_version=True``: ``VersionedBytes(data, version)`` from one request.
        """
        loaded = await files.load_bytes(self._scope, session_id, filename)
        return loaded if with_version else loaded.data

    async def session_exists(self, session_id: str) -> bool:
        """Whether the session has any file at all (one request on object stores)."""
        return await files.exists(self._scope, session_id)

    async def get_session_metadata(
        self, session_id: str, filename: str = DEFAULT_FILENAME
    ) -> dict[str, Any] | None:
        """Facts about one file without reading it, or ``None`` if it is missing.

        Keys: ``session_id``, ``filename``, ``size`` (bytes), ``modified`` (aware UTC
        datetime), ``created`` (datetime, or None where the backend keeps none),
        ``backend``, ``version`` (ETag, generation or local token).
        """
        return await files.metadata(self._scope, session_id, filename)

    # -- listing -------------------------------------------------------------------

    def iter_file_metadata(self, session_id: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """The :meth:`get_session_metadata` of every file of one session, or of every
        session under this root, in no particular order; nothing if there is none.

        One LIST request per 1000 files on object stores. Files of a narrowed storage
        appear under its first key as the session, the rest of the path in the name.
        """
        return listing.file_metadata(self._scope, session_id)

    async def list_sessions(
        self, prefix: str = "", limit: int | None = None, start_after: str | None = None
    ) -> list[str]:
        """Ids of the sessions directly under this root, in key order; ``[]`` if none.

        Only ids starting with ``prefix``, after ``start_after`` (the last id of the
        previous page), at most ``limit``. Key order is that of
        :func:`session_storage.keys.session_sort_key` (plain string order for ids of
        ASCII letters, digits and ``_``), the same on every backend. One LIST request
        per 1000 ids on object stores, and a page asks for only ``limit`` ids. Names
        this library did not write are skipped; a narrowed sub-store is listed here
        like a session.
        """
        page = listing.Page.check(prefix, limit, start_after)
        return [sid async for chunk in listing.session_pages(self._scope, page) for sid in chunk]

    def iter_sessions(
        self, prefix: str = "", *, start_after: str | None = None
    ) -> AsyncIterator[str]:
        """Every session id under this root, as :meth:`list_sessions` orders them.

        ``async for session_id in storage.iter_sessions(): ...`` fetches one page
        (one LIST request on object stores) per 1000 ids as the loop goes, so memory
        stays flat on object stores however many sessions there are; local disk
        reads the folder's names once. Arguments are checked here, at the call.
        """
        page = listing.Page.check(prefix, None, start_after)
        return listing.session_ids(self._scope, page)

    async def list_files(self, session_id: str) -> list[str]:
        """Sorted filenames of a session (``/`` for nesting); ``[]`` if it has none."""
        return await listing.list_files(self._scope, session_id)

    # -- deletion ------------------------------------------------------------------

    async def delete_session(self, session_id: str, filename: str | None = None) -> bool:
        """Delete one file, or with no ``filename`` every file of the session.

        Returns whether anything existed; deleting what is missing never raises.
        Object stores delete a whole session with one LIST and one batched delete
        per 1000 files.
        """
        return await files.prepare_delete(self._scope, session_id, filename)()

    async def delete_sessions_older_than(
        self, age: timedelta | float, *, dry_run: bool = False, now: datetime | None = None
    ) -> list[str]:
        """Delete every session whose newest file is older than ``age``; returns their ids.

        ``age`` is a timedelta or seconds, measured back from ``now`` (an aware
        datetime; default: now). With ``dry_run`` nothing is deleted and the ids that
        would be are returned; ids are sorted; none expired gives ``[]``. A session
        written after the scan is kept, and a narrowed sub-store counts as one session
        (see :mod:`session_storage.retention` for costs and the window that remains).
        If any delete fails, a BatchError follows with the deleted ids in ``results``.
        """
        return await retention.delete_older_than(self._scope, age, dry_run, now)

    # -- event logs ----------------------------------------------------------------

    async def append_event(
        self, session_id: str, stream: str, item: Any, idempotency_key: str | None = None
    ) -> int:
        """Append ``item`` (any JSON value) to the session's event ``stream``; its index.

        Each event is its own file, ``<stream>/<12-digit index>.json``, written
        create-only: appenders never overwrite one another, indices run from 0
        without gaps, and a single writer needs one request (see
        :mod:`session_storage.event_log`). With ``idempotency_key`` a repeated append
        returns the index of the first and writes nothing (see
        :mod:`session_storage.idempotency`). A missing stream is created by its first
        append; a stream name nests with ``/`` like a filename.
        """
        return await events.append(self._scope, session_id, stream, item, idempotency_key)

    async def read_events(
        self, session_id: str, stream: str, start: int = 0, limit: int | None = None
    ) -> list[Any]:
        """The items of events ``start, start+1, ...`` (at most ``limit``), in order.

        The item at position ``i`` has index ``start + i``. A missing stream, or a
        ``start`` past the end, gives ``[]``.
        """
        return await events.read(self._scope, session_id, stream, start, limit)

    def iter_events(
        self, session_id: str, stream: str, start: int = 0, *, page_size: int = 100
    ) -> AsyncIterator[Any]:
        """Yield the items of the stream from ``start`` in index order, a page at a time.

        Stops at the end as found when the last page is read; a missing stream yields
        nothing. Arguments are checked here, at the call.
        """
        return events.iter_items(self._scope, session_id, stream, start, page_size)

    async def event_count(self, session_id: str, stream: str) -> int:
        """How many events the stream holds (0 if missing): two existence checks when
        this storage knows the end, O(log n) otherwise."""
        return await events.count(self._scope, session_id, stream)

    async def truncate_events(self, session_id: str, stream: str, length: int) -> int:
        """Drop every event from index ``length`` on (a rewind); returns how many.

        Idempotency keys of dropped events are forgotten, so appending one again
        writes a new event. Not atomic: run it while nobody else appends to the
        stream. A ``length`` at or past the end drops nothing.
        """
        return await events.truncate(self._scope, session_id, stream, length)
