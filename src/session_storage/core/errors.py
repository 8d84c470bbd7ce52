"""The exception hierarchy, and the one place backend errors are translated.

Every error the library raises is a :class:`SessionStorageError` and also a subclass of
the builtin a caller would catch for the same situation (``ValueError`` for bad input,
``FileNotFoundError`` for a missing bucket, ``PermissionError`` for refused
credentials, ``OSError`` for an unreachable endpoint), as obstore and zarr do. Messages
name the backend, the session, the file and the URL; the cause is chained.

A missing session or file is never an error: loads return ``None`` and deletes ``False``.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Generic, Literal, TypeVar

from .messages import ECHO_LIMIT, MESSAGE_LIMIT, echo, shorten
from .redaction import redact_text, redact_url

# The error classes, which the package itself re-exports (``from session_storage
# import ConflictError``); :mod:`session_storage.errors` adds ErrorKind and translate.
# Both take this list rather than repeat it. The helpers below the classes (describe,
# failure, ...) are the library's own and are imported by name.
__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "BackgroundSaveError",
    "BatchError",
    "ConfigurationError",
    "ConflictError",
    "CorruptDataError",
    "EncryptionKeyError",
    "ForeignRootError",
    "InvalidArgumentError",
    "InvalidKeyError",
    "MissingDependencyError",
    "NotSupportedError",
    "PermissionDeniedError",
    "SerializationError",
    "SessionStorageError",
    "StorageNotFoundError",
    "StorageTimeoutError",
    "TooManyPendingSavesError",
    "UnsafePathError",
]

ErrorKind = Literal[
    "missing_storage",
    "denied",
    "unreachable",
    "conflict",
    "foreign",
    "unsafe",
    "clash",
    "corrupt",
    "missing_key",
    "other",
]


class SessionStorageError(Exception):
    """Base class of every error raised by session-storage.

    Attributes ``backend``, ``session_id``, ``filename`` and ``url`` say where it
    happened when known (``None`` otherwise). Credentials in any URL of the message
    and in ``url`` are shown as ``***`` (see :mod:`session_storage.core.redaction`).
    """

    backend: str | None = None
    session_id: str | None = None
    filename: str | None = None
    url: str | None = None

    def __init__(
        self,
        message: str,
        *,
        backend: str | None = None,
        session_id: str | None = None,
        filename: str | None = None,
        url: str | None = None,
    ) -> None:
        # The one place every library error passes: no message or url can leak a
        # credential, whoever built it (a backend's own text included).
        # No message grows past MESSAGE_LIMIT either, whatever it echoes (a 5,000
        # character filename in the message, its path and an OS error): the full
        # values stay in the attributes below and in the chained cause.
        super().__init__(shorten(redact_text(message), MESSAGE_LIMIT))
        self.backend = backend
        self.session_id = session_id
        self.filename = filename
        self.url = None if url is None else redact_url(url)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidArgumentError(SessionStorageError, ValueError):
    """An argument is unusable: a negative ``limit``, ids given as one ``str``,
    conflicting write conditions, a negative index, ...

    Raised before any request is sent, so nothing was written.
    """


class InvalidKeyError(InvalidArgumentError):
    """A session id, filename or narrow key is empty, not a ``str``, or too long."""


class SerializationError(SessionStorageError, ValueError):
    """A state is not a dict or cannot be encoded as JSON; nothing was written."""


class CorruptDataError(SessionStorageError, ValueError):
    """A stored file exists but is not a JSON object, or (with codecs on) cannot be
    decoded: a damaged or tampered envelope, or an encrypted file moved from another
    session or file."""


class ConfigurationError(SessionStorageError, ValueError):
    """An unknown backend or URL scheme, or settings that cannot be used."""


class EncryptionKeyError(ConfigurationError):
    """A stored file is encrypted under a key id the storage was not given.

    ``key_id`` names it (never the key). The file is intact: open the storage with
    that key among its ``encryption_keys`` to read it. A ConfigurationError, since the
    fix is in the settings; a key id that is given but holds another key than the one
    the file was written with cannot be told from tampering and raises
    CorruptDataError instead.
    """

    key_id: str | None = None


class MissingDependencyError(SessionStorageError, ImportError):
    """The extra that a backend needs is not installed."""


def import_optional(module: str, missing: str, *, backend: str | None = None) -> ModuleType:
    """Import ``module``, a dependency the library needs only for some features; if it
    is not installed, MissingDependencyError with the message ``missing`` (which says
    what to install), the ImportError chained."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(missing, backend=backend) from exc


