"""In-process memory, on fsspec's MemoryFileSystem with a store private to the storage."""

from __future__ import annotations

import itertools
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper
from fsspec.implementations.memory import MemoryFile, MemoryFileSystem

from ..core.document import fitted
from .base import ALL_CHILDREN, PAGE_SIZE, ChildPage, Driver, ObjectInfo
from .capabilities import CONDITIONAL
from .registry import MEMORY
from .write_ids import UNCONDITIONAL, WriteCondition

__all__ = ["MemoryDriver"]


class _MemoryFileSystem(MemoryFileSystem):  # type: ignore[misc]
    """fsspec's memory filesystem, with a store of its own unless ``global_store``.

    ``MemoryFileSystem(global_store=False)`` exists only from fsspec 2026.9; older
    releases take the keyword as a plain storage option and every instance keeps
    sharing the one class-level dict. Giving the instance its own ``store`` and
    ``pseudo_dirs`` here is what fsspec's own implementation does, so it holds on
    every release the package allows.
    """

    def __init__(self, *args: Any, global_store: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, global_store=global_store, **kwargs)
        if not global_store:
            self.store: dict[str, MemoryFile] = {}
            self.pseudo_dirs: list[str] = [""]


class MemoryDriver(Driver):
    """A dict in this process.

    Each storage gets its own store (fsspec's default store is one global dict, which
    would leak sessions between storages and between tests); narrowed views share
    their parent's. Pass ``storage_options={"global_store": True}`` to share fsspec's;
    any other option raises ConfigurationError (fsspec would ignore it silently).

    The primitives touch the store directly: nothing here blocks, so a thread hop
    would only add latency, and fsspec's ``pipe_file`` checks every parent folder
    against the whole store, which makes filling it quadratic.
    """

    backend = MEMORY
    loop_bound = False
    capabilities = replace(
        CONDITIONAL,
        listing="whole_folder",
        notes="check and write under one lock in this process",
    )
    accepted_options = frozenset({"global_store"})

    def __init__(self, root: str, options: Mapping[str, Any]) -> None:
        super().__init__(root, options)
        # The version of each file, with the file object it belongs to: a file that
        # someone replaced through the fsspec filesystem itself is a new object, and
        # gets a new version the first time we look at it.
        self._versions: dict[str, tuple[MemoryFile, str]] = {}
        self._counter = itertools.count(1)
        self._lock = threading.RLock()

    def _version(self, path: str, f: MemoryFile) -> str:
        with self._lock:
            known = self._versions.get(path)
            if known is not None and known[0] is f:
                return known[1]
            version = str(next(self._counter))
            self._versions[path] = (f, version)
            return version

    @staticmethod
    def root_path(url: str) -> str:
        path = url.removeprefix("memory://").strip("/")
        return "/" + path

    def _open(self) -> Any:
        options = {"global_store": False, **self.options}
        sync_fs = _MemoryFileSystem(skip_instance_cache=True, **options)
        return AsyncFileSystemWrapper(sync_fs, asynchronous=True)

    @property
    def _store(self) -> dict[str, MemoryFile]:
        store: dict[str, MemoryFile] = self.filesystem.sync_fs.store
        return store

    def after_fork_in_child(self) -> None:
        """In a forked child: a lock of its own (a thread of the parent may have held
        the inherited one, and nothing here would ever release it); the store itself is
        the child's copy, and stays."""
        self._lock = threading.RLock()
        super().after_fork_in_child()

    async def get(self, path: str) -> tuple[bytes, str | None] | None:
        f = self._store.get(path)
        if f is None:
            return None
        return f.getvalue(), self._version(path, f)

    async def put(
        self, path: str, data: bytes, content_type: str, condition: WriteCondition = UNCONDITIONAL
    ) -> str:
        # No lost replies here: ``verify_own`` has nothing to verify.
        # The lock makes check-and-write one step for callers on other threads and
        # event loops; within one loop nothing here awaits, so nothing interleaves.
        with self._lock:
            current = self._store.get(path)
            wanted = condition.if_version
            if (condition.if_absent and current is not None) or (
                wanted is not None and (current is None or self._version(path, current) != wanted)
            ):
                raise FileExistsError(f"precondition failed for {path}")
            # Kept as long as the file: a body fresh from orjson would keep its whole
            # build buffer with it (see fitted).
            f = MemoryFile(self.filesystem.sync_fs, path, fitted(data))
            f.commit()
            return self._version(path, f)

    async def info(self, path: str) -> ObjectInfo | None:
        f = self._store.get(path)
        return None if f is None else self._object_info(path, f)

    def _object_info(self, path: str, f: MemoryFile) -> ObjectInfo:
        return ObjectInfo(
            size=f.size, modified=f.modified, created=f.created, version=self._version(path, f)
        )

    def _children(self, folder: str, page: ChildPage) -> list[str]:
        """Folder names under ``folder`` in key order, each followed by ``/``."""
        head = folder + "/" + page.prefix
        cut = len(folder) + 1
        after = page.after_key
        keys = {
            rest[: rest.index("/") + 1]
            for key in tuple(self._store)
            if key.startswith(head) and "/" in (rest := key[cut:])
        }
        if after:
            keys = {k for k in keys if k > after}
        return page.first(keys)

    async def iter_children(
        self, folder: str, page: ChildPage = ALL_CHILDREN
    ) -> AsyncIterator[list[str]]:
        keys = self._children(folder, page)
        for i in range(0, len(keys), PAGE_SIZE):
            yield [key[:-1] for key in keys[i : i + PAGE_SIZE]]

    async def list_files(self, folder: str) -> list[str]:
        head = folder + "/"
        return [key for key in tuple(self._store) if key.startswith(head)]

    async def list_file_infos(self, folder: str) -> AsyncIterator[list[tuple[str, ObjectInfo]]]:
        head = folder + "/"
        found = [
            (key, self._object_info(key, f))
            for key, f in tuple(self._store.items())
            if key.startswith(head)
        ]
        for i in range(0, len(found), PAGE_SIZE):
            yield found[i : i + PAGE_SIZE]

    async def has_files(self, folder: str) -> bool:
        head = folder + "/"
        return any(key.startswith(head) for key in tuple(self._store))

    async def delete_file(self, path: str) -> bool:
        with self._lock:
            self._versions.pop(path, None)
            return self._store.pop(path, None) is not None

    async def delete_files(self, paths: Sequence[str]) -> None:
        store = self._store
        with self._lock:
            for path in paths:
                store.pop(path, None)
                self._versions.pop(path, None)
