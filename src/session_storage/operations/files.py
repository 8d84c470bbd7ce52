"""Files as bytes: store, load, look at and delete one file or a whole session.

Raw bytes are stored as given (no stamp), with a content type guessed from the
filename. Metadata comes from one ``info`` request and never reads the file. A delete
of one file or of a whole session is checked first and performed by the call
:func:`prepare_delete` returns, so batch deletes check every id before deleting any.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from ..backends import ObjectInfo
from ..backends.write_ids import WriteCondition
from ..core.errors import InvalidArgumentError
from ..core.versions import VersionedBytes
from .scope import Scope
from .state import put

__all__ = [
    "exists",
    "load_bytes",
    "metadata",
    "metadata_of",
    "prepare_delete",
    "store_bytes",
    "superseding",
]


async def store_bytes(
    scope: Scope,
    session_id: str,
    filename: str,
    data: object,
    if_version: str | None,
    if_absent: bool,
) -> str:
    """Store ``data`` as given (no stamp) with a content type guessed from ``filename``;
    the new version.

    The write conditions work as in :func:`session_storage.operations.state.store`. Data that is
    not bytes-like raises InvalidArgumentError and nothing is written.
    """
    ref = scope.file(session_id, filename)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        why = f"data must be bytes, got {type(data).__name__}"
        raise scope.failure(InvalidArgumentError, "store", ref, why)
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    condition = WriteCondition(if_version, if_absent)
    return await put(scope, ref, bytes(data), content_type, condition)


async def load_bytes(scope: Scope, session_id: str, filename: str) -> VersionedBytes:
    """The bytes and version of one file (both ``None`` if missing), from one request."""
    ref = scope.file(session_id, filename)
    found = await scope.call(ref, "load", scope.driver.get(ref.path))
    return VersionedBytes(None, None) if found is None else VersionedBytes(*found)


async def exists(scope: Scope, session_id: str) -> bool:
    """Whether the session has any file (one request on object stores)."""
    ref = scope.folder(session_id)
    return await scope.call(ref, "check", scope.driver.has_files(ref.path))


async def metadata(scope: Scope, session_id: str, filename: str) -> dict[str, Any] | None:
    """Facts about one file from one ``info`` request, or ``None`` if it is missing.

    Keys: ``session_id``, ``filename``, ``size`` (bytes), ``modified`` (aware UTC
    datetime), ``created`` (datetime, or None where the backend keeps none),
    ``backend``, ``version`` (ETag, generation or local token).
    """
    ref = scope.file(session_id, filename)
    info = await scope.call(ref, "stat", scope.driver.info(ref.path))
    return None if info is None else metadata_of(scope, session_id, filename, info)


def metadata_of(scope: Scope, session_id: str, filename: str, info: ObjectInfo) -> dict[str, Any]:
    """The metadata dict of one file, as every listing and lookup returns it."""
    return {
        "session_id": session_id,
        "filename": filename,
        "size": info.size,
        "modified": info.modified,
        "created": info.created,
        "backend": scope.backend,
        "version": info.version,
    }


def prepare_delete(
    scope: Scope, session_id: str, filename: str | None
) -> Callable[[], Awaitable[bool]]:
    """Check one delete (a file, or with no ``filename`` the whole session) now; the
    returned call performs it and says whether anything existed.

    Deleting what is missing never raises. Object stores delete a whole session with
    one LIST and one batched delete per 1000 files. Background saves of what is
    deleted that were accepted before the call land first, so the delete supersedes
    them (see :func:`superseding`); saves accepted while it runs land after it.
    """
    folder = scope.folder(session_id)
    delete: Callable[[], Awaitable[bool]]
    if filename is None:
        delete = partial(scope.delete_tree, folder, "delete")
        match, exact = folder.path + "/", False
    else:
        ref = scope.file(session_id, filename)
        delete = partial(scope.delete_file, ref, "delete")
        match, exact = ref.path, True
    # Event streams of the session may shrink: their next index is no longer known.
    scope.shared.event_logs.forget(folder.path)
    return partial(superseding, scope, match, exact, delete)


async def superseding(
    scope: Scope, match: str, exact: bool, delete: Callable[[], Awaitable[bool]]
) -> bool:
    """Run ``delete`` (of the file ``match``, or if not ``exact`` of everything below the
    folder ``match``) after every background save of it accepted before this call, and
    before those accepted while it runs: a delete is never undone by an earlier save.
    """
    async with scope.shared.saver.superseding(match, exact=exact):
        return await delete()
