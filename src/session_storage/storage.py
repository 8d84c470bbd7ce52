"""SessionStorage: the facade callers use. Sessions and files in, bucket paths out."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Awaitable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from .backends import open_driver
from .codec import decode_state, encode_state
from .errors import InvalidKeyError, SessionStorageError, describe, translate
from .keys import decode_filename, decode_segment, encode_filename, encode_segment, join
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
    """

    def __init__(
        self,
        url: str | os.PathLike[str] = DEFAULT_URL,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._settings = StorageSettings(os.fspath(url), storage_options or {})
        self._driver, self._root = open_driver(self._settings.url, self._settings.storage_options)
        self._owner = True

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
        return join(self._root, encode_segment(session_id, "session id"))

    def _path(self, session_id: str, filename: str) -> str:
        path = join(self._folder(session_id), encode_filename(filename))
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
            kind = self._driver.classify(exc)
            raise translate(
                exc,
                kind,
                backend=self.backend,
                action=action,
                session_id=session_id,
                filename=filename,
                url=self._driver.url(path),
            ) from exc

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
        path = self._path(session_id, filename)
        data = encode_state(
            state,
            session_id=session_id,
            filename=filename,
            backend=self.backend,
            where=describe(self.backend, "store", session_id, filename, self._driver.url(path)),
        )
        return await self._run(
            "store", path, session_id, filename, self._driver.put(path, data, _JSON)
        )

    async def load_session(
        self, session_id: str, filename: str = DEFAULT_FILENAME
    ) -> dict[str, Any] | None:
        """The stored state (``_metadata`` included), or ``None`` if there is none.

        One request. A file that is not a JSON object raises CorruptDataError.
        """
        path = self._path(session_id, filename)
        found = await self._run("load", path, session_id, filename, self._driver.get(path))
        if found is None:
            return None
        return decode_state(
            found[0],
            session_id=session_id,
            filename=filename,
            backend=self.backend,
            where=describe(self.backend, "load", session_id, filename, self._driver.url(path)),
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
        return await self._run(
            "store", path, session_id, filename, self._driver.put(path, bytes(data), content_type)
        )

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

    async def list_sessions(self, prefix: str = "") -> list[str]:
        """Sorted ids of the sessions directly under this root, optionally by prefix.

        Temp files and names this library did not write are skipped. A narrowed
        sub-store of this storage is a folder here and is listed like a session.
        Object stores answer with one LIST request per 1000 sessions.
        """
        if not isinstance(prefix, str):
            raise InvalidKeyError(f"prefix must be a str, got {type(prefix).__name__}")
        encoded = encode_segment(prefix, "prefix") if prefix else ""
        ids: list[str] = []

        async def collect() -> None:
            async for page in self._driver.iter_children(self._root, encoded):
                for name in page:
                    decoded = decode_segment(name)
                    if decoded is not None and decoded.startswith(prefix):
                        ids.append(decoded)

        await self._run("list sessions in", self._root, None, None, collect())
        ids.sort()
        return ids

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
        if filename is not None:
            path = self._path(session_id, filename)
            return await self._run(
                "delete", path, session_id, filename, self._driver.delete_file(path, self._root)
            )
        folder = self._folder(session_id)
        return await self._run(
            "delete", folder, session_id, None, self._driver.delete_tree(folder, self._root)
        )
