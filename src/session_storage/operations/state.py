"""JSON state: store and load a session's state, now, in the background or in a batch.

A store is checked and encoded first (a bad id, filename or state raises before
anything is sent), then written with one request; a load is one request, then
decoded. :func:`prepare_store` and :func:`prepare_load` split a call at that line, so
background saves and batch calls check everything up front and write later.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any

from ..backends.coded import codec_of
from ..backends.write_ids import UNCONDITIONAL, WriteCondition
from ..codecs.envelope import without_codecs
from ..concurrency.background import SaveHandle
from ..core.document import decode_state, encode_stamped, fitted
from ..core.errors import ConfigurationError, CorruptDataError, EncryptionKeyError
from ..core.versions import VersionedState, check_condition
from ..events.layout import check_writable
from .scope import FileRef, Scope

__all__ = [
    "DEFAULT_FILENAME",
    "JSON",
    "envelope_error",
    "flush",
    "load",
    "prepare_load",
    "prepare_store",
    "put",
    "store",
    "store_nowait",
]

DEFAULT_FILENAME = "state.json"
"""The file a session's state lives in unless a call names another."""

JSON = "application/json"

State = dict[str, Any]


async def put(
    scope: Scope,
    ref: FileRef,
    data: bytes,
    content_type: str,
    condition: WriteCondition = UNCONDITIONAL,
) -> str:
    """Write ``data`` as ``ref`` in one request, on the write condition given; its version.

    Every store of the library (state, bytes, background saves) ends here.
    """
    conflict = check_condition(
        condition.if_version,
        condition.if_absent,
        missing=scope.driver.capabilities.missing(
            if_absent=condition.if_absent, if_version=condition.if_version is not None
        ),
        instead=scope.driver.capabilities.instead,
        backend=scope.backend,
        session_id=ref.session_id,
        filename=ref.filename,
    )
    write = scope.driver.put(ref.path, data, content_type, condition)
    return await scope.call(ref, "store", write, conflict)


def _encode(
    scope: Scope, ref: FileRef, state: object, updates: Sequence[str] | None = None
) -> tuple[State, bytes]:
    # Every JSON state write is encoded here: the one place to keep states out of
    # event streams.
    check_writable(ref.filename, session_id=ref.session_id, backend=scope.backend)
    return encode_stamped(
        state,
        session_id=ref.session_id,
        filename=ref.filename,
        backend=scope.backend,
        where=partial(scope.where, "store", ref),
        updates=updates,
    )


def prepare_store(
    scope: Scope, session_id: str, state: Mapping[str, Any], filename: str
) -> tuple[FileRef, Callable[[], Awaitable[str]]]:
    """Check and encode a store now; the returned call writes it and gives its version."""
    ref = scope.file(session_id, filename)
    _, data = _encode(scope, ref, state)
    return ref, partial(put, scope, ref, data, JSON)


async def store(
    scope: Scope,
    session_id: str,
    state: Mapping[str, Any],
    filename: str,
    if_version: str | None = None,
    if_absent: bool = False,
    updates: Sequence[str] | None = None,
) -> tuple[State, str]:
    """Store ``state`` as the session's ``filename``, replacing it atomically; the stamped
    state and its new version.

    The stored JSON is ``state`` plus ``_metadata`` (session_id, filename, stored_at,
    backend). A ``_metadata`` key in ``state`` that is such a stamp (a loaded state
    stored back) is renewed; any other value there raises SerializationError, so no
    data of the caller's is dropped. A state that is not a dict or not
    JSON-serializable raises SerializationError and nothing is written.

    ``if_version=token`` writes only if the file is still at that version;
    ``if_absent=True`` only if it does not exist. The backend checks the condition
    atomically with the write; a failed one raises ConflictError (naming the
    condition) and writes nothing. The two exclude each other (InvalidArgumentError).

    ``updates`` replaces the update keys the stamp remembers (see :mod:`.update`);
    without it a loaded state's keys are kept.
    """
    ref = scope.file(session_id, filename)
    stamped, data = _encode(scope, ref, state, updates)
    return stamped, await put(scope, ref, data, JSON, WriteCondition(if_version, if_absent))


def store_nowait(
    scope: Scope, session_id: str, state: Mapping[str, Any], filename: str
) -> SaveHandle:
    """Check and encode a store now and hand the write to the background saver.

    Bad input raises here and nothing is queued. Saves of one file land in the order
    accepted; a waiting state is replaced by a newer one (the older handle resolves
    with it). ``await handle`` gives the version written or raises the write's error;
    ``flush()`` (and ``aclose()``) waits for every save and raises any that failed.
    Direct calls do not wait for pending saves of the same file; deletes do (see
    :func:`session_storage.operations.files.superseding`). With ``max_pending`` saves
    already pending, raises TooManyPendingSavesError and queues nothing. Needs a
    running event loop; see :mod:`session_storage.concurrency.background`.
    """
    ref = scope.file(session_id, filename)
    _, data = _encode(scope, ref, state)
    # A pending save may wait long: keep its body at its own size (see fitted).
    write = partial(put, scope, ref, fitted(data), JSON)
    return scope.shared.saver.submit(ref.path, write, session_id, filename)


async def flush(scope: Scope, owner: bool) -> None:
    """Wait for every background save accepted so far: all of the shared saver's for
    the ``owner`` (its views' too), else those below this scope's root; then raise
    BackgroundSaveError carrying every failed save since the last flush."""
    await scope.shared.saver.flush(None if owner else scope.root.rstrip("/") + "/")


def prepare_load(
    scope: Scope, session_id: str, filename: str
) -> Callable[[], Awaitable[VersionedState]]:
    """Check a load now; the returned call reads and decodes it."""
    return partial(load, scope, scope.file(session_id, filename))


async def load(scope: Scope, ref: FileRef) -> VersionedState:
    """The state and version of ``ref`` (both ``None`` if missing), from one request."""
    found = await scope.call(ref, "load", scope.driver.get(ref.path))
    if found is None:
        return VersionedState(None, None)
    try:
        state = decode_state(
            found[0],
            session_id=ref.session_id,
            filename=ref.filename,
            backend=scope.backend,
            where=partial(scope.where, "load", ref),
        )
    except CorruptDataError as exc:
        error = envelope_error(scope, ref, "load", found[0])
        if error is None:
            raise
        raise error from exc
    return VersionedState(state, found[1])


def envelope_error(
    scope: Scope, ref: FileRef, action: str, data: bytes
) -> ConfigurationError | None:
    """The error for a body that is an encrypted or compressed envelope read by a
    storage without codecs (EncryptionKeyError naming the key id, or a
    ConfigurationError); ``None`` for any other body that is not JSON."""
    found = without_codecs(data) if codec_of(scope.driver) is None else None
    if found is None:
        return None
    why, key_id = found
    if key_id is None:
        return scope.failure(ConfigurationError, action, ref, why)
    error = scope.failure(EncryptionKeyError, action, ref, why)
    error.key_id = key_id
    return error
