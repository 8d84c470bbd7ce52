"""SessionStorage.from_filesystem: a filesystem object the caller configured gets the
tuned driver of its backend where there is one (with the caller's options), the generic
driver otherwise, and is never closed by the storage."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import s3fs
from fsspec.implementations.cached import SimpleCacheFileSystem
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.ftp import FTPFileSystem
from fsspec.implementations.http import HTTPFileSystem
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem

from session_storage import (
    ConfigurationError,
    SessionStorage,
    SessionStorageAdapter,
    SyncSessionStorage,
)
from session_storage.pytest_plugin import s3_storage_options

from ...support.cloud import delete_bucket, new_bucket
from ...support.file_servers import USER, Server, ftp_server, sftp_server


@pytest.fixture(scope="module")
def sftp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with sftp_server(tmp_path_factory.mktemp("sftp")) as server:
        yield server


@pytest.fixture
def bucket(moto_s3_server: str) -> Iterator[str]:
    name = new_bucket(moto_s3_server)
    yield name
    delete_bucket(moto_s3_server, name)


async def test_an_s3fs_instance_gets_the_tuned_driver_with_its_own_options(
    moto_s3_server: str, bucket: str
) -> None:
    # The caller's client: its credentials and endpoint, and a retry setting of its own.
    options = s3_storage_options(moto_s3_server)
    fs = s3fs.S3FileSystem(**options, config_kwargs={"retries": {"max_attempts": 2}})
    storage = SessionStorage.from_filesystem(fs, f"{bucket}/app", timeout=10)
    async with storage:
        assert storage.backend == "s3" and storage.url == f"s3://{bucket}/app"
        assert storage.capabilities.conditional_writes  # If-None-Match / If-Match
        config = storage.settings.storage_options["config_kwargs"]
        assert config["retries"] == {"max_attempts": 2}
        await storage.store_session("s", {"v": 1})
        await storage.update_session("s", lambda state: {"v": (state or {})["v"] + 1})
    # The caller's instance still works after the storage closed its own client.
    assert fs.ls(f"{bucket}/app/s", refresh=True) == [f"{bucket}/app/s/state.json"]
    assert b'"v":2' in fs.cat_file(f"{bucket}/app/s/state.json")


async def test_a_memory_filesystem_gets_the_memory_driver_on_its_own_store() -> None:
    fs = MemoryFileSystem(global_store=False, skip_instance_cache=True)
    async with SessionStorage.from_filesystem(fs, "/tenant") as storage:
        assert storage.backend == "memory" and storage.capabilities.conditional_writes
        await storage.store_session("s", {"v": 1})
        assert await storage.store_session("t", {}, if_absent=True)
    assert sorted(fs.store) == ["/tenant/s/state.json", "/tenant/t/state.json"]


async def test_a_local_filesystem_gets_the_local_driver(tmp_path: Path) -> None:
    async with SessionStorage.from_filesystem(LocalFileSystem(), str(tmp_path)) as storage:
        assert storage.backend == "file" and storage.url == f"file://{tmp_path}"
        await storage.update_session("s", lambda state: {"n": 1})
    assert (tmp_path / "s" / "state.json").exists()


async def test_an_sftp_filesystem_is_used_and_never_closed(sftp: Server) -> None:
    import sshfs

    fs = sshfs.SSHFileSystem(
        "127.0.0.1", port=sftp.port, username=USER, known_hosts=None, **sftp.options()
    )
    folder = uuid.uuid4().hex
    for _ in range(2):  # a second storage on the same object, after the first closed
        async with SessionStorage.from_filesystem(fs, f"/{folder}") as storage:
            assert storage.backend == "sftp" and storage.capabilities.create_only
            await storage.store_session("s", {"v": 1})
    assert fs.ls(f"/{folder}/s", detail=False) == [f"/{folder}/s/state.json"]


def test_a_dir_filesystem_over_ftp_through_the_blocking_facade(tmp_path: Path) -> None:
    with ftp_server(tmp_path) as server:
        ftp = FTPFileSystem(
            "127.0.0.1",
            port=server.port,
            username=USER,
            skip_instance_cache=True,
            **server.options(),
        )
        fs = DirFileSystem(path="/app", fs=ftp)
        with SyncSessionStorage.from_filesystem(fs, "") as storage:
            assert storage.backend == "dir::ftp"
            storage.store_session("s", {"v": 1})
            assert storage.list_sessions() == ["s"]
        # Closing the storage left the caller's FTP connection open.
        assert fs.cat_file("s/state.json").startswith(b"{")
        assert (tmp_path / "app" / "s" / "state.json").exists()


async def test_the_adapter_takes_a_filesystem_object_too() -> None:
    fs = MemoryFileSystem(global_store=False, skip_instance_cache=True)
    async with SessionStorageAdapter.from_filesystem(fs, "/app/users", timeout=5) as adapter:
        assert isinstance(adapter, SessionStorageAdapter) and adapter.bucket == "app/users"
        await adapter.store_session("s", {"v": 1})
    assert list(fs.store) == ["/app/users/s/state.json"]


def test_what_cannot_serve_is_refused_before_any_io() -> None:
    with pytest.raises(ConfigurationError, match="fsspec filesystem"):
        SessionStorage.from_filesystem(object(), "/x")
    with pytest.raises(ConfigurationError, match="engine must be 'fsspec'"):
        SessionStorage.from_filesystem(MemoryFileSystem(), "/x", engine="obstore")
    cached = SimpleCacheFileSystem(fs=MemoryFileSystem(), skip_instance_cache=True)
    with pytest.raises(ConfigurationError, match="names no folder"):
        SessionStorage.from_filesystem(cached, "/")
    with pytest.raises(ConfigurationError, match="asynchronous=True"):
        SessionStorage.from_filesystem(
            HTTPFileSystem(asynchronous=True, skip_instance_cache=True), "/a"
        )
