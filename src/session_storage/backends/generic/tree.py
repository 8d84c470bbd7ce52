"""Upkeep of a folder tree: listing a folder, removing the folders a delete empties, and
sweeping what writers that died left behind (see :func:`.files.is_dead_temp`).

An object store has no empty folders; a filesystem of folders keeps them, and an empty
session folder would list as a session without data. Each function takes the blocking
filesystem and runs in the driver's worker thread.
"""

from __future__ import annotations

import posixpath
import time
from typing import Any

from .files import is_dead_temp, missing_error, remove_folder

__all__ = ["entries", "prune", "quietly_remove", "sweep"]


def entries(fs: Any, folder: str) -> list[dict[str, Any]]:
    """What ``folder`` holds, fresh from the server (fsspec's listing cache dropped);
    ``[]`` if it is missing."""
    fs.invalidate_cache()
    try:
        listed: list[dict[str, Any]] = fs.ls(folder, detail=True)
    except Exception as exc:
        if missing_error(exc):
            return []
        raise
    return listed


def quietly_remove(fs: Any, path: str) -> None:
    """Remove the file at ``path`` if it is still there."""
    try:
        fs.rm_file(path)
    except Exception:  # noqa: BLE001, S110 - already renamed away, or gone
        pass


def _dead_temps(listed: list[dict[str, Any]], backend: str) -> list[str]:
    now = time.time()
    return [
        str(entry["name"])
        for entry in listed
        if is_dead_temp(posixpath.basename(str(entry["name"])), entry, backend, now)
    ]


def prune(fs: Any, root: str, folder: str, backend: str) -> None:
    """Remove ``folder`` and its parents while empty, up to (not including) ``root``.

    Temp files of dead writers do not keep a folder: they go with it.
    """
    root = root.rstrip("/")
    while folder and folder.rstrip("/") != root and folder.startswith(root):
        try:
            listed = entries(fs, folder)
            dead = _dead_temps(listed, backend)
            if len(dead) < len(listed):
                return
            for path in dead:
                quietly_remove(fs, path)
            remove_folder(fs, folder)
        except Exception:  # noqa: BLE001 - refilled meanwhile, or no folders at all
            return
        folder = posixpath.dirname(folder)


def sweep(fs: Any, root: str, folder: str, backend: str) -> None:
    """Remove the temp files of dead writers below ``folder``, and the folders they
    alone kept (a first write into a new session that died leaves both)."""
    fs.invalidate_cache()
    try:
        found: dict[str, dict[str, Any]] = fs.find(folder, detail=True)
    except Exception as exc:
        if missing_error(exc):
            return
        raise
    now, emptied = time.time(), set()
    for path, info in found.items():
        if is_dead_temp(posixpath.basename(path), info, backend, now):
            quietly_remove(fs, path)
            emptied.add(posixpath.dirname(path))
    for parent in sorted(emptied, key=len, reverse=True):
        prune(fs, root, parent, backend)
