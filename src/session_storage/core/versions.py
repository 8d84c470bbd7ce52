"""Version tokens and write conditions: the values and checks behind race-free stores.

A version token is an opaque ``str`` that changes on every write of a file: the ETag
on S3, the generation on GCS, the ETag on Azure, ``mtime_ns-inode-size`` on local
disk, a counter in memory. A store can be made conditional on it (``if_version``) or
on the file not existing yet (``if_absent``); the backend checks the condition
atomically with the write.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypeVar

from .errors import InvalidArgumentError, NotSupportedError

__all__ = ["VersionedBytes", "VersionedState", "check_condition"]

E = TypeVar("E", InvalidArgumentError, NotSupportedError)


class VersionedState(NamedTuple):
    """A state and the version it was read at, from one request.

    Both are ``None`` when the file is missing. Pass ``version`` to
    ``store_session(..., if_version=...)`` to write only if nobody wrote in between,
    or store with ``if_absent=True`` when ``state`` is ``None``.
    """

    state: dict[str, Any] | None
    version: str | None


class VersionedBytes(NamedTuple):
    """Raw bytes and the version they were read at; both ``None`` when missing."""

    data: bytes | None
    version: str | None


def check_condition(
    if_version: object,
    if_absent: object,
    *,
    missing: str | None,
    instead: str = "",
    backend: str,
    session_id: str,
    filename: str,
) -> str | None:
    """Validate a write condition; returns how to say that it failed, or ``None``.

    Raises InvalidArgumentError for a malformed or contradictory condition and
    NotSupportedError when the backend cannot enforce one (``missing`` names the
    capability it lacks, ``instead`` what to use instead); nothing has been written.
    """
    where = f"{backend}: store of session {session_id!r} file {filename!r}"

    def refused(kind: type[E], problem: str) -> E:
        text = f"{where}: {problem}"
        return kind(text, backend=backend, session_id=session_id, filename=filename)

    if not isinstance(if_absent, bool):
        problem = f"if_absent must be a bool, got {type(if_absent).__name__}"
        raise refused(InvalidArgumentError, problem)
    if if_version is not None and (not isinstance(if_version, str) or not if_version):
        problem = f"if_version must be a non-empty version token (str), got {if_version!r}"
        raise refused(InvalidArgumentError, problem)
    if if_version is not None and if_absent:
        problem = (
            "if_version and if_absent exclude each other (a file that must not exist has "
            "no version); pass one of them"
        )
        raise refused(InvalidArgumentError, problem)
    if if_version is None and not if_absent:
        return None
    if missing is not None:
        asked = "if_absent" if if_absent else "if_version"
        problem = (
            f"the {backend} backend lacks the capability {missing}, so nothing would "
            f"enforce {asked}; refusing rather than overwriting"
        ) + (f". Instead: {instead}" if instead else "")
        raise refused(NotSupportedError, problem)
    if if_absent:
        return "condition if_absent=True failed: the file already exists; nothing was written"
    return (
        f"condition if_version={if_version!r} failed: the file is missing or at another "
        "version; nothing was written"
    )
