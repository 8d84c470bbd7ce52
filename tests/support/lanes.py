"""One mixin per backend lane: what a contract class needs to run on that backend.

A lane gives ``backend``, the ``make_storage`` fixture (fresh, empty storages of that
backend and engine) and the backend's own limits; a test class mixes one into a
contract (tests/support/driver_contract.py or facade_contract.py) and picks its codec
lanes. Cloud storages come from the conftest factories, which give each storage its
own bucket or container and delete it when the test ends.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from session_storage import SessionStorage

from .contract import Raw, StorageFactory

__all__ = ["AzureLane", "FileLane", "GCSLane", "MemoryLane", "ObstoreLane", "S3Lane"]


class MemoryLane:
    backend = "memory"

    @pytest.fixture
    def make_storage(self) -> StorageFactory:
        return lambda: SessionStorage(f"memory://contract-{uuid.uuid4().hex}")

    def peer(self, storage: SessionStorage) -> SessionStorage:
        return storage  # a memory store is private to its storage object


class FileLane:
    backend = "file"
    # A local file name holds 255 bytes; a 1000-character id does not fit in one.
    holds_1000_character_ids = False

    @pytest.fixture
    def make_storage(self, tmp_path: Path) -> StorageFactory:
        counter = itertools.count()
        return lambda: SessionStorage(tmp_path / f"root-{next(counter)}")


class S3Lane:
    backend = "s3"
    engine = "fsspec"

    @pytest.fixture
    def make_storage(self, make_s3_storage: Callable[..., SessionStorage]) -> StorageFactory:
        return lambda: make_s3_storage(engine=self.engine)


class GCSLane:
    backend = "gcs"
    engine = "fsspec"

    @pytest.fixture
    def make_storage(self, make_gcs_storage: Callable[..., SessionStorage]) -> StorageFactory:
        return lambda: make_gcs_storage(engine=self.engine)


class AzureLane:
    backend = "azure"
    engine = "fsspec"
    # Azurite takes ~30 ms per upload; 300 files still span two 256-blob delete batches.
    many_files = 300

    @pytest.fixture
    def make_storage(self, make_azure_storage: Callable[..., SessionStorage]) -> StorageFactory:
        return lambda: make_azure_storage(engine=self.engine)


class ObstoreLane:
    """A cloud lane on the obstore engine; mixed in before the backend's lane.

    The raw hooks read and write through an fsspec storage on the same root: files
    the obstore engine wrote must look the same to the other engine, and the checks
    do not go through the client under test. GCS is fake-gcs-server through
    tests/support/gcs_xml_shim.py, which takes the XML-API uploads and paged listings
    obstore sends; the conditions are the server's own.
    """

    engine = "obstore"

    @pytest.fixture
    async def raw(self, storage: SessionStorage) -> AsyncIterator[Raw]:
        settings = storage.settings
        async with SessionStorage(settings.url, settings.storage_options) as twin:
            assert twin.engine == "fsspec" and storage.engine == "obstore"
            yield Raw(twin, under_test=storage)
