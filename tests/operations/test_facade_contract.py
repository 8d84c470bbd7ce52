"""The facade contract once per backend: memory, local disk, S3, GCS and Azure on the
fsspec engine in the plain lane; memory and local disk in the zstd+aes lane too. The
driver contract (tests/backends/test_driver_contract.py) covers the other engine and
the codec lanes of the cloud backends."""

from __future__ import annotations

from typing import ClassVar

from ..support.facade_contract import FacadeContract
from ..support.lanes import AzureLane, FileLane, GCSLane, MemoryLane, S3Lane


class TestMemory(MemoryLane, FacadeContract):
    codec_lanes: ClassVar[tuple[str, ...]] = ("plain", "zstd+aes")


class TestFile(FileLane, FacadeContract):
    codec_lanes: ClassVar[tuple[str, ...]] = ("plain", "zstd+aes")


class TestS3(S3Lane, FacadeContract):
    pass


class TestGCS(GCSLane, FacadeContract):
    pass


class TestAzure(AzureLane, FacadeContract):
    pass
