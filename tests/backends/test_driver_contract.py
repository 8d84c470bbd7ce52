"""The contract suite, run on every backend."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from session_storage import SessionStorage

from ..support.contract import Raw, StorageContract, StorageFactory


class TestMemory(StorageContract):
    backend = "memory"
    codec_lanes = ("plain", "zstd+aes")

    @pytest.fixture
    def make_storage(self) -> StorageFactory:
        return lambda: SessionStorage(f"memory://contract-{uuid.uuid4().hex}")

    def peer(self, storage: SessionStorage) -> SessionStorage:
        return storage  # a memory store is private to its storage object

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


class TestFile(StorageContract):
    backend = "file"
    codec_lanes = ("plain", "zstd+aes")
    # A local file name holds 255 bytes; a 1000-character id does not fit in one.
    holds_1000_character_ids = False

    @pytest.fixture
    def make_storage(self, tmp_path: Path) -> StorageFactory:
        counter = itertools.count()
        return lambda: SessionStorage(tmp_path / f"root-{next(counter)}")


class TestS3(StorageContract):
    backend = "s3"
    codec_lanes = ("plain", "zstd+aes")
    engine = "fsspec"

    @pytest.fixture
    def make_storage(self, make_s3_storage: Callable[..., SessionStorage]) -> StorageFactory:
        return lambda: make_s3_storage(engine=self.engine)


class TestGCS(StorageContract):
    backend = "gcs"
    codec_lanes = ("plain", "zstd+aes")
    engine = "fsspec"

    @pytest.fixture
    def make_storage(self, make_gcs_storage: Callable[..., SessionStorage]) -> StorageFactory:
        return lambda: make_gcs_storage(engine=self.engine)


class TestAzure(StorageContract):
    backend = "azure"
    codec_lanes = ("plain", "zstd+aes")
    engine = "fsspec"
    # Azurite takes ~30 ms per upload; 300 files still span two 256-blob delete batches.
    many_files = 300

    @pytest.fixture
    def make_storage(self, make_azure_storage: Callable[..., SessionStorage]) -> StorageFactory:
        return lambda: make_azure_storage(engine=self.engine)


class ObstoreLane:
    """The same contract on the obstore engine.

    The raw hooks read and write through an fsspec storage on the same root: files
    the obstore engine wrote must look the same to the other engine, and the checks
    do not go through the client under test.
    """

    engine = "obstore"
    # The codecs wrap whichever driver the engine gives; the fsspec lanes cover them
    # in CI. The zstd+aes lanes pass here too (`-k "Obstore and zstd"`), but in the
    # whole suite the extra uploads pushed Azurite (one Node process holding every
    # test's blobs in memory) into stalls of over 30 s.
    codec_lanes = ("plain",)

    @pytest.fixture
    async def raw(self, storage: SessionStorage) -> AsyncIterator[Raw]:
        settings = storage.settings
        async with SessionStorage(settings.url, settings.storage_options) as twin:
            assert twin.engine == "fsspec" and storage.engine == "obstore"
            yield Raw(twin, under_test=storage)


class TestS3Obstore(ObstoreLane, TestS3):
    pass


class TestAzureObstore(ObstoreLane, TestAzure):
    pass


class TestGCSObstore(ObstoreLane, TestGCS):
    """fake-gcs-server through tests/support/gcs_xml_shim.py, which takes the XML-API uploads
    and paged listings obstore sends; the conditions are the server's own."""
