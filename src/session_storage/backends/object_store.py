"""What S3, GCS and Azure have in common: buckets, key prefixes, paged listings, batches.

A path on an object store is ``bucket/key``. Folders exist only as key prefixes, so a
folder is "its key plus ``/``" (or nothing, at the top of a bucket), a listing is a
run of pages joined by continuation tokens, and deletes go in batches per bucket. This
base holds all of that once, and the write-id check of a conditional put after a lost
reply (see :mod:`.write_ids`); a driver supplies only what its API spells differently:
one listing request (:meth:`ObjectStoreDriver._list_page`), one batched delete
(:meth:`ObjectStoreDriver._delete_batch`), one put (:meth:`ObjectStoreDriver._put`)
and one metadata request (:meth:`ObjectStoreDriver._head`, which serves both ``info``
and the write-id check), and its own get, delete of one file, error classification
and client lifecycle.
"""

from __future__ import annotations

import asyncio
import random
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from ..concurrency.bounded import run_bounded
from .base import ALL_CHILDREN, PAGE_SIZE, ChildPage, Driver, ObjectInfo
from .write_ids import UNCONDITIONAL, WRITE_ID_KEY, WriteCondition

T = TypeVar("T")

BATCH_ATTEMPTS = 4
"""Tries of one batch delete whose connection failed before a reply."""
_BATCH_BACKOFF = 0.1  # seconds, doubling: up to 0.1, 0.2, 0.4 s between tries


async def resend_batch(send: Callable[[], Awaitable[T]], lost: Callable[[Exception], bool]) -> T:
    """``send()``, sent again when it fails with an error ``lost`` says lost the
    connection. For batch deletes only: the clients do not resend them themselves
    (obstore), or resend a body they already consumed and hang (Azure's SDK), and
    deleting twice is harmless."""
    for attempt in range(BATCH_ATTEMPTS):
        try:
            return await send()
        except Exception as exc:
            if attempt == BATCH_ATTEMPTS - 1 or not lost(exc):
                raise
            await asyncio.sleep(random.uniform(0, _BATCH_BACKOFF * 2**attempt))
    raise AssertionError("unreachable")  # the last attempt returns or raises


__all__ = ["ListPage", "ListQuery", "ObjectHead", "ObjectStoreDriver"]


@dataclass(frozen=True, slots=True)
class ListQuery:
    """One listing request for the keys of ``bucket`` that start with ``prefix``."""

    bucket: str
    prefix: str
    delimiter: bool
    """Whether keys that go on past the next ``/`` come back as folders."""
    max_keys: int
    """The most folders and objects, together, the page may hold."""
    start_after: str | None = None
    """The key of a folder (no trailing ``/``) whose contents and predecessors are left out."""
    token: str | None = None
    """The previous page's :attr:`ListPage.token`: asks for the page after it."""


@dataclass(frozen=True, slots=True)
class ListPage:
    """One page of a listing, as keys inside the bucket."""

    folders: list[str]
    """Keys of the folders found (delimiter listings only), each ending in ``/``."""
    files: list[tuple[str, ObjectInfo]]
    """Key and metadata of each object found (in a delimiter listing: loose ones)."""
    token: str | None
    """What asks for the next page; None after the last one."""


@dataclass(frozen=True, slots=True)
class ObjectHead:
    """What one metadata request says about a stored object."""

    info: ObjectInfo
    metadata: Mapping[str, str] | None
    """Its user metadata, where a conditional write leaves its write id; None if none."""


