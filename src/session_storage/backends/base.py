"""The driver interface: the few primitive operations the facade needs from a backend.

A driver wraps one fsspec filesystem and owns its lifecycle. Paths are full backend
paths without the protocol (``bucket/prefix/session/state.json`` on object stores,
``/abs/folder/session/state.json`` on local disk). Drivers know nothing of sessions;
the facade builds every path and translates every error.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from ..concurrency import fork
from ..concurrency.bounded import run_bounded
from ..core.errors import ConfigurationError, ErrorKind, classify_builtin
from .capabilities import Capabilities
from .pages import ALL_CHILDREN, ChildPage, after_folder, key_order
from .registry import Backend
from .write_ids import UNCONDITIONAL, WriteCondition

__all__ = [
    "ALL_CHILDREN",
    "PAGE_SIZE",
    "ChildPage",
    "Driver",
    "ObjectInfo",
    "after_folder",
    "key_order",
]

PAGE_SIZE = 1000
"""Names per listing page: what one S3 ListObjectsV2 request returns at most."""
_NO_LIMIT = sys.maxsize

_INFO_CONCURRENCY = 16
"""Metadata requests in flight at once in the default :meth:`Driver.list_file_infos`."""


_RESERVED_OPTIONS = frozenset({"asynchronous", "skip_instance_cache", "loop"})
"""fsspec options the drivers set themselves; a user's value would clash with theirs."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a backend knows about one stored file."""

    size: int
    modified: datetime
    created: datetime | None
    version: str | None