class StorageNotFoundError(SessionStorageError, FileNotFoundError):
    """The bucket or container itself does not exist (not a missing session)."""


class PermissionDeniedError(SessionStorageError, PermissionError):
    """The backend refused the credentials or the operation."""


class ForeignRootError(PermissionDeniedError):
    """A delete in a local folder that this library did not create as a store.

    The library writes a marker file (``.session-storage``) at the root of a local
    store on its first write; a folder without one (in it or above it) may hold
    anything, so ``delete_session``, ``delete_sessions`` and
    ``delete_sessions_older_than`` refuse there and delete nothing. A
    ``PermissionDeniedError``: the operation is refused, and no retry will change that.
    """


class UnsafePathError(PermissionDeniedError):
    """A path below a local root is a symbolic link, or not a regular file or folder.

    Links are never followed (they could lead out of the root) and FIFOs, sockets and
    devices are never opened (a FIFO would block forever); nothing was read or written.
    """


class BackendUnavailableError(SessionStorageError, ConnectionError):
    """The endpoint could not be reached."""


class StorageTimeoutError(BackendUnavailableError, TimeoutError):
    """The backend did not finish an operation within the storage's ``timeout``.

    The operation was cancelled. For a write the outcome is unknown: it may have been
    applied before the deadline passed.
    """


class ConflictError(SessionStorageError, FileExistsError):
    """A conditional write found the file in another state than required.

    ``if_absent=True`` found the file existing, or ``if_version=`` found it missing or
    at another version; nothing was written. ``update_session`` raises it once its
    retries are used up.
    """


class NotSupportedError(SessionStorageError, NotImplementedError):
    """The backend cannot do this safely (e.g. enforce a write condition atomically).

    Raised before anything is written, instead of silently doing less.
    """


class BackendError(SessionStorageError, OSError):
    """Any other failure reported by the backend."""


T = TypeVar("T")


class BatchError(SessionStorageError, Generic[T]):
    """Some ids of a batch call failed; the others succeeded.

    Raised after every id of the batch was attempted. ``results`` holds what the
    batch call would have returned for the ids that succeeded, and ``errors`` maps
    each failed id to the exception the single call (``load_session``,
    ``store_session``, ``delete_session``) raises for it: an
    :class:`InvalidKeyError`, :class:`SerializationError`, :class:`CorruptDataError`,
    :class:`BackendError`, ... The first of them is chained as ``__cause__``.

    When the input of any id is bad (an invalid id, a state that cannot be
    serialized), the batch raises before sending anything: ``results`` is empty and
    ``errors`` names every bad id.
    """

    results: dict[str, T]
    errors: dict[str, Exception]

    def __init__(
        self,
        message: str,
        *,
        results: Mapping[str, T] | None = None,
        errors: Mapping[str, Exception] | None = None,
        backend: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, backend=backend, url=url)
        self.results = dict(results or {})
        self.errors = dict(errors or {})


class BackgroundSaveError(SessionStorageError, OSError):
    """One or more background saves failed; raised by ``flush()`` and ``aclose()``.

    ``failures`` holds the error of every failed write, in the order they failed;
    each is a library error naming its backend, session, file and URL. Every failure
    is a backend failure (bad input raises when the save is accepted), so this is an
    ``OSError`` like them. The first failure is also the ``__cause__``.
    """

    failures: tuple[Exception, ...]

    def __init__(self, failures: Sequence[Exception]) -> None:
        if not failures:
            raise ValueError("BackgroundSaveError needs at least one failure")
        first = failures[0]
        if len(failures) == 1:
            message = f"a background save failed: {first}"
        else:
            message = f"{len(failures)} background saves failed; the first: {first}"
        single = first if len(failures) == 1 and isinstance(first, SessionStorageError) else None
        super().__init__(
            message,
            backend=getattr(first, "backend", None),
            session_id=single.session_id if single else None,
            filename=single.filename if single else None,
            url=single.url if single else None,
        )
        self.failures = tuple(failures)


