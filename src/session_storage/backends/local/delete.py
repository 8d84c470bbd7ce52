"""Deleting on local disk without ever leaving a listed folder that holds no data.

A folder is listed as a session (or a narrowed root) as long as it exists, so a folder
must never be seen holding only leftovers: its lock file, a dead writer's temp file.

- A delete that would leave a folder without data (its last own file goes, and every
  folder above it up to the root would then hold nothing but that chain) renames the
  highest such folder to a hidden name in the root (``.<random>.trash``) in one system
  call, and clears it there. A crash leaves only the hidden folder, which the next
  sweep removes.
- Otherwise the files are unlinked where they are, under their folder's lock.
- Only the library's own files go (:func:`paths.is_own_name` for every segment);
  a folder that also holds someone else's file stays, with that file.

Sweeping (a delete of a session, and retention over the whole root) removes what
crashes left: temp files whose writer died (a live writer holds an ``flock`` on its
temp file, and the kernel drops it when the writer dies, so no age guess is needed
where ``flock`` exists), staging and trash folders of dead writers and deleters, and
folders that hold no data.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Sequence
from contextlib import nullcontext

from .locking import HAVE_FLOCK, LOCK_NAME, FolderLock, fcntl
from .paths import (
    STAGE_SUFFIX,
    TEMP_PREFIX,
    TEMP_SUFFIX,
    TRASH_SUFFIX,
    LocalRoot,
    folder_entries,
    is_leftover_name,
    is_own_name,
)
from .read import own_entries

__all__ = [
    "STALE_TEMP_SECONDS",
    "delete_paths",
    "delete_tree",
    "fsync_folder",
    "is_dead_temp",
    "remove_files",
    "sweep",
    "sweep_store",
]

STALE_TEMP_SECONDS = 3600.0
"""Without ``flock`` a temp file this old is taken to belong to a writer that died."""


def fsync_folder(folder: str) -> None:
    """Make the folder's entries (a rename, a new file) survive a power loss."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a folder; nothing more to do
        pass
    finally:
        os.close(fd)


def is_dead_temp(path: str) -> bool:
    """Whether the temp file at ``path`` belongs to a writer that is gone.

    A writer holds an exclusive ``flock`` on its temp file from creation to the end;
    if we can take it, nobody holds it. (Between a writer's ``open`` and its ``flock``
    there are no other calls; a temp removed in that instant makes the writer start
    over, see ``write.write``.)
    """
    if not HAVE_FLOCK:
        try:
            return os.lstat(path).st_mtime < time.time() - STALE_TEMP_SECONDS
        except FileNotFoundError:
            return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def _data_names(folder: str) -> list[str] | None:
    """Names in ``folder`` that are not the library's hidden files; None if missing."""
    entries = folder_entries(folder)
    if entries is None:
        return None
    return [e.name for e in entries if not e.name.startswith(TEMP_PREFIX)]


def _highest_emptied(root: LocalRoot, folder: str) -> str:
    """The highest folder that holds nothing but the chain down to ``folder``."""
    top = folder
    while True:
        parent = os.path.dirname(top)
        if parent == root.real or not parent.startswith(root.real.rstrip("/") + "/"):
            return top
        if _data_names(parent) != [os.path.basename(top)]:
            return top
        top = parent


def _own_regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _remove_in(root: LocalRoot, folder: str, paths: Sequence[str], fsync: bool) -> int:
    """Delete files of one folder; returns how many existed."""
    lock = FolderLock(folder, make_folder=False) if HAVE_FLOCK else nullcontext(True)
    with lock as held:
        if not held:
            return 0  # no folder, so none of the files exists
        existing = [p for p in paths if _own_regular(p)]
        if not existing:
            return 0
        names = _data_names(folder) or []
        if set(names) <= {os.path.basename(p) for p in existing}:
            top = _highest_emptied(root, folder)
            if _discard(root, top, existing, fsync):
                return len(existing)
        for path in existing:
            try:
                os.unlink(path)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                pass
    if fsync:
        fsync_folder(folder)
    return len(existing)


def _discard(root: LocalRoot, top: str, files: Sequence[str], fsync: bool) -> bool:
    """Rename ``top`` away in one call, then clear it; False if it cannot be moved."""
    trash = os.path.join(root.real, f"{TEMP_PREFIX}{os.urandom(8).hex()}{TRASH_SUFFIX}")
    try:
        os.rename(top, trash)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EBUSY, errno.EPERM, errno.EACCES):
            return False  # a mount point or a protected folder: unlink in place
        raise
    if fsync:
        fsync_folder(os.path.dirname(top))
    for path in files:
        try:
            os.unlink(trash + path[len(top) :])
        except (FileNotFoundError, NotADirectoryError):
            pass
    if not _clear(trash, in_trash=True):
        # Something not ours (or written in the instant before the rename) is in it:
        # put it back where it was, unless a writer has made that folder anew.
        try:
            os.rename(trash, top)
        except OSError:
            pass
    return True


