"""SessionStorage: the facade callers use. Sessions and files in, bucket paths out.

A table of contents: construction, lifecycle and narrowing live here; every other
method hands the call, in this storage's :class:`~.operations.scope.Scope`, to the
function of its capability module that its docstring points to for the details.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar, overload

from .backends import Driver
from .backends.capabilities import Capabilities
from .backends.filesystems import driver_for_filesystem
from .backends.registry import DEFAULT_ENGINE, check_engine
from .codecs.compression import Compression
from .concurrency.background import DEFAULT_CONCURRENCY, DEFAULT_MAX_PENDING, SaveHandle
from .concurrency.deadlines import DEFAULT_TIMEOUT
from .core.arguments import check_instance, check_mapping, check_url, invalid
from .core.observation import tracer
from .core.redaction import redact_url
from .core.versions import VersionedBytes, VersionedState
from .operations import batch, files, retention, update
from .operations import state as json_state
from .operations.event_methods import EventLogMethods
from .operations.scope import Scope, Shared
from .operations.spans import trace_operations
from .operations.state import DEFAULT_FILENAME
from .operations.store_methods import StoreMethods
from .operations.update import DEFAULT_BACKOFF, DEFAULT_MAX_BACKOFF, DEFAULT_RETRIES, StateUpdate
from .settings import DEFAULT_URL, StorageSettings

__all__ = ["DEFAULT_FILENAME", "SessionStorage"]

S = TypeVar("S", bound="SessionStorage")
D = TypeVar("D")
_NO_DEFAULT: Any = object()  # load_session without a default: None when missing


def scope_of(storage: SessionStorage) -> Scope:
    """The scope (driver, codecs included, and root) of ``storage``, for the library's
    own tools beside the facade (admin, test contracts). Not part of the public API."""
    return storage._scope


class SessionStorage(StoreMethods, EventLogMethods):
    """Per-session JSON state and files on any supported fsspec backend.

    ``url`` is a local path or ``file://`` URL (the default, ``.data/sessions``),
    ``memory://name``, ``s3://bucket/prefix``, ``gs://bucket/prefix`` or
    ``az://container/prefix``; ``storage_options`` go to the fsspec filesystem.
    ``timeout`` (each operation's deadline in seconds; 30, or ``None`` for none),
    ``engine`` (``"fsspec"`` or ``"obstore"``), ``encryption_keys`` and ``compression``
    are as in :class:`~.settings.StorageSettings`; a bad one raises ConfigurationError.
    ``max_concurrency`` bounds the operations of one batch call; ``background_concurrency``
    the background saves in flight of this storage and its narrowed views together, and
    ``max_pending`` (10,000) those accepted and not yet written: past it
    ``store_session_nowait`` raises TooManyPendingSavesError.

    No I/O here: the filesystem opens in the running event loop on first use and is
    released by :meth:`aclose` or by leaving ``async with``. One storage serves many
    concurrent tasks and successive event loops.

    Missing things are not errors: loads return ``None``, deletes return ``False``.
    Everything else raises a :class:`~.core.errors.SessionStorageError` naming the
    backend, session, file and URL; a bad argument, an InvalidArgumentError naming it.
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
        options = check_mapping("storage_options", storage_options) or {}
        settings = StorageSettings(
            check_url(url), options, timeout, engine, encryption_keys, compression
        )
        limits = (background_concurrency, max_pending, max_concurrency)
        self._start(settings, settings.open_driver(), *limits)

    def _start(self, settings: StorageSettings, driver: Driver, *limits: Any) -> None:
        background, pending, concurrency = limits
        shared = Shared.create(
            driver,
            timeout=settings.timeout,
            max_concurrency=concurrency,
            background_concurrency=background,
            max_pending=pending,
            label=f"{type(self).__name__}({redact_url(driver.url(driver.root))!r})",
        )
        self._attach(Scope(shared, driver.root), settings, owner=True)

    @classmethod
    def from_filesystem(
        cls: type[S],
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
    ) -> S:
        """A storage on an fsspec filesystem the caller configured, rooted at ``root`` (a
        path in it); the other arguments are those of :class:`SessionStorage`. s3fs,
        gcsfs and adlfs instances get their tuned drivers with the instance's options,
        local and memory theirs, any other filesystem the generic driver (see
        ``capabilities`` and :mod:`~.backends.filesystems`). The storage never closes a
        filesystem it was given. No I/O here; ConfigurationError for what cannot serve."""
        driver = driver_for_filesystem(fs, root, check_engine(engine))
        url, options = driver.url(driver.root), dict(driver.options)
        settings = StorageSettings(url, options, timeout, engine, encryption_keys, compression)
        storage = cls.__new__(cls)
        limits = (background_concurrency, max_pending, max_concurrency)
        storage._start(settings, settings.wrap_driver(driver), *limits)
        return storage

    def _attach(
        self, scope: Scope, settings: StorageSettings, *, owner: bool, tracing: Any = None
    ) -> None:
        self._scope = scope
        self._settings = settings  # of the owner's root; a view's own root is its url
        self._owner = owner  # the owner closes the shared filesystem; views do not
        # Decided once, when the owner is created (a check per call would cost more than
        # a memory store); its views follow it, so narrow() asks nothing.
        self._tracing = tracer() if owner else tracing
        if self._tracing is not None:
            trace_operations(self, self._tracing, scope.backend, settings.engine)

    def _view(self: S, scope: Scope) -> S:
        """A storage on ``scope`` that shares, and does not own, this one's filesystem."""
        view = type(self).__new__(type(self))
        view._attach(scope, self._settings, owner=False, tracing=self._tracing)
        return view

    @classmethod
    def from_settings(cls, settings: StorageSettings) -> SessionStorage:
        """A storage for ``settings``."""
        # By keyword: a subclass (the adapter) may take other arguments first.
        return cls(**check_instance("settings", settings, StorageSettings).arguments())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SessionStorage:
        """A storage configured by ``SESSION_STORAGE_*`` (see StorageSettings.from_env)."""
        checked = check_mapping("environ", environ)
        return cls.from_settings(StorageSettings.from_env(checked))

    # -- identity and lifecycle ----------------------------------------------------

    @property
    def backend(self) -> str:
        """``"file"``, ``"memory"``, ``"s3"``, ``"gcs"`` or ``"azure"``."""
        return self._scope.backend

    @property
    def url(self) -> str:
        """The URL of this storage's (own) root, safe to log: credentials show as ``***``."""
        return redact_url(self._scope.url())

    @property
    def settings(self) -> StorageSettings:
        """The settings of this storage's root."""
        return dataclasses.replace(self._settings, url=self.url)

    @property
    def max_concurrency(self) -> int:
        """Operations a batch call runs at once unless told otherwise: by default 1 in
        memory, 8 on disk, S3's connection pool size (64), 32 on GCS and Azure."""
        return self._scope.shared.max_concurrency

    @property
    def supports_conditional_writes(self) -> bool:
        """Whether this backend enforces ``if_version`` / ``if_absent`` atomically (the
        tuned backends but local disk without ``flock``); where not, they raise
        NotSupportedError. Short for ``capabilities.conditional_writes``."""
        return self._scope.driver.supports_conditional_writes

    @property
    def capabilities(self) -> Capabilities:
        """What this backend guarantees (conditions, versions, atomic replace, listing);
        an operation that needs a capability it lacks raises NotSupportedError naming
        it, and writes nothing. See docs/backends.md."""
        return self._scope.driver.capabilities

    @property
    def engine(self) -> str:
        """The client underneath: ``"fsspec"`` or ``"obstore"``."""
        return self._settings.engine

    @property
    def filesystem(self) -> Any:
        """The client underneath, for raw access: the async fsspec filesystem, or on the
        obstore engine the obstore store of the root's bucket. Needs a running loop."""
        return self._scope.driver.filesystem

    def __repr__(self) -> str:
        # The engine always, the codecs when on; never a key or a credential.
        on = (self._settings.compression, "zstd"), (self._settings.encryption_keys, "aes")
        codecs = "+".join(name for setting, name in on if setting is not None)
        shown = f", codecs={codecs!r}" if codecs else ""
        return f"{type(self).__name__}({self.url!r}, engine={self.engine!r}{shown})"

    async def __aenter__(self: S) -> S:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """:meth:`flush`, then release the filesystem's connections (a narrowed storage
        leaves the shared ones open), once every event write under way has ended. The
        next call opens the filesystem again."""
        try:
            await self.flush()
        finally:
            if self._owner:
                try:
                    await self._scope.shared.event_logs.settle()
                finally:
                    await self._scope.driver.aclose()

    # -- narrowing -----------------------------------------------------------------

    def narrow(self: S, *keys: str) -> S:
        """A storage rooted ``keys`` levels below this one, sharing its filesystem; keys are
        encoded like session ids, so none reaches outside (InvalidKeyError without keys)."""
        return self._view(self._scope.narrowed(keys))

    def narrow_path(self, *keys: str) -> str:
        """The URL of the root that :meth:`narrow` with the same keys would use, as its
        ``url`` shows it (credentials as ``***``)."""
        return redact_url(self._scope.narrowed(keys).url())

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
        """Store ``state`` plus ``_metadata`` as ``filename`` atomically; the new version. Not
        a JSON dict: SerializationError; a failed ``if_version`` / ``if_absent``:
        ConflictError; nothing written. See :func:`state.store`."""
        condition = (if_version, if_absent)
        return (await json_state.store(self._scope, session_id, state, filename, *condition))[1]

    @overload
    async def load_session(
        self, session_id: str, filename: str = ..., *, with_version: Literal[False] = False
    ) -> dict[str, Any] | None: ...
    @overload
    async def load_session(
        self, session_id: str, filename: str = ..., *, default: D
    ) -> dict[str, Any] | D: ...
    @overload
    async def load_session(
        self, session_id: str, filename: str = ..., *, with_version: Literal[True]
    ) -> VersionedState: ...
    @overload
    async def load_session(
        self, session_id: str, filename: str = ..., *, with_version: bool
    ) -> dict[str, Any] | VersionedState | None: ...

    async def load_session(
        self,
        session_id: str,
        filename: str = DEFAULT_FILENAME,
        *,
        with_version: bool = False,
        default: Any = _NO_DEFAULT,
    ) -> Any:
        """The stored state, or ``None`` if missing (``default`` instead, when given: then
        ``load_session(id, default={})`` is typed ``dict``); not a JSON object:
        CorruptDataError. With ``with_version=True``: ``VersionedState(state, version)``,
        ``(None, None)`` if missing; it takes no ``default`` (InvalidArgumentError)."""
        if with_version and default is not _NO_DEFAULT:
            raise invalid("load_session takes default= or with_version=True, not both")
        loaded = await json_state.prepare_load(self._scope, session_id, filename)()
        if with_version:
            return loaded
        if loaded.state is None and default is not _NO_DEFAULT:
            return default
        return loaded.state

    async def update_session(
        self,
        session_id: str,
        fn: StateUpdate,
        filename: str = DEFAULT_FILENAME,
        *,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        idempotency_key: str | None = None,
    ) -> dict[str, Any] | None:
        """Store ``fn(state)`` (``state`` None if missing; ``fn`` returns None to write
        nothing) unless somebody wrote in between, else retry on the fresh state; the state
        as stored or loaded. ConflictError after ``retries``. A repeated
        ``idempotency_key`` applies ``fn`` once (the state's stamp remembers its last 64
        keys) and returns the state as loaded. See :func:`update.update`."""
        policy = (retries, backoff, max_backoff, idempotency_key)
        return await update.update(self._scope, session_id, fn, filename, *policy)

    # -- background saves ----------------------------------------------------------

    def store_session_nowait(
        self, session_id: str, state: Mapping[str, Any], filename: str = DEFAULT_FILENAME
    ) -> SaveHandle:
        """Accept a :meth:`store_session` to run in the background (bad input raises here);
        ``await handle`` gives its version or error. See :func:`state.store_nowait`."""
        return json_state.store_nowait(self._scope, session_id, state, filename)

    async def flush(self) -> None:
        """Wait for the background saves accepted so far (the owner: its views' too); then
        raise BackgroundSaveError with every save failed since. See :func:`state.flush`."""
        await json_state.flush(self._scope, self._owner)

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
        """Store raw bytes (no stamp) as :meth:`store_session` stores a state; the version.
        Data that is not bytes-like raises InvalidArgumentError. See :func:`files.store_bytes`."""
        condition = (if_version, if_absent)
        return await files.store_bytes(self._scope, session_id, filename, data, *condition)

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
        """The stored bytes of ``filename``, or ``None`` if there is no such file. With
        ``with_version=True``: ``VersionedBytes(data, version)`` from one request."""
        loaded = await files.load_bytes(self._scope, session_id, filename)
        return loaded if with_version else loaded.data

    async def session_exists(self, session_id: str) -> bool:
        """Whether the session has any file at all (one request on object stores)."""
        return await files.exists(self._scope, session_id)

    async def get_session_metadata(
        self, session_id: str, filename: str = DEFAULT_FILENAME
    ) -> dict[str, Any] | None:
        """Facts about one file without reading it, or ``None`` if it is missing: ``session_id,
        filename, size, modified, created, backend, version``. See :func:`files.metadata`."""
        return await files.metadata(self._scope, session_id, filename)

    # -- deletion ------------------------------------------------------------------

    async def delete_session(self, session_id: str, filename: str | None = None) -> bool:
        """Delete one file, or with no ``filename`` every file of the session; ``False`` if
        nothing existed. See :func:`files.prepare_delete`."""
        return await files.prepare_delete(self._scope, session_id, filename)()

    async def delete_sessions_older_than(
        self, age: timedelta | float, *, dry_run: bool = False, now: datetime | None = None
    ) -> list[str]:
        """Delete every session whose newest file is older than ``age`` (timedelta or seconds);
        their sorted ids, ``[]`` if none. See :func:`retention.delete_older_than`."""
        return await retention.delete_older_than(self._scope, age, dry_run, now)

    # -- batches -------------------------------------------------------------------

    async def load_sessions(
        self,
        session_ids: Iterable[str],
        filename: str = DEFAULT_FILENAME,
        *,
        max_concurrency: int | None = None,
    ) -> dict[str, dict[str, Any] | None]:
        """Load many sessions at once: ``{id: state}``, ``None`` for a missing one; failures
        come in one BatchError after every id was tried. See :func:`batch.load_sessions`."""
        return await batch.load_sessions(self._scope, session_ids, filename, max_concurrency)

    async def store_sessions(
        self,
        states: Mapping[str, Mapping[str, Any]],
        filename: str = DEFAULT_FILENAME,
        *,
        max_concurrency: int | None = None,
    ) -> dict[str, str]:
        """Store many sessions from ``{id: state}``; returns ``{id: version}``. Any bad id
        or state raises BatchError, nothing written. See :func:`batch.store_sessions`."""
        return await batch.store_sessions(self._scope, states, filename, max_concurrency)

    async def delete_sessions(
        self,
        session_ids: Iterable[str],
        filename: str | None = None,
        *,
        max_concurrency: int | None = None,
    ) -> dict[str, bool]:
        """Delete many sessions (or one ``filename`` of each): ``{id: existed}``, ``False`` for a
        missing one; failures come in one BatchError. See :func:`batch.delete_sessions`."""
        return await batch.delete_sessions(self._scope, session_ids, filename, max_concurrency)
