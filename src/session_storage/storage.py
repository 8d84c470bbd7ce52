"""SessionStorage: the facade callers use. Sessions and files in, bucket paths out."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import aclosing
from datetime import datetime, timedelta
from functools import partial
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

from . import batch, retention
from .backends import ObjectInfo, open_driver
from .background import DEFAULT_CONCURRENCY, BackgroundSaver, SaveHandle
from .codec import decode_state, encode_stamped, encode_state
from .errors import (
    ConflictError,
    InvalidArgumentError,
    InvalidKeyError,
    NotSupportedError,
    SessionStorageError,
    describe,
    innermost,
    translate,
)
from .events import EventLogs, StreamRef
from .keys import decode_filename, decode_segment, encode_filename, encode_segment, join
from .listing import Page, pages
from .settings import DEFAULT_URL, StorageSettings, _redact_url
from .turns import Turns
from .updates import (
    DEFAULT_BACKOFF,
    DEFAULT_MAX_BACKOFF,
    DEFAULT_RETRIES,
    StateUpdate,
    check_retry_policy,
    update_state,
)
from .versions import VersionedBytes, VersionedState, check_condition

__all__ = ["DEFAULT_FILENAME", "SessionStorage"]

DEFAULT_FILENAME = "state.json"
"""The file a session's state lives in unless a call names another."""

_JSON = "application/json"
T = TypeVar("T")
S = TypeVar("S", bound="SessionStorage")