def _clear(folder: str, own_data: bool = False, in_trash: bool = False) -> bool:
    """Remove the library's leftovers in ``folder`` and then the empty folders.

    With ``own_data`` (a dead writer's staging folder, a dead deleter's trash) the
    library's own files go too. Returns whether ``folder`` is gone: it stays if it
    holds someone else's file or a live temp file. ``in_trash``: every temp file
    goes, live or not: a writer whose temp file was moved into the trash can never
    publish it (its rename finds nothing and it starts over, see ``write.write``).
    """
    entries = folder_entries(folder)
    if entries is None:
        return True
    empty = True
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                if not (is_own_name(entry.name) or is_leftover_name(entry.name)) or not _clear(
                    entry.path, own_data, in_trash
                ):
                    empty = False
            elif (
                entry.name == LOCK_NAME
                or (entry.name.endswith(TEMP_SUFFIX) and (in_trash or is_dead_temp(entry.path)))
                or own_data
                and is_own_name(entry.name)
                and entry.is_file(follow_symlinks=False)
            ):
                os.unlink(entry.path)
            else:
                empty = False
        except FileNotFoundError:
            continue
    if not empty:
        return False
    try:
        os.rmdir(folder)
    except FileNotFoundError:
        pass
    except OSError:  # a writer got in meanwhile
        return False
    return True


def remove_files(root: LocalRoot, paths: Sequence[str], fsync: bool) -> int:
    """Delete the library's own files among ``paths`` (real paths); how many existed.

    Raises ``ForeignFolder`` in a root this library does not own. Folders the delete
    empties go with it; a folder that keeps other files stays.
    """
    if not paths or not root.require_owned():
        return 0
    cut = len(root.real.rstrip("/")) + 1
    by_folder: dict[str, list[str]] = {}
    for path in paths:
        if all(is_own_name(part) for part in path[cut:].split("/")):
            by_folder.setdefault(os.path.dirname(path), []).append(path)
    removed = 0
    # Deepest first: a folder is looked at after its sub-folders have gone.
    for folder in sorted(by_folder, key=lambda f: f.count("/"), reverse=True):
        root.check(folder, last=True)
        removed += _remove_in(root, folder, by_folder[folder], fsync)
    return removed


def sweep(root: LocalRoot, folder: str, fsync: bool) -> None:
    """Remove what crashed writers and deleters left below ``folder`` (a real path).

    Dead temp files, staging and trash folders, and folders without data go; a folder
    that holds no data is renamed away first, so it stops being listed at once.
    """
    _sweep_folder(root, folder, fsync, at_top=True)


def _sweep_folder(root: LocalRoot, folder: str, fsync: bool, at_top: bool) -> bool:
    """Sweep ``folder``; returns whether it holds data (own or foreign) afterwards."""
    entries = folder_entries(folder)
    if entries is None:
        return False
    has_data = False
    for entry in entries:
        name = entry.name
        try:
            if entry.is_symlink():
                has_data = True  # not ours: never followed, never removed
            elif name.startswith(TEMP_PREFIX):
                if name.endswith((STAGE_SUFFIX, TRASH_SUFFIX)) and entry.is_dir(
                    follow_symlinks=False
                ):
                    _clear_dead(entry.path)
                elif name.endswith(TEMP_SUFFIX) and is_dead_temp(entry.path):
                    os.unlink(entry.path)
            elif entry.is_dir(follow_symlinks=False) and is_own_name(name):
                if _sweep_folder(root, entry.path, fsync, at_top=False):
                    has_data = True
                else:
                    _discard(root, entry.path, (), fsync)
            else:
                has_data = True
        except FileNotFoundError:
            continue
    return has_data or at_top


def _clear_dead(folder: str) -> None:
    """Clear a staging or trash folder unless a live writer still works in it."""
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            if name.endswith(TEMP_SUFFIX) and not is_dead_temp(os.path.join(dirpath, name)):
                return
    _clear(folder, own_data=True)


# -- the driver's delete operations, on given paths -------------------------------------


def delete_paths(root: LocalRoot, paths: Sequence[str], fsync: bool) -> int:
    """Delete the own files at the given ``paths``; returns how many existed."""
    real = [root.to_real(p) for p in paths]
    for path in real:
        root.check(path, last=False)
    return remove_files(root, real, fsync)


def delete_tree(root: LocalRoot, folder: str, fsync: bool) -> bool:
    """Delete every own file below ``folder``, and what crashed writers left there.

    Returns whether there was any own file. Raises ForeignFolder (see
    :meth:`LocalRoot.require_owned`) in a folder the library did not create as a store.
    """
    real = root.to_real(folder)
    root.check(real, last=True)
    if not root.require_owned():
        return False
    files = [e.path for e in own_entries(real)]
    removed = remove_files(root, files, fsync) if files else 0
    sweep(root, real, fsync)  # what crashed writers left in the session
    return removed > 0


def sweep_store(root: LocalRoot, folder: str, fsync: bool, dry_run: bool) -> None:
    """Before retention deletes below ``folder``: refuse a foreign store, and (unless
    ``dry_run``) remove what crashed writers left."""
    real = root.to_real(folder)
    root.check(real, last=True)
    if root.require_owned() and not dry_run:
        sweep(root, real, fsync)
