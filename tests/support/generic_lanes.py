"""Lanes of the generic driver: SFTP and FTP servers, a ``dir::`` chain over local disk,
and a filesystem object (a DirFileSystem over a private memory store).

Each storage works in a fresh folder. The ``raw`` hooks use the same filesystem through
its blocking API in a worker thread, bypassing the facade under test.
"""

from __future__ import annotations

import itertools
import posixpath
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.memory import MemoryFileSystem

from session_storage import SessionStorage
from session_storage.backends.coded import codec_of
from session_storage.storage import scope_of

from .contract import Raw, StorageFactory
from .file_servers import Server, ftp_server, sftp_server

__all__ = ["DirFileLane", "FTPLane", "FilesystemObjectLane", "GenericRaw", "SFTPLane"]


class GenericRaw(Raw):
    """:class:`Raw` over the generic driver's own filesystem, in a worker thread."""

    def __init__(self, storage: SessionStorage) -> None:
        driver = scope_of(storage).driver
        self.driver: Any = getattr(driver, "inner", driver)
        self.root = self.driver.root
        self.codec = codec_of(driver)

    async def _call(self, name: str, *args: Any) -> Any:
        fs = await self.driver._ready()
        return await anyio.to_thread.run_sync(lambda: getattr(fs, name)(*args))

    async def put(self, relative: str, data: bytes) -> None:
        path = self.path(relative)
        fs = await self.driver._ready()
        await anyio.to_thread.run_sync(lambda: fs.makedirs(posixpath.dirname(path), exist_ok=True))
        await self._call("pipe_file", path, data)

    async def get(self, relative: str) -> bytes:
        data: bytes = await self._call("cat_file", self.path(relative))
        return data

    async def _everything(self) -> list[str]:
        await self._call("invalidate_cache")
        try:
            found = await self._call("find", self.root)
        except FileNotFoundError:
            return []
        prefix = self.root.lstrip("/") + "/" if self.root else ""
        relative = (p.lstrip("/") for p in found)
        return sorted(p[len(prefix) :] for p in relative if p.startswith(prefix))


class _GenericLane:
    backend: str
    codec_lanes = ("plain",)

    @pytest.fixture
    async def raw(self, storage: SessionStorage) -> Raw:
        return GenericRaw(storage)

    def peer(self, storage: SessionStorage) -> SessionStorage:
        return SessionStorage.from_settings(storage.settings)


class _ServerLane(_GenericLane):
    @pytest.fixture
    def make_storage(self, server: Server) -> StorageFactory:
        return lambda: SessionStorage(server.url(uuid.uuid4().hex), server.options())


class SFTPLane(_ServerLane):
    backend = "sftp"

    @pytest.fixture(scope="class")
    @classmethod
    def server(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
        with sftp_server(tmp_path_factory.mktemp("sftp")) as server:
            yield server


class FTPLane(_ServerLane):
    backend = "ftp"
    # One control connection takes one command at a time: keep the big cases small.
    many_files = 150

    @pytest.fixture(scope="class")
    @classmethod
    def server(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
        with ftp_server(tmp_path_factory.mktemp("ftp")) as server:
            yield server


class DirFileLane(_GenericLane):
    backend = "dir::file"
    holds_1000_character_ids = False  # a local file name holds 255 bytes
    codec_lanes = ("plain", "zstd+aes")

    @pytest.fixture
    def make_storage(self, tmp_path: Path) -> StorageFactory:
        counter = itertools.count()
        return lambda: SessionStorage(f"dir::file://{tmp_path}/root-{next(counter)}")


class FilesystemObjectLane(_GenericLane):
    """A DirFileSystem over a memory store of its own, given as an object."""

    backend = "dir::memory"

    @pytest.fixture
    def make_storage(self) -> StorageFactory:
        memory = MemoryFileSystem(global_store=False, skip_instance_cache=True)
        fs = DirFileSystem(path="/lane", fs=memory)
        return lambda: SessionStorage.from_filesystem(fs, f"/{uuid.uuid4().hex}")

    def peer(self, storage: SessionStorage) -> SessionStorage:
        fs = scope_of(storage).driver.filesystem
        return SessionStorage.from_filesystem(fs, storage.url.partition("://")[2])
