"""Retention: find and delete the sessions whose newest file is older than a cutoff.

One pass over every file under the root (:meth:`Driver.list_file_infos`: one LIST per
1000 files on S3) finds each session's newest modification time. Each expired session
is then looked at again, on its own, right before it is deleted, and is kept if any of
its files is now at or past the cutoff: a session written while retention ran
survives. What remains is the gap between that second look and the delete (one LIST
and one batched delete on S3, a directory scan on disk): a file written inside it is
deleted with its session. Object stores offer no delete conditioned on a time, so
this is the narrowest the window gets. Background saves accepted before the call
land before the scan; one of an expired session accepted during it lands before that
session's second look, and so keeps it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import partial

from ..backends import Driver, ObjectInfo
from ..core.arguments import check_age, check_aware, check_bool, invalid
from ..core.keys import decode_segment, join
from . import batch
from .scope import FolderRef, Scope

__all__ = [
    "DELETE_CONCURRENCY",
    "cutoff_for",
    "delete_if_expired",
    "delete_older_than",
    "newest_by_session",
]

DELETE_CONCURRENCY = 8
"""Sessions deleted at once (at least; more if the storage's max_concurrency is higher)."""


async def delete_older_than(
    scope: Scope, age: timedelta | float, dry_run: bool, now: datetime | None
) -> list[str]:
    """Delete every session whose newest file is older than ``age``; returns their ids.

    ``age`` is a timedelta or seconds, measured back from ``now`` (an aware datetime;
    default: now). With ``dry_run`` nothing is deleted and the ids that would be are
    returned; ids are sorted; none expired gives ``[]``. A session written after the
    scan is kept, and a narrowed sub-store counts as one session (see the module
    docstring for costs and the window that remains). If any delete fails, a
    BatchError follows with the deleted ids in ``results``.
    """
    cutoff = cutoff_for(age, now)
    check_bool("dry_run", dry_run)
    # Background saves accepted before this call land first and are judged with the
    # rest; those accepted while it runs land after it (each delete waits for them).
    async with scope.shared.saver.superseding(scope.root.rstrip("/") + "/", exact=False):
        pass
    # Local disk: refuse a folder the library did not create; clean crash leftovers.
    sweep = scope.driver.sweep(scope.root, dry_run=dry_run)
    await scope.call(scope.root_ref(), "delete expired sessions in", sweep)
    scan = newest_by_session(scope.driver, scope.root)
    # No overall deadline: the scan grows with the store (each request still has the
    # client's own timeouts).
    newest = await scope.call(
        scope.root_ref(), "scan for expired sessions in", scan, deadline=False
    )
    expired = sorted(
        (session_id, segment)
        for segment, modified in newest.items()
        if modified < cutoff and (session_id := decode_segment(segment)) is not None
    )
    if dry_run:
        return [session_id for session_id, _ in expired]
    ops = {
        session_id: partial(
            _delete, scope, FolderRef(session_id, join(scope.root, segment)), cutoff
        )
        for session_id, segment in expired
    }
    deleted = await batch.run(
        ops,
        max(scope.shared.max_concurrency, DELETE_CONCURRENCY),
        action="delete_sessions_older_than",
        backend=scope.backend,
        url=scope.url(),
    )
    return [session_id for session_id, done in deleted.items() if done]


async def _delete(scope: Scope, ref: FolderRef, cutoff: datetime) -> bool:
    # Background saves of the session accepted before land first (and then count as
    # fresh files: the session is kept); none accepted meanwhile is deleted.
    async with scope.shared.saver.superseding(ref.path + "/", exact=False):
        expired = delete_if_expired(scope, ref.path, cutoff, ref.session_id)
        return await scope.call(ref, "delete", expired)


def cutoff_for(age: timedelta | float, now: datetime | None = None) -> datetime:
    """``now - age``; ``age`` is a timedelta or seconds, ``now`` an aware datetime.

    Raises InvalidArgumentError for an age that is neither or is negative, and for a
    ``now`` that is not an aware datetime.
    """
    delta = check_age(age)
    moment = check_aware("now", now) or datetime.now(timezone.utc)
    try:
        return moment - delta
    except OverflowError as exc:  # an age reaching back before year 1
        raise invalid(f"age {delta} reaches back before the year 1") from exc


async def newest_by_session(driver: Driver, root: str) -> dict[str, datetime]:
    """The modification time of the newest file of each folder directly under ``root``.

    Keys are the encoded folder names; files lying directly in ``root`` belong to no
    session and are ignored.
    """
    cut = len(root.rstrip("/")) + 1
    newest: dict[str, datetime] = {}
    async for page in driver.list_file_infos(root):
        for path, info in page:
            segment, nested, _ = path[cut:].partition("/")
            if not nested:
                continue
            seen = newest.get(segment)
            if seen is None or info.modified > seen:
                newest[segment] = info.modified
    return newest


async def delete_if_expired(
    scope: Scope, folder: str, cutoff: datetime, session_id: str | None = None
) -> bool:
    """Delete every file of ``folder`` (the folder of ``session_id``, which errors name)
    if all of them are older than ``cutoff``.

    Looks at the session again first and returns False, deleting nothing, if a file
    has been written since the scan (or the session is gone).
    """
    files: list[tuple[str, ObjectInfo]] = []
    async for page in scope.driver.list_file_infos(folder):
        files.extend(page)
    if not files or any(info.modified >= cutoff for _, info in files):
        return False
    await scope.delete_files(FolderRef(session_id, folder), "delete", [path for path, _ in files])
    return True
