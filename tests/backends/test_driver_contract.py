"""The driver contract on every lane: memory, local disk, S3, GCS and Azure, the cloud
backends on both engines (fsspec and obstore), each in the plain and the zstd+aes codec
lane. Each test gets a bucket (or container) of its own, deleted when it ends."""

from __future__ import annotations

import uuid

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from session_storage import SessionStorage

from ..support.driver_contract import DriverContract
from ..support.lanes import AzureLane, FileLane, GCSLane, MemoryLane, ObstoreLane, S3Lane


class TestMemory(MemoryLane, DriverContract):
    # fsspec's memory store is one class-level dict; before fsspec 2026.9 it ignores
    # ``global_store=False``. These hold on every fsspec release pyproject.toml allows.
    @pytest.mark.parametrize("second_url", ["memory://same", "memory://other", "memory://"])
    async def test_storages_share_nothing(self, second_url: str) -> None:
        async with (
            SessionStorage("memory://same") as first,
            SessionStorage(second_url) as second,
        ):
            await first.store_session("s1", {"n": 1})
            await second.store_session("s2", {"n": 2})
            assert await first.list_sessions() == ["s1"]
            assert await second.list_sessions() == ["s2"]
            assert await second.load_session("s1") is None
            assert await first.load_session("s2") is None
            assert await first.list_files("s1") == ["state.json"]
            assert await second.list_files("s1") == []

    async def test_storages_leave_fsspecs_global_store_alone(self) -> None:
        before = dict(MemoryFileSystem.store)
        async with SessionStorage("memory://isolated") as storage:
            await storage.store_session("s1", {"n": 1})
        assert MemoryFileSystem.store == before

    async def test_global_store_option_shares_fsspecs_store(self) -> None:
        url = f"memory://shared-{uuid.uuid4().hex}"
        try:
            async with (
                SessionStorage(url, {"global_store": True}) as first,
                SessionStorage(url, {"global_store": True}) as second,
            ):
                await first.store_session("s1", {"n": 1})
                assert await second.list_sessions() == ["s1"]
                assert any(key.startswith(url[len("memory:/") :]) for key in MemoryFileSystem.store)
        finally:
            for key in [k for k in MemoryFileSystem.store if k.startswith(url[len("memory:/") :])]:
                del MemoryFileSystem.store[key]


class TestFile(FileLane, DriverContract):
    pass


class TestS3(S3Lane, DriverContract):
    pass


class TestGCS(GCSLane, DriverContract):
    pass


class TestAzure(AzureLane, DriverContract):
    pass


class TestS3Obstore(ObstoreLane, S3Lane, DriverContract):
    pass


class TestGCSObstore(ObstoreLane, GCSLane, DriverContract):
    pass


class TestAzureObstore(ObstoreLane, AzureLane, DriverContract):
    pass