class TooManyPendingSavesError(SessionStorageError):
    """``store_session_nowait`` refused a save: the storage already holds ``max_pending``
    background saves not yet written (its backend is slow or down).

    Nothing was queued; the handles of the saves already accepted are unaffected. Wait
    for them (``await storage.flush()``), or store this state directly.
    """


_KIND_TO_CLASS: dict[ErrorKind, type[SessionStorageError]] = {
    "missing_storage": StorageNotFoundError,
    "denied": PermissionDeniedError,
    "unreachable": BackendUnavailableError,
    "conflict": ConflictError,
    "foreign": ForeignRootError,
    "unsafe": UnsafePathError,
    # A file and a folder of one name cannot coexist on local disk (they can on object
    # stores): like a segment over 255 bytes, a key this backend cannot hold.
    "clash": InvalidKeyError,
    "corrupt": CorruptDataError,
    "missing_key": EncryptionKeyError,
    "other": BackendError,
}


def innermost(exc: BaseException) -> BaseException:
    """The first real failure inside (nested) exception groups, or ``exc`` itself.

    Concurrent work (a task group of deletes or reads) fails with a group; the error
    the caller gets should say what failed (a missing bucket, a refused request), not
    that a task group had errors. The whole group stays chained as the cause.
    """
    # An exception group is the one exception type with an ``exceptions`` tuple;
    # duck typing covers the builtin (3.11+) and the backport anyio uses on 3.10.
    while isinstance(inner := getattr(exc, "exceptions", None), tuple) and inner:
        exc = inner[0]
    return exc


def classify_builtin(exc: BaseException) -> ErrorKind:
    """The kind of a builtin exception; backends refine this for their own errors."""
    if isinstance(exc, FileExistsError):
        return "conflict"
    if isinstance(exc, FileNotFoundError):
        # Missing files are turned into None/False before this point, so a
        # FileNotFoundError that gets here means the bucket or folder is gone.
        return "missing_storage"
    if isinstance(exc, PermissionError):
        return "denied"
    if isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError)):
        return "unreachable"
    return "other"


E = TypeVar("E", bound=SessionStorageError)


@dataclass(frozen=True, slots=True)
class Place:
    """Where a failure happened: the backend, what was being done, the session and file
    (``None`` when not about one) and the URL. Every located error is built from one."""

    backend: str
    action: str
    session_id: str | None
    filename: str | None
    url: str

    def __str__(self) -> str:
        """``"s3: cannot load session 'abc' file 'state.json' (s3://b/abc/state.json)"``."""
        where = ""
        if self.session_id is not None:
            where += f" session {echo(self.session_id)}"
        if self.filename is not None:
            where += f" file {echo(self.filename)}"
        return f"{self.backend}: cannot {self.action}{where} ({shorten(self.url, ECHO_LIMIT)})"

    def error(self, cls: type[E], reason: str) -> E:
        """A ``cls`` error that says where it happened, then why: ``"<where>: <reason>"``,
        with every location attribute set."""
        return cls(
            f"{self}: {reason}",
            backend=self.backend,
            session_id=self.session_id,
            filename=self.filename,
            url=self.url,
        )

    def translate(
        self, exc: BaseException, kind: ErrorKind, reason: str | None = None
    ) -> SessionStorageError:
        """The library error for the backend failure ``exc`` here; see :func:`translate`."""
        if isinstance(exc, SessionStorageError):
            return exc
        # SDK messages can run to many lines (Azure appends the whole XML reply); the
        # first says what happened, and the chained cause keeps the rest.
        reason = reason or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        # obstore puts the service's XML reply on that first line: its prose is enough.
        reason = reason.split("<?xml", 1)[0].rstrip(" :") or type(exc).__name__
        error = self.error(_KIND_TO_CLASS[kind], reason)
        if isinstance(error, EncryptionKeyError):
            error.key_id = getattr(exc, "key_id", None)
        return error


def translate(
    exc: BaseException,
    kind: ErrorKind,
    *,
    backend: str,
    action: str,
    session_id: str | None,
    filename: str | None,
    url: str,
    reason: str | None = None,
) -> SessionStorageError:
    """Build the library error for a backend failure; the caller raises it ``from exc``.

    ``reason`` replaces the backend's own wording (which may name only a bucket key)
    with one that says what went wrong in the caller's terms.
    """
    return Place(backend, action, session_id, filename, url).translate(exc, kind, reason)
