"""Local disk: the driver, each operation one worker-thread hop into the modules below.

A read of a small file the kernel holds in memory is the exception: it runs on the
caller's thread, with no hop (:mod:`.inline`).

- :mod:`.paths`: the store root, its marker file, and the path checks (no link
  below the root is followed; only the library's own names count).
- :mod:`.read`: reads, stats and listings.
- :mod:`.inline`: small reads without a hop, when the page cache can answer.
- :mod:`.write`: atomic writes by temp file and rename, and conditional writes.
- :mod:`.delete`: deletes only of own files in a marked store, and the sweep of
  what crashed writers left.
- :mod:`.locking`: the per-folder ``flock`` that writes and deletes share.
"""

from __future__ import annotations

import asyncio
import concurrent.futures.thread as futures_thread
import errno
import os
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, TypeVar

import anyio.lowlevel
import anyio.to_thread
from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper
from fsspec.implementations.local import LocalFileSystem

from ...core.errors import ConfigurationError, ErrorKind, classify_builtin
from ..base import ALL_CHILDREN, PAGE_SIZE, ChildPage, Driver, ObjectInfo
from ..capabilities import Capabilities, conditions_instead
from ..registry import FILE
from ..write_ids import UNCONDITIONAL, WriteCondition
from .delete import delete_paths, delete_tree, sweep_store
from .inline import WOULD_BLOCK, InlineReads
from .locking import HAVE_FLOCK
from .paths import ForeignFolder, LocalRoot, NameClash, UnsafePath
from .read import (
    child_folders,
    has_files,
    read_file,
    read_files,
    read_folder,
    stat_file,
    walk_files,
    walk_infos,
)
from .write import write

__all__ = ["LocalDriver"]

T = TypeVar("T")


def _path_max() -> int:
    """The longest path the OS takes (4096 on Linux, 1024 on macOS), NUL included."""
    try:
        return os.pathconf("/", "PC_PATH_MAX")
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows), or no answer
        return 4096


# A write goes through a temp file (".<16 hex>.tmp", 21 characters) in a staging
# folder (".<16 hex>.stage", 23) standing in for a missing folder: up to 42
# characters longer than the file's own path.
_PATH_LIMIT = _path_max() - 64


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run one blocking call in a worker thread: every operation costs one hop.

    Under asyncio this is the loop's default executor, whose hop costs about a
    quarter less than anyio's worker threads (measured: ~115 us against ~150 us on a
    2-core VM), and the hop is most of what a small local load or store costs.
    Other event loops (trio) get anyio's threads. A cancelled caller stops waiting;
    the call itself runs to its end, so a write still lands whole or not at all.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return await anyio.to_thread.run_sync(fn, *args)
    try:
        return await loop.run_in_executor(None, fn, *args)
    except RuntimeError:
        # "cannot schedule new futures after interpreter shutdown": saves drained at
        # exit would be lost; a few milliseconds of blocking the loop is the lesser harm.
        if not sys.is_finalizing() and not _executor_shut_down(loop):
            raise
        return fn(*args)


