"""Retention: find and delete the sessions whose newest file is older than a cutoff.

One pass over every file under the root (:meth:`Driver.list_file_infos`: one LIST per
1000 files on S3) finds each session's newest modification time. Each expired session
is then looked at again, on its own, right before it is deleted, and is kept if any of
its files is now at or past the cutoff: a session written while retention ran
survives. What remains is the gap between that second look and the delete (one LIST
and one batched delete on S3, a directory scan on disk): a file written inside it is
deleted with its session. Object stores offer no delete conditioned on a time, so
this is the narrowest the window gets.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .backends import Driver, ObjectInfo

__all__ = ["cutoff_for", "delete_if_expired", "newest_by_session"]

DELETE_CONCURRENCY = 8
"""Sessions deleted at once."""


def cutoff_for(age: timedelta | float, now: datetime | None = None) -> datetime:
    """``now - age``; ``age`` is a timedelta or seconds, ``now`` an aware datetime.

    Raises TypeError for an age that is neither, ValueError for a negative age or a
    naive ``now``.
    """
    if isinstance(age, bool) or not isinstance(age, (timedelta, int, float)):
        raise TypeError(f"age must be a timedelta or seconds, got {type(age).__name__}")
    if not isinstance(age, timedelta):
        age = timedelta(seconds=age)
    if age < timedelta(0):
        raise ValueError(f"age must not be negative, got {age}")
    if now is None:
        now = datetime.now(timezone.utc)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now - age


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


async def delete_if_expired(driver: Driver, folder: str, cutoff: datetime) -> bool:
    """Delete every file of ``folder`` if all of them are older than ``cutoff``.

    Looks at the session again first and returns False, deleting nothing, if a file
    has been written since the scan (or the session is gone).
    """
    files: list[tuple[str, ObjectInfo]] = []
    async for page in driver.list_file_infos(folder):
        files.extend(page)
    if not files or any(info.modified >= cutoff for _, info in files):
        return False
    await driver.delete_files([path for path, _ in files])
    return True
