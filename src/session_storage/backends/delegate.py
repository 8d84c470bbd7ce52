"""A driver that passes every call to another one: the base of the wrapping drivers.

:class:`CodedDriver` (codecs) and :class:`ObservedDriver` (logging and request
counts) each change a few primitives of the driver they wrap; everything else, the
facts callers read from a driver and the lifecycle, is the wrapped driver's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from ..core.errors import ErrorKind
from .base import ALL_CHILDREN, ChildPage, Driver, ObjectInfo
from .write_ids import UNCONDITIONAL, WriteCondition

__all__ = ["DelegatingDriver"]

# Class-level facts of the wrapped driver's class that callers read from the driver.
_MIRRORED = (
    "backend",
    "name",
    "scheme",
    "needs_bucket",
    "loop_bound",
    "max_key_bytes",
    "max_segment_bytes",
    "capabilities",
    "cheap_listing",
    "accepted_options",
    "remote",
)
# Methods called on every store and load that need nothing of the wrapper.
_PASSED = ("check_length", "endpoint", "url")


class DelegatingDriver(Driver):
    """``inner`` itself, call for call; subclasses change what they wrap."""

    _OWN: tuple[str, ...] = ("inner",)
    """Attribute names of the wrapper itself, never looked up on ``inner``."""

    def __init__(self, inner: Driver) -> None:
        # No Driver.__init__: the options were checked, and the filesystem is opened,
        # by the wrapped driver; this one owns nothing.
        self.inner = inner
        self.root = inner.root
        self.options = inner.options
        self._fs = None
        self._loop = None
        for name in _MIRRORED:
            # Set per instance: the wrapped driver's class decides them, not this one.
            setattr(self, name, getattr(inner, name))
        for name in _PASSED:
            # The wrapped driver's own bound methods: no call of this class's on the way.
            setattr(self, name, getattr(inner, name))

    def __getattr__(self, name: str) -> Any:
        # Anything a particular driver adds (local disk's ``fsync``, ...).
        if name in self._OWN:
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __del__(self) -> None:
        pass  # the wrapped driver warns about its own unclosed filesystem

    @property
    def default_concurrency(self) -> int:
        return self.inner.default_concurrency

    @default_concurrency.setter
    def default_concurrency(self, value: int) -> None:
        self.inner.default_concurrency = value

    @property
    def timeout(self) -> float | None:
        return self.inner.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self.inner.timeout = value

    @staticmethod
    def root_path(url: str) -> str:
        raise NotImplementedError("ask the wrapped driver's class")

    def url(self, path: str) -> str:
        return self.inner.url(path)

    def check_length(self, path: str) -> str | None:
        return self.inner.check_length(path)

    def endpoint(self) -> str | None:
        return self.inner.endpoint()

    @property
    def filesystem(self) -> Any:
        return self.inner.filesystem

    def _open(self) -> Any:
        return self.inner.filesystem

    async def aclose(self) -> None:
        await self.inner.aclose()

    def classify(self, exc: BaseException) -> ErrorKind:
        return self.inner.classify(exc)

    # -- the primitives ------------------------------------------------------------

    async def get(self, path: str) -> tuple[bytes, str | None] | None:
        return await self.inner.get(path)

    async def get_many(
        self, paths: Sequence[str], concurrency: int = 16
    ) -> list[tuple[bytes, str | None] | None]:
        return await self.inner.get_many(paths, concurrency)

    async def get_folder(self, folder: str) -> dict[str, tuple[bytes, str | None]]:
        return await self.inner.get_folder(folder)

    async def put(
        self, path: str, data: bytes, content_type: str, condition: WriteCondition = UNCONDITIONAL
    ) -> str:
        return await self.inner.put(path, data, content_type, condition)

    async def info(self, path: str) -> ObjectInfo | None:
        return await self.inner.info(path)

    def iter_children(
        self, folder: str, page: ChildPage = ALL_CHILDREN
    ) -> AsyncIterator[list[str]]:
        return self.inner.iter_children(folder, page)

    async def list_files(self, folder: str) -> list[str]:
        return await self.inner.list_files(folder)

    def list_file_infos(self, folder: str) -> AsyncIterator[list[tuple[str, ObjectInfo]]]:
        return self.inner.list_file_infos(folder)

    async def has_files(self, folder: str) -> bool:
        return await self.inner.has_files(folder)

    async def delete_file(self, path: str) -> bool:
        return await self.inner.delete_file(path)

    async def delete_files(self, paths: Sequence[str]) -> None:
        await self.inner.delete_files(paths)

    async def sweep(self, folder: str, *, dry_run: bool) -> None:
        await self.inner.sweep(folder, dry_run=dry_run)

    async def delete_tree(self, folder: str) -> bool:
        return await self.inner.delete_tree(folder)
