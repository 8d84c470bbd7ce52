"""ADK artifacts on a storage: :class:`StorageArtifactService`.

Layout below the storage's root (every part encoded like a session id, so any app,
user, session or file name is stored safely and listed back as given)::

    <app_name>/artifacts/<user_id>/user/<filename>/                 user-scoped (user: names)
    <app_name>/artifacts/<user_id>/sessions/<session_id>/<filename>/  session-scoped
        versions/          the event stream whose item n describes version n
        parts/<hex>.bin    a version's payload: inline bytes as they are, or .json

User-scoped and session-scoped artifacts live under different folders, so a session
named ``user`` is a session like any other (ADK's in-memory and GCS services refuse
it, since there it would collide with the user-scoped names). How a version is
stored: :mod:`.artifact_parts`.

Why versions are a stream. Appending to an event stream is one conditional write of
its tail, so two writers saving one artifact at once get distinct, consecutive
versions (the loser of the race retries on the fresh tail), and nothing can overwrite
a version: a failed read never passes for "no versions yet". The payload is written
create-only before its version is appended; a save that fails in between leaves an
unreferenced payload file, which no version names (the artifact's name then lists in
``list_artifact_keys`` with no versions, until it is deleted).

Costs (requests on an object store): ``save_artifact`` 2 (the payload, the tail; one
GET more when this storage has not yet seen the artifact's tail); ``load_artifact``
2 (the entry, the payload; 3 when the version sits in a sealed segment of 128 this
storage has not read yet); ``list_versions`` and ``get_artifact_version`` 1;
``list_artifact_versions`` 1, plus the sealed segments (128 versions each) this
storage has not read yet (segments never change, so they are cached);
``list_artifact_keys`` 1 or 2 listings (session and user scope, at once);
``delete_artifact`` a listing and one batched delete.
"""

from __future__ import annotations

from typing import Any

from ...concurrency.bounded import map_bounded
from ...core.errors import InvalidArgumentError
from ...storage import SessionStorage
from .artifact_parts import VERSIONS_STREAM, Entry, json_problem, payload_of
from .errors import artifact_corrupt, artifact_unserializable
from .framework import (
    ArtifactVersion,
    BaseArtifactService,
    InputValidationError,
    ValidationError,
    artifact_util,
    ensure_part,
    platform_time,
    types,
)

__all__ = ["StorageArtifactService"]

_USER_PREFIX = "user:"
_NO_SESSION = "Session ID must be provided for session-scoped artifacts."


