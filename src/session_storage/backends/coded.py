"""A driver that encodes every body it writes and decodes every body it reads.

:class:`CodedDriver` wraps the storage's real driver when ``encryption_keys`` or
``compression`` are configured (see :mod:`session_storage.codecs.envelope`). Only
:meth:`get` and :meth:`put` move bodies, so only they change: states, bytes files,
event-log objects, idempotency markers and whatever the integrations store all pass
through them. Versions, write conditions, listings, deletes and the number of
requests are the wrapped driver's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import Any

from ..codecs.compression import Compression
from ..codecs.encryption import Keyring
from ..codecs.envelope import Codec, UnknownKeyIdError, UnreadableObjectError
from ..core.errors import ErrorKind
from .base import ALL_CHILDREN, ChildPage, Driver, ObjectInfo
from .write_ids import UNCONDITIONAL, WriteCondition

__all__ = ["CodedDriver", "codec_of", "with_codecs"]


def with_codecs(driver: Driver, keys: Keyring | None, compression: Compression | None) -> Driver:
    """``driver`` itself without codecs configured (every byte as before), else wrapped
    so that every body it reads and writes passes the codecs."""
    if keys is None and compression is None:
        return driver
    return CodedDriver(driver, Codec(driver.root, keys, compression))


def codec_of(driver: Driver) -> Codec | None:
    """The codec every body of ``driver`` passes through; ``None`` for a driver without
    codecs."""
    return driver.codec if isinstance(driver, CodedDriver) else None


# Class-level facts of the wrapped driver's class that callers read from the driver.
_MIRRORED = (
    "backend",
    "name",
    "scheme",
    "needs_bucket",
    "loop_bound",
    "max_key_bytes",
    "max_segment_bytes",
    "supports_conditional_writes",
    "cheap_listing",
    "accepted_options",
    "remote",
)
# Methods called on every store and load that need nothing of the codecs.
_PASSED = ("check_length", "endpoint", "url")


class CodedDriver(Driver):
    """``inner`` with every body passed through ``codec``."""

    def __init__(self, inner: Driver, codec: Codec) -> None:
        # No Driver.__init__: the options were checked, and the filesystem is opened,
        # by the wrapped driver; this one owns nothing.
        self.inner = inner
        self.codec = codec
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
        if name in ("inner", "codec"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"CodedDriver({type(self.inner).__name__}, {self.codec!r})"

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

    # -- what the wrapped driver does ------------------------------------------------

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
        if isinstance(exc, UnreadableObjectError):
            return "corrupt"
        if isinstance(exc, UnknownKeyIdError):
            return "missing_key"
        return self.inner.classify(exc)

    # -- bodies ----------------------------------------------------------------------

    async def get(self, path: str) -> tuple[bytes, str | None] | None:
        found = await self.inner.get(path)
        if found is None:
            return None
        data, version = found
        return self.codec.decode(path, data), version

    async def get_many(
        self, paths: Sequence[str], concurrency: int = 16
    ) -> list[tuple[bytes, str | None] | None]:
        # The wrapped driver's own batch (one hop on local disk), each body decoded.
        found = await self.inner.get_many(paths, concurrency)
        return [
            None if got is None else (self.codec.decode(path, got[0]), got[1])
            for path, got in zip(paths, found, strict=True)
        ]

    async def get_folder(self, folder: str) -> dict[str, tuple[bytes, str | None]]:
        found = await self.inner.get_folder(folder)
        return {path: (self.codec.decode(path, got[0]), got[1]) for path, got in found.items()}

    async def get_stored(self, path: str) -> tuple[bytes, str | None] | None:
        """The bytes as stored (envelope and all) and the version; ``None`` if missing."""
        return await self.inner.get(path)

    def put(
        self, path: str, data: bytes, content_type: str, condition: WriteCondition = UNCONDITIONAL
    ) -> Coroutine[Any, Any, str]:
        # Not a coroutine of its own: the wrapped driver's put is awaited directly (a
        # second coroutine per write cost as much as the header). Encoding happens
        # here, when the call is made, and a failure is raised where it is awaited,
        # as from any driver's put.
        try:
            stored = self.codec.encode(path, data)
        except Exception as exc:  # noqa: BLE001 - raised again, unchanged, on await
            return _raise(exc)
        return self.inner.put(path, stored, content_type, condition)

    async def put_stored(
        self, path: str, data: bytes, content_type: str, *, if_version: str
    ) -> str:
        """Write ``data`` as it is (already encoded), if the file is still at ``if_version``."""
        return await self.inner.put(path, data, content_type, WriteCondition(if_version))

    # -- everything else passes through ------------------------------------------------

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


async def _raise(exc: Exception) -> str:
    raise exc
