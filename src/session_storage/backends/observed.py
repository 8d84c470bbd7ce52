"""A driver that logs and counts every backend operation of the driver it wraps.

:func:`observed` wraps a storage's driver when, at creation, the ``session_storage``
logger is enabled for DEBUG or an OpenTelemetry tracer provider is set (see
:mod:`session_storage.core.observation`); otherwise the driver is returned as it is
and nothing is added to any call. Each primitive is one line: the operation, the
backend path (never a URL: no credentials can appear), the outcome, the bytes moved
and the milliseconds, e.g. ``s3 get bucket/a/state.json: ok, 1024 bytes, 3.1 ms``.
A primitive is one request on object stores except a failed conditional write (a
HEAD follows) and ``delete_tree`` (a listing, then the deletes); a listing logs one
line per page.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from typing import TypeVar, cast

from ..core.observation import LOGGER, count, logs_requests, tracer
from .base import ALL_CHILDREN, ChildPage, Driver, ObjectInfo
from .delegate import DelegatingDriver
from .write_ids import UNCONDITIONAL, WriteCondition

__all__ = ["ObservedDriver", "observed"]

T = TypeVar("T")


def observed(driver: Driver) -> Driver:
    """``driver`` wrapped in an :class:`ObservedDriver` if anyone is listening now
    (DEBUG logging or a tracer provider), else ``driver`` itself."""
    if logs_requests() or tracer() is not None:
        return ObservedDriver(driver)
    return driver


class ObservedDriver(DelegatingDriver):
    """``inner``, with one DEBUG line and one tally count per backend operation."""

    def __repr__(self) -> str:
        return f"ObservedDriver({type(self.inner).__name__})"

    def _done(
        self, operation: str, path: str, start: float, outcome: str, read: int = 0, written: int = 0
    ) -> None:
        count(read, written)
        if logs_requests():
            ms = (time.perf_counter() - start) * 1000
            LOGGER.debug(
                "%s %s %s: %s, %d bytes, %.1f ms",
                self.name,
                operation,
                path,
                outcome,
                read + written,
                ms,
                extra={
                    "backend": self.name,
                    "operation": operation,
                    "path": path,
                    "status": outcome,
                    "bytes": read + written,
                    "ms": ms,
                },
            )

    def _failed(self, operation: str, path: str, start: float, exc: BaseException) -> None:
        self._done(operation, path, start, f"failed ({type(exc).__name__})")

    async def get(self, path: str) -> tuple[bytes, str | None] | None:
        start = time.perf_counter()
        try:
            found = await self.inner.get(path)
        except BaseException as exc:
            self._failed("get", path, start, exc)
            raise
        if found is None:
            self._done("get", path, start, "missing")
        else:
            self._done("get", path, start, "ok", read=len(found[0]))
        return found

    async def get_many(
        self, paths: Sequence[str], concurrency: int = 16
    ) -> list[tuple[bytes, str | None] | None]:
        start = time.perf_counter()
        where = paths[0] if len(paths) == 1 else f"{len(paths)} paths"
        try:
            found = await self.inner.get_many(paths, concurrency)
        except BaseException as exc:
            self._failed("get many", where, start, exc)
            raise
        read = sum(len(got[0]) for got in found if got is not None)
        self._done("get many", where, start, f"ok, {len(paths)} files", read=read)
        return found

    async def get_folder(self, folder: str) -> dict[str, tuple[bytes, str | None]]:
        start = time.perf_counter()
        try:
            found = await self.inner.get_folder(folder)
        except BaseException as exc:
            self._failed("get folder", folder, start, exc)
            raise
        read = sum(len(got[0]) for got in found.values())
        self._done("get folder", folder, start, f"ok, {len(found)} files", read=read)
        return found

    async def put(
        self, path: str, data: bytes, content_type: str, condition: WriteCondition = UNCONDITIONAL
    ) -> str:
        start = time.perf_counter()
        operation = "put (create-only)" if condition.if_absent else "put"
        if condition.if_version is not None:
            operation = "put (if version)"
        try:
            version = await self.inner.put(path, data, content_type, condition)
        except FileExistsError:
            self._done(operation, path, start, "condition failed")
            raise
        except BaseException as exc:
            self._failed(operation, path, start, exc)
            raise
        self._done(operation, path, start, "ok", written=len(data))
        return version

    async def info(self, path: str) -> ObjectInfo | None:
        start = time.perf_counter()
        try:
            found = await self.inner.info(path)
        except BaseException as exc:
            self._failed("info", path, start, exc)
            raise
        self._done("info", path, start, "missing" if found is None else "ok")
        return found

    async def iter_children(
        self, folder: str, page: ChildPage = ALL_CHILDREN
    ) -> AsyncIterator[list[str]]:
        pages = self.inner.iter_children(folder, page)
        async for names in self._pages("list folders", folder, pages):
            yield names

    async def list_files(self, folder: str) -> list[str]:
        start = time.perf_counter()
        try:
            paths = await self.inner.list_files(folder)
        except BaseException as exc:
            self._failed("list files", folder, start, exc)
            raise
        self._done("list files", folder, start, f"ok, {len(paths)} files")
        return paths

    async def list_file_infos(self, folder: str) -> AsyncIterator[list[tuple[str, ObjectInfo]]]:
        pages = self.inner.list_file_infos(folder)
        async for infos in self._pages("list file infos", folder, pages):
            yield infos

    async def _pages(
        self, operation: str, folder: str, pages: AsyncIterator[list[T]]
    ) -> AsyncIterator[list[T]]:
        """``pages``, one line per page; closed as soon as this one is."""
        async with aclosing(cast(AsyncGenerator[list[T], None], pages)) as steps:
            while True:
                start = time.perf_counter()
                try:
                    page = await anext(steps)
                except StopAsyncIteration:
                    return
                except BaseException as exc:
                    self._failed(operation, folder, start, exc)
                    raise
                self._done(operation, folder, start, f"ok, {len(page)} names")
                yield page

    async def has_files(self, folder: str) -> bool:
        start = time.perf_counter()
        try:
            found = await self.inner.has_files(folder)
        except BaseException as exc:
            self._failed("has files", folder, start, exc)
            raise
        self._done("has files", folder, start, "yes" if found else "no")
        return found

    async def delete_file(self, path: str) -> bool:
        start = time.perf_counter()
        try:
            existed = await self.inner.delete_file(path)
        except BaseException as exc:
            self._failed("delete", path, start, exc)
            raise
        self._done("delete", path, start, "deleted" if existed else "missing")
        return existed

    async def delete_files(self, paths: Sequence[str]) -> None:
        start = time.perf_counter()
        where = paths[0] if len(paths) == 1 else f"{len(paths)} paths"
        try:
            await self.inner.delete_files(paths)
        except BaseException as exc:
            self._failed("delete many", where, start, exc)
            raise
        self._done("delete many", where, start, "ok")

    async def delete_tree(self, folder: str) -> bool:
        start = time.perf_counter()
        try:
            existed = await self.inner.delete_tree(folder)
        except BaseException as exc:
            self._failed("delete tree", folder, start, exc)
            raise
        self._done("delete tree", folder, start, "deleted" if existed else "empty")
        return existed