class StorageArtifactService(BaseArtifactService):
    """An ADK ``BaseArtifactService`` that keeps artifacts and their versions in ``storage``.

    ``storage`` is any :class:`~session_storage.SessionStorage` (the one a
    :class:`~session_storage.integrations.adk.StorageSessionService` uses is fine: the
    two keep to separate folders); the caller opens and closes it. Behaves as ADK's
    ``InMemoryArtifactService`` does: versions 0, 1, 2, ... per artifact, ``user:``
    names shared by the user's sessions, missing things load as ``None`` and list as
    ``[]``, and ADK's ``InputValidationError`` for the same bad input. Storage
    failures raise the library's errors
    (:class:`~session_storage.core.errors.SessionStorageError`); a version whose
    payload is gone or damaged raises ``CorruptDataError``, never loads as missing.
    Layout and costs: :mod:`session_storage.integrations.adk.artifacts`.
    """

    def __init__(self, storage: SessionStorage) -> None:
        if not isinstance(storage, SessionStorage):
            raise InvalidArgumentError(
                f"storage must be a SessionStorage, got {type(storage).__name__}"
            )
        self._storage = storage

    @property
    def storage(self) -> SessionStorage:
        """The storage the artifacts are kept in."""
        return self._storage

    # -- where things live ---------------------------------------------------------

    def _user_root(self, app_name: str, user_id: str) -> SessionStorage:
        artifact_util.validate_path_segment(app_name, "app_name")
        artifact_util.validate_path_segment(user_id, "user_id")
        return self._storage.narrow(app_name, "artifacts", user_id, "user")

    def _session_root(self, app_name: str, user_id: str, session_id: str) -> SessionStorage:
        artifact_util.validate_path_segment(app_name, "app_name")
        artifact_util.validate_path_segment(user_id, "user_id")
        artifact_util.validate_path_segment(session_id, "session_id")
        return self._storage.narrow(app_name, "artifacts", user_id, "sessions", session_id)

    def _root(
        self, app_name: str, user_id: str, filename: str, session_id: str | None
    ) -> SessionStorage:
        """The storage whose session ``filename`` is the artifact (InputValidationError
        for a session-scoped name without a session, as ADK's services raise)."""
        if filename.startswith(_USER_PREFIX):
            return self._user_root(app_name, user_id)
        if session_id is None:
            raise InputValidationError(_NO_SESSION)
        return self._session_root(app_name, user_id, session_id)

    # -- BaseArtifactService -------------------------------------------------------

    async def save_artifact(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        artifact: types.Part | dict[str, Any],
        session_id: str | None = None,
        custom_metadata: dict[str, Any] | None = None,
    ) -> int:
        """Store ``artifact`` as the artifact's next version; its number (0 for the first,
        and again 0 after a delete).

        A Part holding neither inline data, text nor file data raises ADK's
        ``InputValidationError``, and so does an ``artifact://`` reference that is not
        valid or points outside this app, user (and session); custom metadata that is
        not JSON raises ``SerializationError``. Nothing is stored then.
        """
        root = self._root(app_name, user_id, filename, session_id)
        part = ensure_part(artifact)
        mime_type = _mime_type(part, app_name, user_id, session_id)
        payload = payload_of(part)
        entry = Entry(
            payload.name, platform_time.get_time(), mime_type, custom_metadata or {}, payload.frame
        )
        # Checked before anything is written: the append would refuse it after the payload.
        problem = json_problem(entry.custom_metadata, "custom_metadata")
        if problem:
            raise artifact_unserializable(root, filename, problem)
        await root.store_bytes(filename, payload.name, payload.data, if_absent=True)
        return await root.append_event(filename, VERSIONS_STREAM, entry.to_json())

    async def load_artifact(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        session_id: str | None = None,
        version: int | None = None,
    ) -> types.Part | None:
        """The Part saved as ``version`` (the latest if ``None``), or ``None`` if there is
        no such version (a negative one included), or it is a rewind's tombstone or an
        empty Part. An ``artifact://`` reference is followed (at most ADK's depth,
        within the caller's app, user and session, else ``InputValidationError``)."""
        depth = artifact_util._MAX_ARTIFACT_REFERENCE_DEPTH  # ADK's bound on reference chains
        return await self._load(app_name, user_id, filename, session_id, version, depth)

    async def list_artifact_keys(
        self, *, app_name: str, user_id: str, session_id: str | None = None
    ) -> list[str]:
        """The sorted names of the session's artifacts and the user's ``user:`` ones (with
        ``session_id=None``: the latter only); ``[]`` if none. A listing that fails
        raises; it never gives a shorter list."""
        roots = [self._user_root(app_name, user_id)]
        if session_id is not None:
            roots.append(self._session_root(app_name, user_id, session_id))
        listed = await map_bounded(_names, roots, len(roots))
        return sorted(name for names in listed for name in names)

    async def delete_artifact(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        session_id: str | None = None,
    ) -> None:
        """Delete every version of the artifact; nothing happens if it is missing. The
        next save starts again at version 0."""
        root = self._root(app_name, user_id, filename, session_id)
        await root.delete_session(filename)

    async def list_versions(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        session_id: str | None = None,
    ) -> list[int]:
        """``[0, 1, ..., n-1]`` for an artifact of n versions, ``[]`` if it is missing
        (one request: the stream's tail knows its length)."""
        root = self._root(app_name, user_id, filename, session_id)
        return list(range(await root.event_count(filename, VERSIONS_STREAM)))

    async def list_artifact_versions(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        session_id: str | None = None,
    ) -> list[ArtifactVersion]:
        """Every version's ``ArtifactVersion``, oldest first; ``[]`` if it is missing. The
        payloads are not read."""
        root = self._root(app_name, user_id, filename, session_id)
        items = await root.read_events(filename, VERSIONS_STREAM)
        return [
            _described(root, filename, number, _entry(root, filename, item))
            for number, item in enumerate(items)
        ]

    async def get_artifact_version(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        session_id: str | None = None,
        version: int | None = None,
    ) -> ArtifactVersion | None:
        """The ``ArtifactVersion`` of ``version`` (the latest if ``None``), or ``None`` if
        there is no such version."""
        root = self._root(app_name, user_id, filename, session_id)
        found = await _find(root, filename, version)
        return None if found is None else _described(root, filename, *found)

    # -- loading -------------------------------------------------------------------

    async def _load(
        self,
        app_name: str,
        user_id: str,
        filename: str,
        session_id: str | None,
        version: int | None,
        remaining_depth: int,
    ) -> types.Part | None:
        root = self._root(app_name, user_id, filename, session_id)
        found = await _find(root, filename, version)
        if found is None:
            return None
        entry = found[1]
        data = await root.load_bytes(filename, entry.payload)
        if data is None:
            why = f"the payload {entry.payload!r} of version {found[0]} is missing"
            raise artifact_corrupt(root, filename, entry.payload, why)
        try:
            part = entry.part(data)
        except (ValidationError, ValueError) as exc:
            why = f"the payload of version {found[0]} is not a Part: {exc}"
            raise artifact_corrupt(root, filename, entry.payload, why) from exc
        if artifact_util.is_artifact_ref(part):
            assert part.file_data is not None and part.file_data.file_uri is not None
            target = artifact_util.resolve_artifact_reference(
                file_uri=part.file_data.file_uri,
                app_name=app_name,
                user_id=user_id,
                session_id=session_id,
                remaining_depth=remaining_depth,
            )
            return await self._load(
                target.app_name,
                target.user_id,
                target.filename,
                target.session_id,
                target.version,
                remaining_depth - 1,
            )
        if part == types.Part() or artifact_util._is_rewind_tombstone(part):
            return None
        return part