class Driver(ABC):
    """One backend: opens its filesystem lazily and performs the primitive operations."""

    backend: ClassVar[Backend]
    """This driver's row of the backend table; subclasses set it, and nothing else of it."""
    name: ClassVar[str]
    """Backend name used in metadata and messages: file, memory, s3, gcs, azure."""
    scheme: ClassVar[str]
    """The URL scheme used to show paths to people."""
    needs_bucket: ClassVar[bool] = False
    """Whether a URL must name a bucket (object stores); a folder or memory needs none."""
    loop_bound: ClassVar[bool] = True
    """Whether the filesystem belongs to the event loop that opened it."""
    max_key_bytes: ClassVar[int | None] = None
    """Longest full key the backend accepts, in UTF-8 bytes (None: no fixed limit)."""
    max_segment_bytes: ClassVar[int | None] = None
    """Longest single path segment, in bytes (local file names: 255)."""
    default_concurrency: int = 1
    """How many operations of a batch call run at once unless the caller says.

    One for backends whose operations never wait (memory): running them one after
    another is fastest. Drivers may set it per instance from their options.
    """
    capabilities: Capabilities = Capabilities(
        create_only=False,
        compare_and_swap=False,
        versions="digest",
        atomic_replace=False,
        listing="whole_folder",
        batch_delete=False,
    )
    """What this backend guarantees (see :class:`~.capabilities.Capabilities`).

    Nothing until a driver proves it: the facade refuses a conditional write whose
    condition the backend cannot enforce with NotSupportedError instead of letting it
    silently overwrite. Drivers whose guarantees depend on the protocol set it per
    instance.
    """

    @property
    def supports_conditional_writes(self) -> bool:
        """Whether :meth:`put` enforces both write conditions atomically."""
        return self.capabilities.conditional_writes

    accepted_options: ClassVar[frozenset[str] | None] = None
    """The storage option names this driver honours; any other one is refused.

    ``None``: the options go to a cloud client unchecked (its clients take many
    options, some only through ``**kwargs``, and a wrong refusal would lock a user
    out). Local and memory set it: fsspec's filesystems there accept any keyword and
    ignore the ones they do not know, so a typo would be dropped without a word.
    """

    remote: ClassVar[bool] = False
    """Whether operations wait on a network peer, and so get the storage's deadline.

    Memory never waits, and local disk refuses what could block (FIFOs, devices);
    a thread blocked in a system call could not be stopped by a deadline anyway.
    """

    timeout: float | None = None
    """The storage's per-operation deadline in seconds; cloud drivers give it to their
    client as connect and read timeout, so no socket waits longer than the caller."""

    cheap_listing: ClassVar[bool] = False
    """Whether listing a folder costs about as little as reading a file (in-process
    stores): readers may then list and read a whole folder rather than walk it file by
    file."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "backend" in cls.__dict__:
            cls.name = cls.backend.name
            cls.scheme = cls.backend.scheme

    def __init__(self, root: str, options: Mapping[str, Any]) -> None:
        self.root = root
        """The backend path of the storage's root (see :meth:`root_path`); narrowed
        storages share the driver and have roots below it."""
        self.options = dict(options)
        self._check_options()
        self._fs: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        fork.track(self)

    @classmethod
    def for_url(cls, url: str, root: str, options: Mapping[str, Any]) -> Driver:
        """The driver of ``url`` (whose backend path is ``root``); no I/O."""
        return cls(root, options)

    def _check_options(self) -> None:
        """Raise ConfigurationError naming an option not in :attr:`accepted_options`."""
        reserved = sorted(set(self.options) & _RESERVED_OPTIONS)
        if reserved:
            # The driver sets these itself: its filesystem must be async and its own.
            raise ConfigurationError(
                f"storage option{'s' if len(reserved) > 1 else ''} "
                f"{', '.join(map(repr, reserved))} cannot be set for the {self.name} "
                "backend: the library opens its filesystem asynchronous and uncached",
                backend=self.name,
                url=self.url(self.root),
            )
        accepted = self.accepted_options
        unknown = sorted(set(self.options) - accepted) if accepted is not None else []
        if unknown:
            takes = ", ".join(sorted(accepted or ())) or "no options"
            raise ConfigurationError(
                f"unknown storage option{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(repr, unknown))} for the {self.name} backend; "
                f"it accepts {takes}",
                backend=self.name,
                url=self.url(self.root),
            )

    @staticmethod
    @abstractmethod
    def root_path(url: str) -> str:
        """The backend path of a URL's root (protocol stripped, no trailing ``/``)."""

    def url(self, path: str) -> str:
        """A backend path as a URL that ``SessionStorage`` accepts."""
        return f"{self.scheme}://{path.lstrip('/')}"

    def check_length(self, path: str) -> str | None:
        """Why ``path`` is too long for this backend, or ``None`` if it fits.

        Encoded paths are ASCII, so characters and bytes count the same.
        """
        # The common case costs one comparison: no part of a path outgrows the path.
        if len(path) <= min(self.max_segment_bytes or _NO_LIMIT, self.max_key_bytes or _NO_LIMIT):
            return None
        if self.max_segment_bytes is not None:
            longest = max(path.split("/"), key=len)
            if len(longest) > self.max_segment_bytes:
                return (
                    f"an encoded path segment of {len(longest)} bytes exceeds "
                    f"the limit of {self.max_segment_bytes}"
                )
        if self.max_key_bytes is not None:
            key = path.lstrip("/").partition("/")[2]  # the part after the bucket
            if len(key) > self.max_key_bytes:
                return (
                    f"the encoded key of {len(key)} bytes exceeds the limit of {self.max_key_bytes}"
                )
        return None

    @property
    def filesystem(self) -> Any:
        """The fsspec filesystem, opened in the running event loop on first use.

        fsspec async filesystems hold sessions tied to the loop that created them; a
        storage used under a new loop (``asyncio.run`` twice) gets a fresh one.
        """
        loop = asyncio.get_running_loop() if self.loop_bound else None
        if self._fs is None or (self.loop_bound and self._loop is not loop):
            if self._fs is not None:
                self._retire(self._fs, self._loop)
            self._fs = self._open()
            self._loop = loop
        return self._fs

    @abstractmethod
    def _open(self) -> Any:
        """Create the filesystem. Called inside the running loop; no I/O here."""

    def missing_storage(self, path: str) -> str | None:
        """What is missing when a call on ``path`` found no bucket or container, in
        place of the service's own words (obstore's end in the raw XML reply); None
        for a backend without buckets."""
        if not self.needs_bucket:
            return None
        noun = "container" if self.name == "azure" else "bucket"
        return f"the {noun} {path.lstrip('/').split('/', 1)[0]!r} does not exist"

    def endpoint(self) -> str | None:
        """The base URL of the service this driver talks to, if it knows it (an
        emulator's or a custom endpoint's); None for local disk and memory. Only for
        the diagnosis of a failed connection (see :mod:`.probe`)."""
        return None

    async def aclose(self) -> None:
        """Release the filesystem's connections; the next call opens a new one.

        A filesystem with no connections (local, memory) stays as it is: memory's
        store lives in it.
        """
        if not self.loop_bound:
            return
        fs, self._fs = self._fs, None
        loop, self._loop = self._loop, None
        if fs is None:
            return
        if loop is not asyncio.get_running_loop():
            self._retire(fs, loop)
            return
        await self._close(fs)

    def after_fork_in_child(self) -> None:
        """In a forked child: drop the filesystem opened in the parent.

        Its connections are the parent's (a request sent on one here would mix with
        the parent's on the same socket) and its event loop runs there, not here; the
        next call opens a new one, as after :meth:`aclose`. The child's copies of the
        sockets are closed, which leaves the parent's open. A filesystem with no
        connections (local, memory: its store lives in it) stays as it is.
        """
        if not self.loop_bound:
            return
        fs, self._fs = self._fs, None
        loop, self._loop = self._loop, None
        if loop is not None:
            fork.disown_loop(loop)  # first: closing the sockets must not touch its selector
        if fs is not None and (loop is None or loop.is_closed()):
            self._abandon(fs)

    def _unreleased(self) -> bool:
        """Whether this driver opened connections that nobody released yet."""
        return self.loop_bound and self._fs is not None

    def __del__(self) -> None:
        # Like aiohttp's "Unclosed client session": a network filesystem was opened and
        # its storage dropped without aclose()/close(); its connections leak until exit.
        try:
            if self._unreleased():
                warnings.warn(
                    f"unclosed {self.name} storage: its connections were never released; "
                    "use `async with`, aclose(), or close() on a SyncSessionStorage",
                    ResourceWarning,
                    # Raised from __del__: no caller frame to point at.
                    stacklevel=1,
                    source=self,
                )
        except Exception:  # noqa: BLE001, S110 - interpreter teardown: modules may be gone
            pass

    def _retire(self, fs: Any, loop: asyncio.AbstractEventLoop | None) -> None:
        """Close ``fs``, which belongs to ``loop``, from outside that loop."""
        if loop is not None and loop.is_running():
            # Another thread runs it: let that loop close its own connections.
            asyncio.run_coroutine_threadsafe(self._close(fs), loop)
        else:
            # Ended, or stopped: nothing can be awaited on it and nothing uses it.
            self._abandon(fs)

    async def _close(self, fs: Any) -> None:
        """Close ``fs``; the default has nothing to release."""

    def _abandon(self, fs: Any) -> None:
        """Drop ``fs`` whose event loop is gone, closing what can be closed without it."""

    def classify(self, exc: BaseException) -> ErrorKind:
        """What kind of failure ``exc`` is; backends add their clients' exceptions."""
        return classify_builtin(exc)

    # -- the primitives ------------------------------------------------------------

    @abstractmethod
    async def get(self, path: str) -> tuple[bytes, str | None] | None:
        """The bytes and version of a file in one request, or ``None`` if missing."""

    async def get_many(
        self, paths: Sequence[str], concurrency: int = _INFO_CONCURRENCY
    ) -> list[tuple[bytes, str | None] | None]:
        """What :meth:`get` gives for each of ``paths``, in order (``None`` if missing).

        This default makes the calls concurrently, at most ``concurrency`` at once,
        raising the first failure; local disk reads them all in one thread hop.
        """
        found: list[tuple[bytes, str | None] | None] = [None] * len(paths)

        async def one(i: int) -> None:
            found[i] = await self.get(paths[i])

        await run_bounded(one, range(len(paths)), concurrency)
        return found

    async def get_folder(self, folder: str) -> dict[str, tuple[bytes, str | None]]:
        """Every file directly in ``folder``, by full path, as :meth:`get` gives it (none
        for a missing folder, nor for one deleted in between).

        This default lists, then calls :meth:`get_many`; local disk (see
        :attr:`cheap_listing`) does it all in one worker-thread hop.
        """
        cut = len(folder) + 1
        paths = [p for p in await self.list_files(folder) if "/" not in p[cut:]]
        found = await self.get_many(paths)
        return {path: got for path, got in zip(paths, found, strict=True) if got is not None}

    @abstractmethod
    async def put(
        self, path: str, data: bytes, content_type: str, condition: WriteCondition = UNCONDITIONAL
    ) -> str:
        """Write a file atomically in one request, if ``condition`` holds; returns its new
        version. A failed condition raises ``FileExistsError`` having written nothing
        (see :class:`~.write_ids.WriteCondition`)."""

    @abstractmethod
    async def info(self, path: str) -> ObjectInfo | None:
        """Size, times and version of a file, or ``None`` if missing."""

    @abstractmethod
    def iter_children(
        self, folder: str, page: ChildPage = ALL_CHILDREN
    ) -> AsyncIterator[list[str]]:
        """Pages of the names of the folders directly under ``folder`` that ``page``
        wants (see :class:`ChildPage`), in key order; each holds at most
        :data:`PAGE_SIZE` names, and a missing folder has none."""

    @abstractmethod
    async def list_files(self, folder: str) -> list[str]:
        """Full paths of every file below ``folder``, nested ones included."""

    async def list_file_infos(self, folder: str) -> AsyncIterator[list[tuple[str, ObjectInfo]]]:
        """Pages of ``(path, info)`` for every file below ``folder``, nested ones included.

        The same files as :meth:`list_files`, in no particular order; nothing for a
        missing folder. This default lists the paths and then asks :meth:`info` for
        each (a bounded number at a time), so it works on any backend; a file deleted
        in between is left out. Backends whose listing already returns sizes and times
        (S3's ListObjectsV2, a local directory scan) override it with one pass.
        """
        paths = await self.list_files(folder)

        infos: dict[str, ObjectInfo | None] = {}

        async def one(path: str) -> None:
            infos[path] = await self.info(path)

        for i in range(0, len(paths), PAGE_SIZE):
            infos.clear()
            await run_bounded(one, paths[i : i + PAGE_SIZE], _INFO_CONCURRENCY)
            page = [(path, info) for path, info in infos.items() if info is not None]
            if page:
                yield page

    @abstractmethod
    async def has_files(self, folder: str) -> bool:
        """Whether any file lives below ``folder``."""

    @abstractmethod
    async def delete_file(self, path: str) -> bool:
        """Delete one file; returns whether it existed.

        Folder-based backends also remove the folders the delete left empty, up to
        but not including :attr:`root`: an object store has no empty folders either.
        """

    @abstractmethod
    async def delete_files(self, paths: Sequence[str]) -> None:
        """Delete many files, in as few requests as the backend allows.

        Files already missing are skipped; emptied folders go as in :meth:`delete_file`.
        """

    async def sweep(self, folder: str, *, dry_run: bool) -> None:
        """Before retention deletes below ``folder``: refuse if deleting there is not
        allowed, and (unless ``dry_run``) remove what crashed writers left behind.

        The default does nothing: object stores leave no temp files.
        """

    async def delete_tree(self, folder: str) -> bool:
        """Delete every file below ``folder``; returns whether there was any."""
        paths = await self.list_files(folder)
        if not paths:
            return False
        await self.delete_files(paths)
        return True