async def _checkpoint() -> None:
    """Let every other ready task run once (one turn of the loop, a few microseconds)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        await anyio.lowlevel.checkpoint()
    else:
        await asyncio.sleep(0)


def _executor_shut_down(loop: asyncio.AbstractEventLoop) -> bool:
    return bool(getattr(futures_thread, "_shutdown", False)) or bool(
        getattr(getattr(loop, "_default_executor", None), "_shutdown", False)
    )


class LocalDriver(Driver):
    """Files in a local folder. Each blocking call runs in one worker-thread hop.

    A load of a small file the page cache holds is read on the caller's thread instead
    (about 10 us against a 70 us hop); one that might wait for the disk still hops.

    Storage option ``fsync`` (default True): fsync each written file before its
    rename and its folder after it, so that a stored state survives a power loss,
    not only a crash of the process. False skips both (faster; see the benchmarks).
    Any other option raises ConfigurationError: fsspec's ``auto_mkdir`` among them,
    since the driver writes with ``os`` and always makes the folders it needs, so
    ``auto_mkdir=False`` could not be honoured.
    """

    backend = FILE
    loop_bound = False
    max_segment_bytes = 255
    # Enough to keep the loop's default executor (min(32, cores + 4) threads) busy;
    # more would only queue for its threads.
    default_concurrency = 8
    capabilities = Capabilities(
        create_only=HAVE_FLOCK,
        compare_and_swap=HAVE_FLOCK,
        versions="native",
        atomic_replace=True,  # a temp file in the same folder, then os.replace
        listing="whole_folder",
        batch_delete=False,
        notes="flock on the folder around check and os.replace of a temp file",
        instead="" if HAVE_FLOCK else conditions_instead("file"),
    )
    accepted_options = frozenset({"fsync"})
    cheap_listing = True

    def __init__(self, root: str, options: Mapping[str, Any]) -> None:
        super().__init__(root, options)
        fsync = self.options.pop("fsync", True)
        if not isinstance(fsync, bool):
            raise ConfigurationError(
                f"storage option fsync must be true or false, got {fsync!r}",
                backend=self.name,
                url=self.url(root),
            )
        self.fsync = fsync
        # The driver keeps the root it was created with (narrowed storages share it
        # and pass paths below it). LocalRoot resolves its real path on first use.
        self._local = LocalRoot(root)
        self._inline = InlineReads(self._local)

    @staticmethod
    def root_path(url: str) -> str:
        scheme, sep, rest = url.partition(":")
        if sep and scheme.lower() in FILE.schemes and rest.strip() in ("", "//"):
            # "file://" and "file:" would mean the current folder: a project folder,
            # say, where a retention run would delete whatever looks like a session.
            raise ConfigurationError(
                f"local storage URL {url!r} names no folder; give one "
                f"(for the current folder say so: './sessions' or 'file:///abs/path')"
            )
        path = LocalFileSystem._strip_protocol(url)
        return os.path.abspath(os.path.expanduser(path)).rstrip("/") or "/"

    def url(self, path: str) -> str:
        return f"{self.scheme}://{path}"  # an absolute path keeps its leading "/"

    def check_length(self, path: str) -> str | None:
        reason = super().check_length(path)
        if reason is None and len(os.fsencode(path)) > _PATH_LIMIT:
            reason = (
                f"the path of {len(os.fsencode(path))} bytes exceeds the {_PATH_LIMIT} "
                "this file system takes (its PATH_MAX, less room for temp names)"
            )
        return reason

    def classify(self, exc: BaseException) -> ErrorKind:
        if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
            # A name or path the file system cannot hold (a limit below the ones
            # check_length knows, such as an encrypted home's 143-byte names).
            return "clash"
        if isinstance(exc, ForeignFolder):
            return "foreign"
        if isinstance(exc, UnsafePath):
            return "unsafe"
        if isinstance(exc, NameClash):
            return "clash"
        if isinstance(exc, FileNotFoundError):
            # A missing file is None/False before this point and a local root has no
            # bucket to be missing: never blame one.
            return "other"
        return classify_builtin(exc)

    def _open(self) -> Any:
        # Exposed as ``SessionStorage.filesystem`` for raw access; the primitives
        # below use os directly because fsspec's local pipe_file is not atomic.
        # Every option is the driver's own (see accepted_options): none goes to fsspec.
        return AsyncFileSystemWrapper(LocalFileSystem(auto_mkdir=True), asynchronous=True)

    async def get(self, path: str) -> tuple[bytes, str | None] | None:
        # A small file the page cache holds is read here, without a hop (see .inline).
        # The load still lets other tasks run first, as a hop did: a task polling a
        # state in a loop must not starve the task that changes it.
        await _checkpoint()
        got = self._inline.read(path)
        if got is not WOULD_BLOCK:
            return got
        return await _in_thread(read_file, self._local, path)

    async def get_many(
        self, paths: Sequence[str], concurrency: int = 16
    ) -> list[tuple[bytes, str | None] | None]:
        # One hop for all: reading a small file costs far less than a hop, and hops run
        # at once only contend for the interpreter lock.
        return await _in_thread(read_files, self._local, list(paths))

    async def get_folder(self, folder: str) -> dict[str, tuple[bytes, str | None]]:
        return await _in_thread(read_folder, self._local, folder)

    async def put(
        self, path: str, data: bytes, content_type: str, condition: WriteCondition = UNCONDITIONAL
    ) -> str:
        # No lost replies here: ``verify_own`` has nothing to verify.
        if condition.conditional and not HAVE_FLOCK:
            raise NotImplementedError("conditional writes on local disk need flock")
        if_version, if_absent = condition.if_version, condition.if_absent
        return await _in_thread(
            write, self._local, path, data, if_version, if_absent, HAVE_FLOCK, self.fsync
        )

    async def info(self, path: str) -> ObjectInfo | None:
        return await _in_thread(stat_file, self._local, path)

    async def iter_children(
        self, folder: str, page: ChildPage = ALL_CHILDREN
    ) -> AsyncIterator[list[str]]:
        # One thread hop reads the whole folder: a directory has no order to resume
        # from, so reading it again per page would cost a full scan per page.
        keys = await _in_thread(child_folders, self._local, folder, page)
        for i in range(0, len(keys), PAGE_SIZE):
            yield [key[:-1] for key in keys[i : i + PAGE_SIZE]]

    async def list_files(self, folder: str) -> list[str]:
        return await _in_thread(walk_files, self._local, folder)

    async def list_file_infos(self, folder: str) -> AsyncIterator[list[tuple[str, ObjectInfo]]]:
        found = await _in_thread(walk_infos, self._local, folder)
        for i in range(0, len(found), PAGE_SIZE):
            yield found[i : i + PAGE_SIZE]

    async def has_files(self, folder: str) -> bool:
        return await _in_thread(has_files, self._local, folder)

    async def delete_file(self, path: str) -> bool:
        return await _in_thread(delete_paths, self._local, [path], self.fsync) > 0

    async def delete_files(self, paths: Sequence[str]) -> None:
        await _in_thread(delete_paths, self._local, paths, self.fsync)

    async def delete_tree(self, folder: str) -> bool:
        return await _in_thread(delete_tree, self._local, folder, self.fsync)

    async def sweep(self, folder: str, *, dry_run: bool) -> None:
        await _in_thread(sweep_store, self._local, folder, self.fsync, dry_run)
