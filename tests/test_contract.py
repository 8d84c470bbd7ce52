"""The contract suite, run on every backend."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from session_storage import SessionStorage

from .contract import StorageContract, StorageFactory


class TestMemory(StorageContract):
    backend = "memory"

    @pytest.fixture
    def make_storage(self) -> StorageFactory:
        return lambda: SessionStorage(f"memory://contract-{uuid.uuid4().hex}")

    def peer(self, storage: SessionStorage) -> SessionStorage:
        return storage  # a memory store is private to its storage object


class TestFile(StorageContract):
    backend = "file"
    # A local file name holds 255 bytes; a 1000-character id does not fit in one.
    holds_1000_character_ids = False

    @pytest.fixture
    def make_storage(self, tmp_path: Path) -> StorageFactory:
        counter = itertools.count()
        return lambda: SessionStorage(tmp_path / f"root-{next(counter)}")


class TestS3(StorageContract):
    backend = "s3"

    @pytest.fixture
    def make_storage(self, make_s3_storage: Callable[..., SessionStorage]) -> StorageFactory:
        return make_s3_storage


class TestGCS(StorageContract):
    backend = "gcs"

    @pytest.fixture
    def make_storage(self, make_gcs_storage: Callable[..., SessionStorage]) -> StorageFactory:
        return make_gcs_storage


class TestAzure(StorageContract):
    backend = "azure"
    # Azurite takes ~30 ms per upload; 300 files still span two 256-blob delete batches.
    many_files = 300

    @pytest.fixture
    def make_storage(self, make_azure_storage: Callable[..., SessionStorage]) -> StorageFactory:
        return make_azure_storage
