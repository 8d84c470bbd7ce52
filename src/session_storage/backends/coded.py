"""A driver that encodes every body it writes and decodes every body it reads.

:class:`CodedDriver` wraps the storage's real driver when ``encryption_keys`` or
``compression`` are configured (see :mod:`session_storage.codecs.envelope`). Only
:meth:`get` and :meth:`put` move bodies, so only they change: states, bytes files,
event-log objects, idempotency markers and whatever the integrations store all pass
through them. Versions, write conditions, listings, deletes and the number of
requests are the wrapped driver's own.
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any

from ..codecs.compression import Compression
from ..codecs.encryption import Keyring
from ..codecs.envelope import Codec, UnknownKeyIdError, UnreadableObjectError
from ..core.errors import ErrorKind
from .base import Driver
from .delegate import DelegatingDriver
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


class CodedDriver(DelegatingDriver):
    """``inner`` with every body passed through ``codec``."""

    _OWN = ("inner", "codec")

    def __init__(self, inner: Driver, codec: Codec) -> None:
        super().__init__(inner)
        self.codec = codec

    def __repr__(self) -> str:
        return f"CodedDriver({type(self.inner).__name__}, {self.codec!r})"

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


async def _raise(exc: Exception) -> str:
    raise exc