class ObjectStoreDriver(Driver):
    """A bucket (and optional key prefix) on an object store."""

    needs_bucket = True
    remote = True
    max_key_bytes = 1024  # S3, GCS and Azure alike
    # Batches are network-bound: 32 requests in flight keep one aiohttp session busy
    # without queueing for its connection pool (100). S3 sizes it by its own pool.
    default_concurrency = 32
    list_page_size: ClassVar[int] = PAGE_SIZE
    """The most objects one flat listing request returns."""
    delete_batch_size: ClassVar[int]
    """The most keys one delete request takes."""
    delete_concurrency: ClassVar[int]
    """Delete requests in flight at once in :meth:`delete_files`."""

    @staticmethod
    def root_path(url: str) -> str:
        # Whichever of the backend's schemes the URL uses: the table chose the driver.
        return url.partition("://")[2].strip("/")

    @staticmethod
    def _split(path: str) -> tuple[str, str]:
        """``bucket/key`` as its bucket and key."""
        bucket, _, key = path.partition("/")
        return bucket, key

    @classmethod
    def _split_folder(cls, folder: str) -> tuple[str, str]:
        """A folder's bucket, and the prefix of every key inside it (``""`` at the top)."""
        bucket, key = cls._split(folder)
        return bucket, f"{key}/" if key else ""

    # -- what each store spells its own way ------------------------------------------

    @abstractmethod
    async def _list_page(self, query: ListQuery) -> ListPage:
        """One listing request: the page of ``query``."""

    @abstractmethod
    async def _delete_batch(self, bucket: str, keys: list[str]) -> None:
        """Delete up to :attr:`delete_batch_size` keys of one bucket, missing ones included.

        Raises OSError naming the first key that could not be deleted.
        """

    @abstractmethod
    async def _put(
        self, path: str, data: bytes, content_type: str, condition: WriteCondition | None
    ) -> str:
        """One write request; returns the new version.

        With a ``condition``, the store checks it atomically with the write, a failed
        one raises ``FileExistsError`` having written nothing, and the condition's
        :meth:`~.write_ids.WriteCondition.metadata` goes into the object's user metadata.
        """

    @abstractmethod
    async def _head(self, path: str) -> ObjectHead | None:
        """What one metadata request says about the object at ``path``; None if there
        is no such object."""

    # -- the primitives, from those ---------------------------------------------------

    async def put(
        self, path: str, data: bytes, content_type: str, condition: WriteCondition = UNCONDITIONAL
    ) -> str:
        write = condition.for_write()
        try:
            return await self._put(path, data, content_type, write)
        except FileExistsError:
            # The client may have resent a write whose reply was lost: the resend then
            # fails the condition that the first attempt changed. If the stored object
            # carries this write's id, the write landed, and its version is the answer.
            own = await self._own_version(path, write)
            if own is None:
                raise
            return own

    async def _own_version(self, path: str, condition: WriteCondition | None) -> str | None:
        """The version of the object at ``path`` if ``condition``'s write stored it (one
        metadata request), else None: without a write id, nothing is recognised."""
        if condition is None or condition.write_id is None:
            return None
        head = await self._head(path)
        if head is None or (head.metadata or {}).get(WRITE_ID_KEY) != condition.write_id:
            return None
        return head.info.version

    async def info(self, path: str) -> ObjectInfo | None:
        head = await self._head(path)
        return None if head is None else head.info

    async def iter_children(
        self, folder: str, page: ChildPage = ALL_CHILDREN
    ) -> AsyncIterator[list[str]]:
        bucket, base = self._split_folder(folder)
        after = None if page.start_after is None else base + page.start_after
        cut = len(base)
        remaining = page.limit
        token = None
        while remaining is None or remaining > 0:
            # Stores count folders and loose objects alike against a page's size; ask
            # for no more than the caller still wants, so a page of 10 is one request
            # for 10.
            want = PAGE_SIZE if remaining is None else min(remaining, PAGE_SIZE)
            listed = await self._list_page(
                ListQuery(bucket, base + page.prefix, True, want, start_after=after, token=token)
            )
            names = [key[cut:-1] for key in listed.folders]
            if remaining is not None:
                names = names[:remaining]
                remaining -= len(names)
            if names:
                yield names
            if listed.token is None:
                return
            token = listed.token

    async def list_file_infos(self, folder: str) -> AsyncIterator[list[tuple[str, ObjectInfo]]]:
        # Object listings return size, time and version of each key: one request per
        # page of files, with no metadata request per file.
        bucket, base = self._split_folder(folder)
        token = None
        while True:
            page = await self._list_page(
                ListQuery(bucket, base, False, self.list_page_size, token=token)
            )
            if page.files:
                yield [(f"{bucket}/{key}", info) for key, info in page.files]
            if page.token is None:
                return
            token = page.token

    async def list_files(self, folder: str) -> list[str]:
        return [path async for page in self.list_file_infos(folder) for path, _ in page]

    async def has_files(self, folder: str) -> bool:
        bucket, base = self._split_folder(folder)
        page = await self._list_page(ListQuery(bucket, base, delimiter=False, max_keys=1))
        return bool(page.files)

    async def delete_files(self, paths: Sequence[str]) -> None:
        by_bucket: dict[str, list[str]] = {}
        for path in paths:
            bucket, key = self._split(path)
            by_bucket.setdefault(bucket, []).append(key)
        size = self.delete_batch_size
        batches = [
            (bucket, keys[i : i + size])
            for bucket, keys in by_bucket.items()
            for i in range(0, len(keys), size)
        ]
        await run_bounded(
            lambda batch: self._delete_batch(*batch), batches, self.delete_concurrency
        )
