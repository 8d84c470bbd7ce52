"""The errors of the ADK session service: library errors that are ADK's error types too.

Each names the backend, the session (with its user and app) and the URL of where it
is stored, like every library error.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from ...core.errors import (
    ConflictError,
    CorruptDataError,
    SerializationError,
    SessionStorageError,
)
from ...storage import SessionStorage
from .framework import AlreadyExistsError, Session, SessionNotFoundError, StaleSessionError

__all__ = [
    "AdkSessionExistsError",
    "AdkSessionNotFoundError",
    "AdkStaleSessionError",
    "artifact_corrupt",
    "artifact_unserializable",
    "corrupt",
    "exists",
    "merge_failed",
    "not_found",
    "stale",
]

E = TypeVar("E", bound=SessionStorageError)
R = TypeVar("R", bound="_Refusal")


class _Refusal(SessionStorageError):
    """A call refused about one session: what was found, and what was not done."""

    found: ClassVar[str]
    undone: ClassVar[str]

    @classmethod
    def about(cls: type[R], store: SessionStorage, app_name: str, user_id: str, sid: str) -> R:
        """``"<backend>: session '<id>' of user '<u>' in app '<a>' <found> (<url>); ..."``."""
        what = f"session {sid!r} of user {user_id!r} in app {app_name!r} {cls.found}"
        return _error(cls, store, sid, what, f"; {cls.undone}")


class AdkSessionExistsError(_Refusal, AlreadyExistsError):
    """``create_session`` was given the id of a session that exists; nothing was written."""

    found = "already exists"
    undone = "nothing was written"


class AdkSessionNotFoundError(_Refusal, SessionNotFoundError):
    """``append_event`` was given a session that is not (or no longer) stored."""

    found = "is not stored"
    undone = "nothing was committed"


class AdkStaleSessionError(_Refusal, StaleSessionError):
    """``append_event`` through a session object that is older than the stored session.

    Another worker (or another service) appended to the session after this object
    was read; nothing was committed. Reload it with ``get_session`` and append again.
    """

    found = "was changed in storage after this Session object was read"
    undone = "nothing was committed. Reload it with get_session and append again."


def exists(
    store: SessionStorage, app_name: str, user_id: str, session_id: str
) -> AdkSessionExistsError:
    """The error for ``create_session`` with the id of a stored session."""
    return AdkSessionExistsError.about(store, app_name, user_id, session_id)


def not_found(store: SessionStorage, session: Session) -> AdkSessionNotFoundError:
    """The error for ``append_event`` to a session that is not stored."""
    return AdkSessionNotFoundError.about(store, session.app_name, session.user_id, session.id)


def stale(store: SessionStorage, session: Session) -> AdkStaleSessionError:
    """The error for ``append_event`` through a session object older than the stored one."""
    return AdkStaleSessionError.about(store, session.app_name, session.user_id, session.id)


def corrupt(store: SessionStorage, key: str, why: str) -> CorruptDataError:
    """The error for a stored record, shared state or event that is not what ADK wrote."""
    what = f"cannot read ADK data of {key!r}"
    return _error(CorruptDataError, store, key, what, f": {why}", filename="state.json")


def artifact_corrupt(store: SessionStorage, name: str, file: str, why: str) -> CorruptDataError:
    """The error for a stored artifact version that is not what this service wrote
    (or whose payload file is gone): ``name`` is the artifact, ``file`` the file read."""
    what = f"cannot read ADK artifact {name!r}"
    return _error(CorruptDataError, store, name, what, f": {why}", filename=file)


def artifact_unserializable(store: SessionStorage, name: str, why: str) -> SerializationError:
    """The error for a save whose custom metadata is not JSON; nothing was written."""
    what = f"cannot store ADK artifact {name!r}"
    return _error(SerializationError, store, name, what, f": {why}; nothing was written")


def merge_failed(store: SessionStorage, key: str, attempts: int) -> ConflictError:
    """The error for a shared-state merge that lost ``attempts`` races in a row."""
    what = f"cannot merge into shared state {key!r}"
    return _error(ConflictError, store, key, what, f": {attempts} conflicting writes in a row")


def _error(
    cls: type[E],
    store: SessionStorage,
    key: str,
    what: str,
    then: str,
    filename: str | None = None,
) -> E:
    """``"<backend>: <what> (<url of key>)<then>"``, about the session (or state) ``key``."""
    url = store.narrow_path(key)
    return cls(
        f"{store.backend}: {what} ({url}){then}",
        backend=store.backend,
        session_id=key,
        filename=filename,
        url=url,
    )
