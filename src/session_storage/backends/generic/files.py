"""What the generic driver needs to read from protocols that differ: missing files,
modification times, the SFTP exclusive create, and releasing a connection."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .profiles import innermost

__all__ = [
    "STALE_TEMP_SECONDS",
    "TEMP_PREFIX",
    "is_dead_temp",
    "holds_connections",
    "missing_error",
    "modified_time",
    "release",
    "remove_folder",
    "sftp_link",
]

TEMP_PREFIX = ".tmp-"
"""Hidden temp names: an encoded key never starts with ``.``, so listings skip them."""

STALE_TEMP_SECONDS = 3600.0
"""A temp file last modified longer ago than this belongs to a writer that died. These
filesystems offer no lock to ask a live writer by (local disk asks its ``flock``), and
no write of a session file takes an hour; the margin also covers a server's clock
that is off by minutes."""


def missing_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the file or folder is not there.

    fsspec turns most protocols' answers into FileNotFoundError; ftplib's ``550``
    reply to a ``DELE`` or ``STOR`` of a missing path stays an ``error_perm``.
    """
    if isinstance(exc, FileNotFoundError):
        return True
    return type(exc).__name__ == "error_perm" and str(exc).startswith("550")


def is_dead_temp(name: str, info: Mapping[str, Any], backend: str, now: float) -> bool:
    """Whether ``name`` (an entry of a listing, ``info`` its details) is a temp file
    that a dead writer left: a hidden temp name, older than :data:`STALE_TEMP_SECONDS`.

    An entry without a modification time is never taken for dead.
    """
    if not name.startswith(TEMP_PREFIX) or info.get("type") == "directory":
        return False
    try:
        modified = modified_time(info, backend)
    except OSError:
        return False
    return modified.timestamp() < now - STALE_TEMP_SECONDS


def modified_time(info: Mapping[str, Any], backend: str) -> datetime:
    """The modification time in an fsspec ``info`` dict, whichever key the protocol uses.

    Raises OSError when there is none: a time made up here would let retention
    delete (or keep) the wrong sessions.
    """
    for key in ("mtime", "modified", "LastModified", "last_modified", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, timezone.utc)
    modify = info.get("modify")  # FTP MLSD: YYYYMMDDHHMMSS[.fff] in UTC
    if isinstance(modify, str) and len(modify) >= 14:
        return datetime.strptime(modify[:14], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    raise OSError(f"the {backend} filesystem gives no modification time for {info.get('name')}")


def sftp_link(fs: Any, source: str, target: str) -> None:
    """Make ``target`` name the file ``source`` on an SFTP server, refusing (with
    FileExistsError) if ``target`` exists: ``hardlink@openssh.com`` (``link(2)``, one
    atomic step), or the plain SFTPv3 rename, which never replaces, where the server
    lacks that extension. Called in a worker thread."""
    import asyncssh
    from fsspec.asyn import sync

    sftp = innermost(fs)
    # A DirFileSystem in the chain maps paths: resolve them as it would.
    if sftp is not fs:
        source, target = fs._join(source), fs._join(target)

    async def link() -> None:
        async with sftp._pool.get() as channel:
            try:
                try:
                    await channel.link(source, target)
                except asyncssh.SFTPOpUnsupported:
                    await channel.rename(source, target)
            except asyncssh.SFTPError as exc:
                if await channel.exists(target):
                    raise FileExistsError(f"precondition failed for {target}") from exc
                raise

    sync(sftp.loop, link)


def remove_folder(fs: Any, path: str) -> None:
    """Remove the empty folder ``path``. An async filesystem's blocking ``rmdir`` may be
    fsspec's do-nothing default (sshfs has only ``_rmdir``): run its coroutine then."""
    from fsspec import AbstractFileSystem

    if getattr(fs, "async_impl", False) and type(fs).rmdir is AbstractFileSystem.rmdir:
        from fsspec.asyn import sync

        sync(fs.loop, fs._rmdir, path)
    else:
        fs.rmdir(path)


def holds_connections(fs: Any) -> bool:
    """Whether ``fs`` holds connections that :func:`release` closes (sshfs's SSH
    connection, FTP's control connection)."""
    inner = innermost(fs)
    if getattr(inner, "_pool", None) is not None and getattr(inner, "_stack", None) is not None:
        return True
    return hasattr(getattr(inner, "ftp", None), "quit")


def release(fs: Any) -> None:
    """Close the connections of a filesystem the storage opened (called in a thread):
    sshfs's SSH connection, FTP's control connection; others hold none worth closing."""
    inner = innermost(fs)
    pool, stack = getattr(inner, "_pool", None), getattr(inner, "_stack", None)
    if pool is not None and stack is not None and getattr(inner, "loop", None) is not None:
        from fsspec.asyn import sync

        async def close() -> None:
            await pool.close()
            await stack.aclose()

        sync(inner.loop, close)
        return
    ftp = getattr(inner, "ftp", None)
    if ftp is not None and hasattr(ftp, "quit"):
        try:
            ftp.quit()
        except Exception:  # noqa: BLE001 - the server may have hung up already
            ftp.close()