class SessionStorage:
    """Per-session JSON state and files on any supported fsspec backend.

    ``url`` is a local path or ``file://`` URL (the default, ``.data/sessions``),
    ``memory://name``, ``s3://bucket/prefix``, ``gs://bucket/prefix`` or
    ``az://container/prefix``; ``storage_options`` go to the fsspec filesystem.
    ``background_concurrency`` bounds the background saves written at once
    (:meth:`store_session_nowait`).

    The constructor does no I/O. The filesystem opens in the running event loop on
    first use and is released by :meth:`aclose` or by leaving ``async with``. One
    storage can serve many concurrent tasks and successive event loops.

    Missing things are not errors: loads return ``None``, deletes return ``False``.
    Everything else raises a :class:`~session_storage.errors.SessionStorageError`
    naming the backend, session, file and URL.

    ``max_concurrency`` bounds how many operations of a batch call
    (:meth:`load_sessions`, :meth:`store_sessions`, :meth:`delete_sessions`) run at
    once; by default 1 in memory, 8 on local disk, and the connection pool size (64
    unless ``config_kwargs`` set ``max_pool_connections``) on S3, 32 on GCS and Azure.
    ``background_concurrency`` bounds the background saves in flight.
    """

    def __init__(
        self,
        url: str | os.PathLike[str] = DEFAULT_URL,
        storage_options: Mapping[str, Any] | None = None,
        *,
        background_concurrency: int = DEFAULT_CONCURRENCY,
        max_concurrency: int | None = None,
    ) -> None:
        self._settings = StorageSettings(os.fspath(url), storage_options or {})
        self._driver, self._root = open_driver(self._settings.url, self._settings.storage_options)
        self._owner = True
        self._concurrency = (
            self._driver.default_concurrency
            if max_concurrency is None
            else batch.check_concurrency(max_concurrency)
        )
        # Shared with every narrowed view (narrow() copies this object's attributes),
        # so the owner's flush and aclose cover the views' saves too.
        self._saver = BackgroundSaver(background_concurrency)
        self._events = EventLogs(self._driver)  # shared with narrowed views
        self._updates = Turns()  # likewise

    @classmethod
    def from_settings(cls, settings: StorageSettings) -> SessionStorage:
        """A storage for ``settings``."""
        return cls(settings.url, settings.storage_options)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SessionStorage:
        """A storage configured by ``SESSION_STORAGE_*`` variables.

        See :meth:`StorageSettings.from_env`; with nothing set, ``.data/sessions``.
        """
        return cls.from_settings(StorageSettings.from_env(environ))

    # -- identity and lifecycle ----------------------------------------------------

    @property
    def backend(self) -> str:
        """``"file"``, ``"memory"``, ``"s3"``, ``"gcs"`` or ``"azure"``."""
        return self._driver.name

    @property
    def url(self) -> str:
        """The URL of this storage's root (a narrowed storage's own root)."""
        return self._driver.url(self._root)

    @property
    def settings(self) -> StorageSettings:
        """The settings of this storage's root."""
        return StorageSettings(self.url, self._settings.storage_options)

    @property
    def max_concurrency(self) -> int:
        """How many operations a batch call runs at once unless told otherwise."""
        return self._concurrency

    @property
    def supports_conditional_writes(self) -> bool:
        """Whether this backend enforces ``if_version`` / ``if_absent`` atomically.

        True for memory, S3, and local disk (on systems with ``flock``). Where it is
        False, conditional stores, :meth:`update_session` and :meth:`append_event`
        raise NotSupportedError instead of silently overwriting.
        """
        return self._driver.supports_conditional_writes

    @property
    def filesystem(self) -> Any:
        """The async fsspec filesystem underneath, for raw access. Needs a running loop."""
        return self._driver.filesystem

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_redact_url(self.url)!r})"

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
                await self._driver.aclose()

    # -- narrowing -----------------------------------------------------------------

    def narrow(self: S, *keys: str) -> S:
        """A storage rooted ``keys`` levels below this one, sharing its filesystem.

        Keys are encoded like session ids, so no key can reach outside this root. The
        narrowed root is a folder here, so it shows up in this storage's
        :meth:`list_sessions` once it holds any file.
        """
        if not keys:
            raise InvalidKeyError("narrow() needs at least one key")
        child = object.__new__(type(self))
        child.__dict__.update(self.__dict__)
        child._root = self._narrowed_root(keys)
        child._owner = False
        return child

    def narrow_path(self, *keys: str) -> str:
        """The URL of the root that :meth:`narrow` with the same keys would use."""
        return self._driver.url(self._narrowed_root(keys))

    def _narrowed_root(self, keys: tuple[str, ...]) -> str:
        return join(self._root, *(encode_segment(k, "narrow key") for k in keys))

    # -- paths and errors ----------------------------------------------------------

    def _folder(self, session_id: str) -> str:
        return f"{self._root}/{encode_segment(session_id, 'session id')}"

    def _path(self, session_id: str, filename: str) -> str:
        path = f"{self._folder(session_id)}/{encode_filename(filename)}"
        self._check_length(session_id, filename, path)
        return path

    def _check_length(self, session_id: str, filename: str, path: str) -> None:
        reason = self._driver.check_length(path)
        if reason is not None:
            raise InvalidKeyError(
                f"{self.backend}: session {session_id!r} file {filename!r} is too long "
                f"for this backend: {reason}",
                backend=self.backend,
                session_id=session_id,
                filename=filename,
            )

    async def _run(
        self,
        action: str,
        path: str,
        session_id: str | None,
        filename: str | None,
        call: Awaitable[T],
        conflict: str | None = None,
    ) -> T:
        """Await a driver call, turning any backend failure into a library error.

        ``conflict`` says, for a conditional write, which condition failed.
        """
        try:
            return await call
        except (SessionStorageError, StopAsyncIteration):
            raise
        except Exception as exc:
            raise self._error(exc, action, path, session_id, filename, conflict) from exc

    def _where(self, action: str, path: str, session_id: str, filename: str) -> str:
        return describe(self.backend, action, session_id, filename, self._driver.url(path))

    def _error(
        self,
        exc: Exception,
        action: str,
        path: str,
        session_id: str | None,
        filename: str | None,
        conflict: str | None = None,
    ) -> SessionStorageError:
        """The library error for a backend failure; the caller raises it ``from exc``."""
        leaf = innermost(exc)
        if isinstance(leaf, SessionStorageError):
            return leaf
        kind = self._driver.classify(leaf)
        return translate(
            leaf,
            kind,
            backend=self.backend,
            action=action,
            session_id=session_id,
            filename=filename,
            url=self._driver.url(path),
            reason=conflict if kind == "conflict" else None,
        )

    async def _batch(
        self,
        action: str,
        ids: Iterable[str],
        build: Callable[[str], batch.Operation[T]],
        max_concurrency: int | None,
    ) -> dict[str, T]:
        """Prepare every id's operation (bad input raises first), then run them all."""
        limit = self._concurrency if max_concurrency is None else max_concurrency
        limit = batch.check_concurrency(limit)
        where = {"action": action, "backend": self.backend, "url": self.url}
        ops = batch.prepare(ids, build, **where)
        return await batch.run(ops, limit, **where)

    def _require_conditions(self, action: str, session_id: str, filename: str) -> None:
        if not self.supports_conditional_writes:
            raise NotSupportedError(
                f"{self.backend}: cannot {action} session {session_id!r} file {filename!r}: "
                f"the {self.backend} backend cannot enforce conditional writes here",
                backend=self.backend,
                session_id=session_id,
                filename=filename,
            )

    async def _put(
        self,
        path: str,
        session_id: str,
        filename: str,
        data: bytes,
        content_type: str,
        if_version: str | None,
        if_absent: bool,
    ) -> str:
        conflict = check_condition(
            if_version,
            if_absent,
            supported=self.supports_conditional_writes,
            backend=self.backend,
            session_id=session_id,
            filename=filename,
        )
        call = self._driver.put(
            path, data, content_type, if_version=if_version, if_absent=if_absent
        )
        return await self._run("store", path, session_id, filename, call, conflict)

    async def _store_state(
        self,
        session_id: str,
        state: Mapping[str, Any],
        filename: str,
        if_version: str | None,
        if_absent: bool,
    ) -> tuple[dict[str, Any], str]:
        path = self._path(session_id, filename)
        stamped, data = encode_stamped(
            state,
            session_id=session_id,
            filename=filename,
            backend=self.backend,
            where=partial(self._where, "store", path, session_id, filename),
        )
        version = await self._put(path, session_id, filename, data, _JSON, if_version, if_absent)
        return stamped, version

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
        _, version = await self._store_state(session_id, state, filename, if_version, if_absent)
        return version

    def _encode(
        self, session_id: str, state: Mapping[str, Any], filename: str
    ) -> tuple[str, bytes]:
        path = self._path(session_id, filename)
        data = encode_state(
            state,
            session_id=session_id,
            filename=filename,
            backend=self.backend,
            where=partial(self._where, "store", path, session_id, filename),
        )
        return path, data

    # -- background saves ----------------------------------------------------------

    def store_session_nowait(
        self, session_id: str, state: Mapping[str, Any], filename: str = DEFAULT_FILENAME
    ) -> SaveHandle:
        """Accept a :meth:`store_session` to run in the background; returns at once.

        The state is stamped and encoded now, so a bad id, filename or state raises
        here and nothing is queued. Saves of one file land in the order accepted, and
        a state still waiting is replaced by a newer one (only the newest is written;
        the older handle resolves with it). ``await handle`` gives the version
        written, or raises the write's error. :meth:`flush` waits for every accepted
        save and raises any that failed; :meth:`aclose` and leaving ``async with``
        flush first. Direct calls (``store_session``, ``load_session``) do not wait
        for pending background saves of the same file: flush first when that matters.
        Needs a running event loop.
        """
        path, data = self._encode(session_id, state, filename)
        write = partial(self._put, path, session_id, filename, data, _JSON, None, False)
        return self._saver.submit(path, write, session_id, filename)

    async def flush(self) -> None:
        """Wait for every background save accepted so far, then report failures.

        Raises BackgroundSaveError carrying every failed save since the last flush
        (their handles raise the same errors). The owner storage waits for its
        narrowed views' saves too; a narrowed storage waits for its own.
        """
        await self._saver.flush(None if self._owner else self._root.rstrip("/") + "/")

    @overload
    async def load_session(
        self,
        session_id: str,
        filename: str = ...,
        *,
        with_version: Literal[False] = False,
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
        loaded = await self._load(self._path(session_id, filename), session_id, filename)
        return loaded if with_version else loaded.state

    async def _load(self, path: str, session_id: str, filename: str) -> VersionedState:
        found = await self._run("load", path, session_id, filename, self._driver.get(path))
        if found is None:
            return VersionedState(None, None)
        state = decode_state(
            found[0],
            session_id=session_id,
            filename=filename,
            backend=self.backend,
            where=partial(self._where, "load", path, session_id, filename),
        )
        return VersionedState(state, found[1])

    # -- batches -------------------------------------------------------------------

    async def load_sessions(
        self,
        session_ids: Iterable[str],
        filename: str = DEFAULT_FILENAME,
        *,
        max_concurrency: int | None = None,
    ) -> dict[str, dict[str, Any] | None]:
        """Load many sessions at once: ``{id: state}``, ``None`` for a missing one.

        The ids run at most ``max_concurrency`` at a time (default: the storage's
        :attr:`max_concurrency`), one request each on object stores; a repeated id
        is loaded once, and the result keeps the order of first appearance.

        Every id is attempted. If any fails, a :class:`BatchError` is raised after
        all have finished: its ``results`` hold the loaded states, its ``errors``
        the exception each failed id would raise from :meth:`load_session` (a
        CorruptDataError, a BackendError, ...). An invalid id or filename raises a
        BatchError naming every invalid id before anything is read.
        """
        return await self._batch(
            "load_sessions",
            session_ids,
            lambda sid: self._load_op(sid, filename),
            max_concurrency,
        )

    async def store_sessions(
        self,
        states: Mapping[str, Mapping[str, Any]],
        filename: str = DEFAULT_FILENAME,
        *,
        max_concurrency: int | None = None,
    ) -> dict[str, str]:
        """Store many sessions at once from ``{id: state}``; returns ``{id: version}``.

        Each state is stored as :meth:`store_session` would store it. Every state is
        checked and encoded first: if any id is invalid or any state is not a
        JSON-serializable dict, a :class:`BatchError` naming every bad id is raised
        and nothing is written. Then the writes run at most ``max_concurrency`` at a
        time; every one is attempted, and if any fails a BatchError is raised after
        all have finished, with the versions of the written ids in ``results`` and
        each failure in ``errors``. A batch is not a transaction: the ids that
        succeeded stay written.
        """
        if not isinstance(states, Mapping):
            raise InvalidArgumentError(
                f"{self.backend}: store_sessions takes a mapping of session id to state, "
                f"got {type(states).__name__}",
                backend=self.backend,
            )
        return await self._batch(
            "store_sessions",
            states,
            lambda sid: self._store_op(sid, states[sid], filename),
            max_concurrency,
        )

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
        return await self._batch(
            "delete_sessions",
            session_ids,
            lambda sid: self._delete_op(sid, filename),
            max_concurrency,
        )

    def _store_op(
        self, session_id: str, state: Mapping[str, Any], filename: str
    ) -> batch.Operation[str]:
        """Check and encode one store; the returned call writes it."""
        path, data = self._encode(session_id, state, filename)
        return partial(self._put, path, session_id, filename, data, _JSON, None, False)

    def _load_op(self, session_id: str, filename: str) -> batch.Operation[dict[str, Any] | None]:
        """Check one load; the returned call reads and decodes it."""
        return partial(self._load_state, self._path(session_id, filename), session_id, filename)

    async def _load_state(self, path: str, session_id: str, filename: str) -> dict[str, Any] | None:
        return (await self._load(path, session_id, filename)).state

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

        Loads the state with its version, calls ``fn(state)`` (``None`` if the file is
        missing; ``fn`` may be async) and stores the result only if nobody wrote in
        between. Updates of one file through this storage take turns, so conflicts
        come only from other processes or storages. On a conflict it waits a random
        pause that doubles each time (from ``backoff`` up to ``max_backoff`` seconds)
        and tries again, calling ``fn`` again on the fresh state: ``fn`` must have no
        effects besides its result.

        Returns the state as stored (``_metadata`` included). If ``fn`` returns
        ``None`` nothing is written and the current state is returned as loaded (so
        ``None`` for a missing file): use it to skip an update that has nothing to do.
        After ``retries`` retries that all conflicted, raises ConflictError; an
        exception from ``fn`` propagates with nothing written.
        """
        path = self._path(session_id, filename)
        where = describe(self.backend, "update", session_id, filename, self._driver.url(path))
        check_retry_policy(retries, backoff, max_backoff, where)
        self._require_conditions("update", session_id, filename)

        async def load() -> VersionedState:
            loaded = await self.load_session(session_id, filename, with_version=True)
            if loaded.state is not None and loaded.version is None:
                raise NotSupportedError(
                    f"{where}: the backend gave no version for the file, so it cannot be "
                    "updated safely",
                    backend=self.backend,
                    session_id=session_id,
                    filename=filename,
                )
            return loaded

        async def store(state: dict[str, Any], version: str | None) -> dict[str, Any]:
            stored, _ = await self._store_state(
                session_id, state, filename, version, if_absent=version is None
            )
            return stored

        def exhausted(attempts: int, last: ConflictError) -> ConflictError:
            return ConflictError(
                f"{where}: still conflicting after {attempts} attempts (retries={retries}): "
                f"other writers kept changing the file; last: {last}",
                backend=self.backend,
                session_id=session_id,
                filename=filename,
                url=self._driver.url(path),
            )

        async with self._updates.turn(path):
            return await update_state(
                load,
                store,
                fn,
                retries=retries,
                backoff=backoff,
                max_backoff=max_backoff,
                exhausted=exhausted,
            )

    # -- raw bytes -----------------------------------------------------------------

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

        ``if_version`` and ``if_absent`` work as in :meth:`store_session`.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidKeyError(
                f"{self.backend}: store_bytes for session {session_id!r} file {filename!r} "
                f"needs bytes, got {type(data).__name__}",
                backend=self.backend,
                session_id=session_id,
                filename=filename,
            )
        path = self._path(session_id, filename)
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return await self._put(
            path, session_id, filename, bytes(data), content_type, if_version, if_absent
        )

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
        path = self._path(session_id, filename)
        found = await self._run("load", path, session_id, filename, self._driver.get(path))
        if with_version:
            return VersionedBytes(None, None) if found is None else VersionedBytes(*found)
        return None if found is None else found[0]

    # -- inspection ----------------------------------------------------------------

    async def session_exists(self, session_id: str) -> bool:
        """Whether the session has any file at all (one request on object stores)."""
        folder = self._folder(session_id)
        return await self._run("check", folder, session_id, None, self._driver.has_files(folder))

    async def get_session_metadata(
        self, session_id: str, filename: str = DEFAULT_FILENAME
    ) -> dict[str, Any] | None:
        """Facts about one file without reading it, or ``None`` if it is missing.

        Keys: ``session_id``, ``filename``, ``size`` (bytes), ``modified`` (aware UTC
        datetime), ``created`` (datetime, or None where the backend keeps none),
        ``backend``, ``version`` (ETag, generation or local token).
        """
        path = self._path(session_id, filename)
        info = await self._run("stat", path, session_id, filename, self._driver.info(path))
        if info is None:
            return None
        return self._metadata(session_id, filename, info)

    def _metadata(self, session_id: str, filename: str, info: ObjectInfo) -> dict[str, Any]:
        return {
            "session_id": session_id,
            "filename": filename,
            "size": info.size,
            "modified": info.modified,
            "created": info.created,
            "backend": self.backend,
            "version": info.version,
        }

    async def iter_file_metadata(
        self, session_id: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """The :meth:`get_session_metadata` of every file of one session, or of every
        session under this root, in no particular order; nothing if there is none.

        Object stores answer with one LIST request per 1000 files, and no request per
        file. Files of a narrowed storage appear under its first key as the session,
        with the rest of the path in the filename.
        """
        folder = self._root if session_id is None else self._folder(session_id)
        pages = self._driver.list_file_infos(folder).__aiter__()
        cut = len(folder.rstrip("/")) + 1
        while True:
            try:
                page = await self._run("list files of", folder, session_id, None, pages.__anext__())
            except StopAsyncIteration:
                return
            for path, info in page:
                relative = path[cut:]
                if session_id is None:
                    segment, _, relative = relative.partition("/")
                    sid = decode_segment(segment) if relative else None
                else:
                    sid = session_id
                name = decode_filename(relative) if sid is not None else None
                if sid is not None and name is not None:
                    yield self._metadata(sid, name, info)

    async def list_sessions(
        self, prefix: str = "", limit: int | None = None, start_after: str | None = None
    ) -> list[str]:
        """Ids of the sessions directly under this root, in key order; ``[]`` if none.

        Only ids starting with ``prefix``; with ``start_after`` (the last id of the
        previous page) only those after it; with ``limit`` at most that many. Key
        order is the order of :func:`session_storage.keys.session_sort_key`: plain
        string order for ids of ASCII letters, digits and ``_``, the same on every
        backend, and the order in which pages follow each other.

        Object stores answer with one LIST request per 1000 ids, and a page of
        ``limit`` ids asks for only that many (S3 ``MaxKeys``). Temp files and
        names this library did not write are skipped. A narrowed sub-store of this
        storage is a folder here and is listed like a session.
        """
        page = Page.check(prefix, limit, start_after)
        ids: list[str] = []
        async for chunk in self._pages(page):
            ids.extend(chunk)
        return ids

    def iter_sessions(
        self, prefix: str = "", *, start_after: str | None = None
    ) -> AsyncIterator[str]:
        """Every session id under this root, as :meth:`list_sessions` orders them.

        ``async for session_id in storage.iter_sessions(): ...`` fetches one page
        (one LIST request on object stores) per 1000 ids as the loop goes, so memory
        stays flat on object stores however many sessions there are; local disk
        reads the folder's names once. Arguments are checked here, at the call.
        """
        page = Page.check(prefix, None, start_after)
        return self._iter_ids(page)

    async def _iter_ids(self, page: Page) -> AsyncGenerator[str, None]:
        async with aclosing(self._pages(page)) as chunks:
            async for chunk in chunks:
                for session_id in chunk:
                    yield session_id

    async def _pages(self, page: Page) -> AsyncGenerator[list[str], None]:
        """The driver's pages of ids, with backend failures turned into library errors."""
        async with aclosing(pages(self._driver, self._root, page)) as it:
            while True:
                try:
                    chunk = await it.__anext__()
                except StopAsyncIteration:
                    return
                except SessionStorageError:
                    raise
                except Exception as exc:
                    raise self._error(exc, "list sessions in", self._root, None, None) from exc
                yield chunk

    async def list_files(self, session_id: str) -> list[str]:
        """Sorted filenames of a session (``/`` for nesting); ``[]`` if it has none."""
        folder = self._folder(session_id)
        paths = await self._run(
            "list files of", folder, session_id, None, self._driver.list_files(folder)
        )
        cut = len(folder) + 1
        names = (decode_filename(p[cut:]) for p in paths)
        return sorted(n for n in names if n is not None)

    # -- deletion ------------------------------------------------------------------

    async def delete_session(self, session_id: str, filename: str | None = None) -> bool:
        """Delete one file, or with no ``filename`` every file of the session.

        Returns whether anything existed; deleting what is missing never raises.
        Object stores delete a whole session with one LIST and one batched delete
        per 1000 files.
        """
        return await self._delete_op(session_id, filename)()

    def _delete_op(self, session_id: str, filename: str | None) -> batch.Operation[bool]:
        """Check one delete; the returned call performs it."""
        folder = self._folder(session_id)
        self._events.forget(folder)  # event streams may shrink: their next index is unknown
        call: Callable[[], Awaitable[bool]]
        if filename is not None:
            path = self._path(session_id, filename)
            call = partial(self._driver.delete_file, path, self._root)
        else:
            path = folder
            call = partial(self._driver.delete_tree, path, self._root)
        return partial(self._run_call, "delete", path, session_id, filename, call)

    async def _run_call(
        self,
        action: str,
        path: str,
        session_id: str | None,
        filename: str | None,
        call: Callable[[], Awaitable[T]],
    ) -> T:
        return await self._run(action, path, session_id, filename, call())

    async def delete_sessions_older_than(
        self, age: timedelta | float, *, dry_run: bool = False, now: datetime | None = None
    ) -> list[str]:
        """Delete every session whose newest file is older than ``age``; returns their ids.

        ``age`` is a timedelta or a number of seconds, measured back from ``now`` (an
        aware datetime; default: the current time). With ``dry_run`` nothing is
        deleted and the ids that would be are returned. The ids are sorted. Costs one
        LIST per 1000 files under the root on object stores, then for each expired
        session one more look (a LIST) and a batched delete. A session written after
        the scan is kept; see :mod:`session_storage.retention` for the small window
        that remains. A narrowed storage of this one is a folder here and counts as
        one session, kept while any of its files is young. Every expired session is
        attempted; if any delete fails, a BatchError follows with the sessions that
        were deleted in ``results`` and each failure in ``errors``.
        """
        cutoff = retention.cutoff_for(age, now)
        newest = await self._run(
            "scan for expired sessions in",
            self._root,
            None,
            None,
            retention.newest_by_session(self._driver, self._root),
        )
        expired = sorted(
            (session_id, segment)
            for segment, modified in newest.items()
            if modified < cutoff and (session_id := decode_segment(segment)) is not None
        )
        if dry_run:
            return [session_id for session_id, _ in expired]

        def deleter(session_id: str, segment: str) -> Awaitable[bool]:
            folder = join(self._root, segment)
            return self._run(
                "delete",
                folder,
                session_id,
                None,
                retention.delete_if_expired(self._driver, folder, self._root, cutoff),
            )

        ops = {session_id: partial(deleter, session_id, segment) for session_id, segment in expired}
        deleted = await batch.run(
            ops,
            max(self._concurrency, retention.DELETE_CONCURRENCY),
            action="delete_sessions_older_than",
            backend=self.backend,
            url=self.url,
        )
        return [session_id for session_id, done in deleted.items() if done]

    # -- event logs ----------------------------------------------------------------

    def _stream(self, session_id: str, stream: str) -> StreamRef:
        folder = join(self._folder(session_id), encode_filename(stream, "stream"))
        self._check_length(session_id, stream, StreamRef.longest_path(folder))
        return StreamRef(session_id, stream, folder, self._root)

    async def append_event(
        self,
        session_id: str,
        stream: str,
        item: Any,
        idempotency_key: str | None = None,
    ) -> int:
        """Append ``item`` (any JSON value) to the session's event ``stream``; its index.

        Each event is its own file, ``<stream>/<12-digit index>.json``, written
        create-only: concurrent appenders never overwrite one another and indices run
        from 0 without gaps. One request for a single writer once this storage knows
        the stream's end, never a rewrite of earlier events. With ``idempotency_key``
        an append that was already made (also a concurrent one) returns the index it
        got and writes nothing; see :mod:`session_storage.events` for the guarantee.
        A stream name is encoded like a filename (``/`` nests). A missing stream is
        created by its first append.
        """
        ref = self._stream(session_id, stream)
        self._require_conditions("append an event to", session_id, stream)
        call = self._events.append(ref, item, idempotency_key)
        return await self._run("append an event to", ref.folder, session_id, stream, call)

    async def read_events(
        self, session_id: str, stream: str, start: int = 0, limit: int | None = None
    ) -> list[Any]:
        """The items of events ``start, start+1, ...`` (at most ``limit``), in order.

        The item at position ``i`` has index ``start + i``. A missing stream, or a
        ``start`` past the end, gives ``[]``.
        """
        ref = self._stream(session_id, stream)
        call = self._events.read(ref, start, limit)
        return await self._run("read events of", ref.folder, session_id, stream, call)

    async def iter_events(
        self, session_id: str, stream: str, start: int = 0, *, page_size: int = 100
    ) -> AsyncIterator[Any]:
        """Yield the items of the stream from ``start`` in index order, a page at a time.

        Stops at the end as found when the last page is read; a missing stream yields
        nothing.
        """
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise InvalidArgumentError(
                f"{self.backend}: cannot read events of session {session_id!r} stream "
                f"{stream!r}: page_size must be an int >= 1, got {page_size!r}",
                backend=self.backend,
                session_id=session_id,
                filename=stream,
            )
        while True:
            page = await self.read_events(session_id, stream, start, page_size)
            for item in page:
                yield item
            if len(page) < page_size:
                return
            start += len(page)

    async def event_count(self, session_id: str, stream: str) -> int:
        """How many events the stream holds (0 if missing): two existence checks when
        this storage knows the end, O(log n) otherwise."""
        ref = self._stream(session_id, stream)
        call = self._events.count(ref)
        return await self._run("count events of", ref.folder, session_id, stream, call)

    async def truncate_events(self, session_id: str, stream: str, length: int) -> int:
        """Drop every event from index ``length`` on (a rewind); returns how many.

        Idempotency keys of dropped events are forgotten, so appending one again
        writes a new event. Not atomic: run it while nobody else appends to the
        stream. A ``length`` at or past the end drops nothing.
        """
        ref = self._stream(session_id, stream)
        call = self._events.truncate(ref, length)
        return await self._run("truncate events of", ref.folder, session_id, stream, call)
