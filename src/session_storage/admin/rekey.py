"""Rotate encryption keys: rewrite every file not under the storage's encrypting key.

:func:`rekey` reads each file under the storage's root as stored; a file that is
plain, compressed only, or encrypted under an older key id is decoded and written
back under the first of ``encryption_keys``, on the condition that it is still at
the version that was read. A write that came in between wins (it was made by a
writer of its own, which encrypts as configured) and the file is read again. Files
already under the encrypting key cost one GET and nothing else, so a rekey that was
interrupted resumes by running it again, and the old key can be retired once a run
reports no file left behind.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field

from ..backends import ObjectInfo
from ..backends.coded import CodedDriver
from ..codecs.envelope import Codec
from ..concurrency.bounded import run_bounded
from ..core.arguments import check_int, invalid
from ..core.errors import (
    ConfigurationError,
    ConflictError,
    CorruptDataError,
    EncryptionKeyError,
    NotSupportedError,
)
from ..core.keys import decode_filename, decode_segment
from ..operations.scope import FileRef, Scope
from ..storage import SessionStorage, scope_of
from .transfer import CopyProgress

__all__ = ["RekeyResult", "rekey"]

DEFAULT_REKEY_CONCURRENCY = 8
_ATTEMPTS = 5
"""Reads of one file before rekey gives up on it: each retry follows a write by
someone else, which encrypts under its own settings."""


@dataclass(frozen=True, slots=True)
class RekeyResult:
    """What a rekey found and did (with ``dry_run``: would do)."""

    files: int
    """Files found under the root."""
    rewritten: int
    """Files written back under the encrypting key (with ``dry_run``: to be)."""
    current: int
    """Files already under the encrypting key, left alone."""
    raced: int
    """Rewrites that lost to a write in between and read the file again."""
    vanished: int
    """Files deleted between the listing and their read."""
    failed: dict[str, str] = field(default_factory=dict)
    """``"session/file"`` -> why it could not be read (a missing key id, a damaged or
    moved envelope) or kept changing; these were left as they are."""


async def rekey(
    storage: SessionStorage,
    *,
    dry_run: bool = False,
    progress: Callable[[CopyProgress], None] | None = None,
    max_concurrency: int = DEFAULT_REKEY_CONCURRENCY,
) -> RekeyResult:
    """Rewrite every file below ``storage``'s root that is not encrypted under the first
    of its ``encryption_keys``; see the module documentation.

    ``progress`` gets a CopyProgress after each file. Raises ConfigurationError if the
    storage has no encryption keys, NotSupportedError on a backend without
    conditional writes (a rewrite could undo a concurrent store), and the first
    backend error (files rewritten before it stay rewritten: run again to resume).
    Files that cannot be read are listed in :attr:`RekeyResult.failed`, not raised.
    """
    if not isinstance(storage, SessionStorage):
        raise invalid(f"storage must be a SessionStorage, got {type(storage).__name__}")
    limit = check_int("max_concurrency", max_concurrency, 1)
    scope = scope_of(storage)
    driver = scope.driver
    if not isinstance(driver, CodedDriver) or driver.codec.keys is None:
        raise ConfigurationError(
            f"{storage.url}: rekey needs encryption_keys (the first one encrypts)",
            backend=scope.backend,
            url=storage.url,
        )
    if not driver.supports_conditional_writes:
        raise NotSupportedError(
            f"{storage.url}: rekey needs the capability compare_and_swap, which the "
            f"{scope.backend} backend lacks. Instead: {driver.capabilities.instead}",
            backend=scope.backend,
            url=storage.url,
        )
    root = scope.root_ref()
    found: list[tuple[FileRef, ObjectInfo]] = []
    async for page in scope.iterate(root, "list", driver.list_file_infos(scope.root)):
        for path, info in page:
            ref = _ref(scope, path)
            if ref is not None:
                found.append((ref, info))
    found.sort(key=lambda item: item[0].path)
    total_bytes = sum(info.size for _, info in found)
    counts = {"rewritten": 0, "current": 0, "raced": 0, "vanished": 0, "done": 0, "bytes": 0}
    failed: dict[str, str] = {}

    async def one(item: tuple[FileRef, ObjectInfo]) -> None:
        ref, info = item
        outcome = await _rekey_one(scope, driver, ref, dry_run, counts)
        if outcome is not None:
            failed[f"{ref.session_id}/{ref.filename}"] = outcome
        counts["done"] += 1
        counts["bytes"] += info.size
        if progress is not None:
            progress(CopyProgress(counts["done"], len(found), counts["bytes"], total_bytes))

    await run_bounded(one, found, limit)
    return RekeyResult(
        files=len(found),
        rewritten=counts["rewritten"],
        current=counts["current"],
        raced=counts["raced"],
        vanished=counts["vanished"],
        failed=dict(sorted(failed.items())),
    )


def _ref(scope: Scope, path: str) -> FileRef | None:
    """The session and file of ``path``, or ``None`` for a name the library did not
    write (a temp file, the local marker, a foreign object)."""
    relative = path[len(scope.root) + 1 :]
    head, _, rest = relative.partition("/")
    session_id = decode_segment(head)
    filename = decode_filename(rest) if rest else None
    if session_id is None or filename is None:
        return None
    return FileRef(session_id, filename, path)


async def _rekey_one(
    scope: Scope, driver: CodedDriver, ref: FileRef, dry_run: bool, counts: dict[str, int]
) -> str | None:
    """Bring one file under the encrypting key; why not, if it could not be."""
    codec = driver.codec
    content_type = mimetypes.guess_type(ref.filename)[0] or "application/octet-stream"
    for _ in range(_ATTEMPTS):
        stored = await scope.call(ref, "load", driver.get_stored(ref.path))
        if stored is None:
            counts["vanished"] += 1
            return None
        data, version = stored
        if not codec.needs_rewrite(data):
            counts["current"] += 1
            return None
        try:
            body = await scope.call(ref, "decode", _decode(codec, ref.path, data))
        except (CorruptDataError, EncryptionKeyError) as exc:
            return str(exc)
        if dry_run:
            counts["rewritten"] += 1
            return None
        if version is None:  # nothing to write against: a rewrite could undo a store
            return "the backend gave no version to write it back conditionally"
        write = driver.put_stored(
            ref.path, codec.encode(ref.path, body), content_type, if_version=version
        )
        try:
            await scope.call(ref, "rekey", write, "it changed since it was read")
        except ConflictError:
            counts["raced"] += 1
            continue  # written (or deleted) in between: look at it again
        counts["rewritten"] += 1
        return None
    return f"it changed {_ATTEMPTS} times while being rekeyed; run rekey again"


async def _decode(codec: Codec, path: str, data: bytes) -> bytes:
    # A coroutine so that Scope.call turns the codec's errors into the library's.
    return codec.decode(path, data)
