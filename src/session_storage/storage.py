"""SessionStorage: the facade callers use. Sessions and files in, bucket paths out."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import aclosing
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

from . import batch
from .backends import open_driver
from .codec import decode_state, encode_state
from .errors import (
    InvalidArgumentError,
    InvalidKeyError,
    SessionStorageError,
    describe,
    translate,
)
from .keys import decode_filename, encode_filename, encode_segment, join
from .listing import Page, pages
from .settings import DEFAULT_URL, StorageSettings, _redact_url

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

    The constructor does no I/O. The filesystem opens in the running event loop on
    first use and is released by :meth:`aclose` or by leaving ``async with``. One
    storage can serve many concurrent tasks and successive event loops.

    Missing things are not errors: loads return ``None``, deletes return ``False``.
    Everything else raises a :class:`~session_storage.errors.SessionStorageError`
    naming the backend, session, file and URL.

    ``max_concurrency`` bounds how many operations of a batch call
    (:meth:`load_sessions`, :meth:`store_sessions`, :meth:`delete_sessions`) run at
    once; by default 1 in memory, 8 on local disk, and the connection pool size (64
    unless ``config_kwargs`` set ``max_pool_connections``) on S3.
    """

    def __init__(
        self,
        url: str | os.PathLike[str] = DEFAULT_URL,
        storage_options: Mapping[str, Any] | None = None,
        *,
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
        """Release the filesystem's connections.

        A narrowed storage shares its parent's filesystem and leaves it open. The
        storage stays usable: the next call opens the filesystem again.
        """
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
        reason = self._driver.check_length(path)
        if reason is not None:
            raise InvalidKeyError(
                f"{self.backend}: session {session_id!r} file {filename!r} is too long "
                f"for this backend: {reason}",
                backend=self.backend,
                session_id=session_id,
                filename=filename,
            )
        return path

    def _where(self, action: str, path: str, session_id: str, filename: str) -> str:
        return describe(self.backend, action, session_id, filename, self._driver.url(path))

    def _error(
        self,
        exc: Exception,
        action: str,
        path: str,
        session_id: str | None,
        filename: str | None,
    ) -> SessionStorageError:
        """The library error for a backend failure; the caller raises it ``from exc``."""
        if isinstance(exc, SessionStorageError):
            return exc
        return translate(
            exc,
            self._driver.classify(exc),
            backend=self.backend,
            action=action,
            session_id=session_id,
            filename=filename,
            url=self._driver.url(path),
        )

    async def _run(
        self,
        action: str,
        path: str,
        session_id: str | None,
        filename: str | None,
        call: Awaitable[T],
    ) -> T:
        """Await a driver call, turning any backend failure into a library error."""
        try:
            return await call
        except SessionStorageError:
            raise
        except Exception as exc:
            raise self._error(exc, action, path, session_id, filename) from exc

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

    # -- JSON state ----------------------------------------------------------------

    async def store_session(
        self, session_id: str, state: Mapping[str, Any], filename: str = DEFAULT_FILENAME
    ) -> str:
        """Store ``state`` as the session's ``filename``, replacing it atomically.

        The stored JSON is ``state`` plus ``_metadata`` (session_id, filename,
        stored_at, backend); a ``_metadata`` key in ``state`` is replaced. Returns the
        new version token. A state that is not a dict or not JSON-serializable raises
        SerializationError and nothing is written.
        """
        return await self._store_op(session_id, state, filename)()

    async def load_session(
        self, session_id: str, filename: str = DEFAULT_FILENAME
    ) -> dict[str, Any] | None:
        """The stored state (``_metadata`` included), or ``None`` if there is none.

        One request. A file that is not a JSON object raises CorruptDataError.
        """
        return await self._load_op(session_id, filename)()

    def _store_op(
        self, session_id: str, state: Mapping[str, Any], filename: str
    ) -> batch.Operation[str]:
        """Check and encode one store; the returned call writes it."""
        path = self._path(session_id, filename)
        data = encode_state(
            state,
            session_id=session_id,
            filename=filename,
            backend=self.backend,
            where=partial(self._where, "store", path, session_id, filename),
        )
        return partial(self._put, path, data, _JSON, session_id, filename)

    async def _put(
        self, path: str, data: bytes, content_type: str, session_id: str, filename: str
    ) -> str:
        return await self._run(
            "store", path, session_id, filename, self._driver.put(path, data, content_type)
        )

    def _load_op(self, session_id: str, filename: str) -> batch.Operation[dict[str, Any] | None]:
        """Check one load; the returned call reads and decodes it."""
        return partial(self._load, self._path(session_id, filename), session_id, filename)

    async def _load(self, path: str, session_id: str, filename: str) -> dict[str, Any] | None:
        found = await self._run("load", path, session_id, filename, self._driver.get(path))
        if found is None:
            return None
        return decode_state(
            found[0],
            session_id=session_id,
            filename=filename,
            backend=self.backend,
            where=partial(self._where, "load", path, session_id, filename),
        )

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

    # -- raw bytes -----------------------------------------------------------------

    async def store_bytes(self, session_id: str, filename: str, data: bytes) -> str:
        """Store raw bytes as the session's ``filename`` (no stamping); returns the version."""
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
        return await self._put(path, bytes(data), content_type, session_id, filename)

    async def load_bytes(self, session_id: str, filename: str) -> bytes | None:
        """The stored bytes of ``filename``, or ``None`` if there is no such file."""
        path = self._path(session_id, filename)
        found = await self._run("load", path, session_id, filename, self._driver.get(path))
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
        return {
            "session_id": session_id,
            "filename": filename,
            "size": info.size,
            "modified": info.modified,
            "created": info.created,
            "backend": self.backend,
            "version": info.version,
        }

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
        if filename is not None:
            path = self._path(session_id, filename)
            call = partial(self._driver.delete_file, path, self._root)
        else:
            path = self._folder(session_id)
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
