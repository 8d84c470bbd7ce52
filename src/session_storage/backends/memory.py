"""In-process memory, on fsspec's MemoryFileSystem with a store private to the storage."""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper
from fsspec.implementations.memory import MemoryFile, MemoryFileSystem

from .base import PAGE_SIZE, Driver, ObjectInfo, key_order

__all__ = ["MemoryDriver"]


class MemoryDriver(Driver):
    """A dict in this process.

    Each storage gets its own store (fsspec's default store is one global dict, which
    would leak sessions between storages and between tests); narrowed views share
    their parent's. Pass ``storage_options={"global_store": True}`` to share fsspec's.

    The primitives touch the store directly: nothing here blocks, so a thread hop
    would only add latency, and fsspec's ``pipe_file`` checks every parent folder
    against the whole store, which makes filling it quadratic.
    """

    name = "memory"
    scheme = "memory"
    loop_bound = False

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self._versions: dict[str, str] = {}
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    @staticmethod
    def root_path(url: str) -> str:
        path = url.removeprefix("memory://").strip("/")
        return "/" + path

    def _open(self) -> Any:
        options = {"global_store": False, **self.options}
        sync_fs = MemoryFileSystem(skip_instance_cache=True, **options)
        return AsyncFileSystemWrapper(sync_fs, asynchronous=True)

    @property
    def _store(self) -> dict[str, MemoryFile]:
        store: dict[str, MemoryFile] = self.filesystem.sync_fs.store
        return store

    async def get(self, path: str) -> tuple[bytes, str | None] | None:
        f = self._store.get(path)
        if f is None:
            return None
        return f.getvalue(), self._versions.get(path)

    async def put(
        self,
        path: str,
        data: bytes,
        content_type: str,
        *,
        if_version: str | None = None,
        if_absent: bool = False,
    ) -> str:
        # The lock makes check-and-write one step for callers on other threads and
        # event loops; within one loop nothing here awaits, so nothing interleaves.
        with self._lock:
            exists = path in self._store
            if (if_absent and exists) or (
                if_version is not None and (not exists or self._versions.get(path) != if_version)
            ):
                raise FileExistsError(f"precondition failed for {path}")
            MemoryFile(self.filesystem.sync_fs, path, data).commit()
            version = self._versions[path] = str(next(self._counter))
        return version

    async def info(self, path: str) -> ObjectInfo | None:
        f = self._store.get(path)
        if f is None:
            return None
        return ObjectInfo(
            size=f.size, modified=f.modified, created=f.created, version=self._versions.get(path)
        )

    def _children(
        self, folder: str, prefix: str, start_after: str | None, limit: int | None
    ) -> list[str]:
        """Folder names under ``folder`` in key order, each followed by ``/``."""
        head = folder.rstrip("/") + "/" + prefix
        cut = len(folder.rstrip("/")) + 1
        after = key_order(start_after) if start_after is not None else ""
        keys = {
            rest[: rest.index("/") + 1]
            for key in tuple(self._store)
            if key.startswith(head) and "/" in (rest := key[cut:])
        }
        if after:
            keys = {k for k in keys if k > after}
        if limit is not None:
            return heapq.nsmallest(limit, keys)
        return sorted(keys)

    async def iter_children(
        self,
        folder: str,
        prefix: str = "",
        start_after: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[list[str]]:
        keys = self._children(folder, prefix, start_after, limit)
        for i in range(0, len(keys), PAGE_SIZE):
            yield [key[:-1] for key in keys[i : i + PAGE_SIZE]]

    async def list_files(self, folder: str) -> list[str]:
        head = folder.rstrip("/") + "/"
        return [key for key in tuple(self._store) if key.startswith(head)]

    async def has_files(self, folder: str) -> bool:
        head = folder.rstrip("/") + "/"
        return any(key.startswith(head) for key in tuple(self._store))

    async def delete_file(self, path: str, root: str) -> bool:
        with self._lock:
            self._versions.pop(path, None)
            return self._store.pop(path, None) is not None

    async def delete_files(self, paths: Sequence[str], root: str) -> None:
        store = self._store
        with self._lock:
            for path in paths:
                store.pop(path, None)
                self._versions.pop(path, None)