async def _names(root: SessionStorage) -> list[str]:
    return await root.list_sessions()


async def _find(
    root: SessionStorage, filename: str, version: int | None
) -> tuple[int, Entry] | None:
    """The number and entry of ``version`` (the latest if ``None``); ``None`` if missing."""
    if version is not None and version < 0:
        return None  # ADK counts versions from 0; -1 is no version, not the latest
    start = -1 if version is None else version
    records = await root.read_events(filename, VERSIONS_STREAM, start, 1, with_records=True)
    if not records:
        return None
    return records[0].index, _entry(root, filename, records[0].item)


def _entry(root: SessionStorage, filename: str, item: Any) -> Entry:
    try:
        return Entry.from_json(item)
    except ValueError as exc:
        raise artifact_corrupt(root, filename, VERSIONS_STREAM, str(exc)) from exc


def _described(root: SessionStorage, filename: str, number: int, entry: Entry) -> ArtifactVersion:
    """ADK's ``ArtifactVersion`` of ``entry``; its canonical URI is the payload's URL."""
    return entry.version(number, f"{root.narrow_path(filename)}/{entry.payload}")


def _mime_type(part: types.Part, app_name: str, user_id: str, session_id: str | None) -> str | None:
    """The MIME type ADK's in-memory service records for ``part``; ``None`` for an
    ``artifact://`` reference (known once loaded). Raises ``InputValidationError`` for
    a Part it cannot store and for a reference that is invalid or out of scope."""
    if part.inline_data is not None:
        return part.inline_data.mime_type
    if part.text is not None:
        return "text/plain"
    if part.file_data is None:
        raise InputValidationError("Not supported artifact type.")
    if artifact_util.is_artifact_ref(part):
        uri = part.file_data.file_uri or ""
        parsed = artifact_util.parse_artifact_uri(uri)
        if not parsed:
            raise InputValidationError(f"Invalid artifact reference URI: {uri}")
        artifact_util.validate_artifact_reference_scope(
            app_name=app_name, user_id=user_id, session_id=session_id, parsed_uri=parsed
        )
        return None
    return part.file_data.mime_type
