"""ADK artifacts on S3 (moto): requests per call counted at the server against the
budgets of :mod:`session_storage.integrations.adk.artifacts`, and saves through a
network that loses replies. Run with ``-s`` to see the figures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google.adk.artifacts import InMemoryArtifactService
from google.genai import types

from session_storage import SessionStorage
from session_storage.core.errors import StorageTimeoutError
from session_storage.integrations.adk import StorageArtifactService

from ..backends.test_lost_replies import LANES, LOSS, WRITES
from ..support.cloud import FaultyStorageFactory, RequestLog

VERSIONS = 130  # past the first sealed segment (128 versions)
# The library's own lost-reply tests cover every lane; the fsspec clients of GCS and
# Azure back off for seconds after each lost reply, so they are left to those.
FAST_LANES = [lane for lane in LANES if lane.id not in ("gcs", "azure")]
COMMON = {"app_name": "app", "user_id": "ann", "session_id": "s1"}


async def test_request_budgets_on_s3(
    make_s3_storage: Callable[..., SessionStorage], s3_requests: RequestLog
) -> None:
    figures: dict[str, int] = {}
    async with make_s3_storage("art") as storage:
        service = StorageArtifactService(storage)

        async def count(name: str, call: Any) -> Any:
            s3_requests.take()
            result = await call
            figures[name] = len(s3_requests.take())
            return result

        def save(filename: str, text: str) -> Any:
            return service.save_artifact(
                **COMMON, filename=filename, artifact=types.Part(text=text)
            )

        assert await count("save, a new artifact", save("f", "v0")) == 0
        assert await count("save, 2nd version", save("f", "v1")) == 1
        for n in range(2, VERSIONS):
            await save("f", f"v{n}")
        assert await count(f"save, after {VERSIONS} versions", save("f", "last")) == VERSIONS
        latest = await count("load latest", service.load_artifact(**COMMON, filename="f"))
        assert latest == types.Part(text="last")
        old = await count(
            "load version 3", service.load_artifact(**COMMON, filename="f", version=3)
        )
        assert old == types.Part(text="v3")
        listed = await count("list_versions", service.list_versions(**COMMON, filename="f"))
        assert listed == list(range(VERSIONS + 1))
        described = await count(
            f"list_artifact_versions of {VERSIONS + 1}",
            service.list_artifact_versions(**COMMON, filename="f"),
        )
        assert [v.version for v in described] == listed
        one = await count(
            "get_artifact_version latest", service.get_artifact_version(**COMMON, filename="f")
        )
        assert one is not None and one.version == VERSIONS
        await save("g", "x")
        keys = await count("list_artifact_keys", service.list_artifact_keys(**COMMON))
        assert keys == ["f", "g"]
        await count("delete_artifact", service.delete_artifact(**COMMON, filename="g"))
        assert await count("save after a delete", save("g", "y")) == 0
        missing = await count("load a missing one", service.load_artifact(**COMMON, filename="h"))
        assert missing is None
        cold = StorageArtifactService(SessionStorage(storage.url, storage.settings.storage_options))
        async with cold.storage:
            # A storage that has not read the artifact: the sealed segment of versions
            # 0-127 is not in its cache yet.
            every = await count(
                f"list_artifact_versions of {VERSIONS + 1}, cold",
                cold.list_artifact_versions(**COMMON, filename="f"),
            )
            assert [v.version for v in every] == listed
            async with SessionStorage(storage.url, storage.settings.storage_options) as other:
                old = await count(
                    "load version 3, cold",
                    StorageArtifactService(other).load_artifact(**COMMON, filename="f", version=3),
                )
            assert old == types.Part(text="v3")
            await count(
                "save, a storage new to the artifact",
                cold.save_artifact(**COMMON, filename="f", artifact=types.Part(text="cold")),
            )

    print("\nStorageArtifactService requests on S3 (moto), counted at the server:")
    for name, n in figures.items():
        print(f"  {name:40s} {n}")
    assert figures["save, a new artifact"] <= 3
    assert figures["save, 2nd version"] <= 2
    assert figures[f"save, after {VERSIONS} versions"] <= 2
    assert figures["save, a storage new to the artifact"] <= 3  # 2 here: it read the tail
    assert figures["load latest"] <= 2
    assert figures["load version 3"] <= 3
    assert figures["list_versions"] <= 1
    assert figures[f"list_artifact_versions of {VERSIONS + 1}"] <= 1
    assert figures[f"list_artifact_versions of {VERSIONS + 1}, cold"] <= 3
    assert figures["load version 3, cold"] <= 3
    assert figures["get_artifact_version latest"] <= 1
    assert figures["list_artifact_keys"] <= 2
    assert figures["delete_artifact"] <= 2
    assert figures["save after a delete"] <= 4
    assert figures["load a missing one"] <= 1


@pytest.mark.parametrize(("backend", "engine"), FAST_LANES)
async def test_saves_with_lost_replies_apply_once(
    make_faulty_storage: FaultyStorageFactory, backend: str, engine: str
) -> None:
    """Replies of writes lost: every save still makes exactly one version, as on the
    reference, and a delete in between starts again at 0."""
    storage, proxy = make_faulty_storage(backend, seed=23, engine=engine)
    proxy.inject("drop_reply", methods=WRITES, probability=LOSS)
    reference = InMemoryArtifactService()
    got: list[int] = []
    expected: list[int] = []
    async with storage:
        ours = StorageArtifactService(storage)
        for n in range(14):
            filename = "user:u" if n % 4 == 3 else "f"
            part = types.Part.from_bytes(data=bytes([n]) * 100, mime_type="image/png")
            for service, out in ((ours, got), (reference, expected)):
                out.append(await service.save_artifact(**COMMON, filename=filename, artifact=part))
            if n == 8:
                await ours.delete_artifact(**COMMON, filename="f")
                await reference.delete_artifact(**COMMON, filename="f")
        proxy.clear()
        async with SessionStorage.from_settings(storage.settings) as fresh:
            reader = StorageArtifactService(fresh)
            stored = [
                await reader.load_artifact(**COMMON, filename="f", version=v)
                for v in await reader.list_versions(**COMMON, filename="f")
            ]
            keys = await reader.list_artifact_keys(**COMMON)
    theirs = [
        await reference.load_artifact(**COMMON, filename="f", version=v)
        for v in await reference.list_versions(**COMMON, filename="f")
    ]
    print(f"\n{backend}/{engine}: {proxy.applied['drop_reply']} replies lost")
    assert proxy.applied["drop_reply"] >= 3
    assert got == expected
    assert stored == theirs
    assert keys == await reference.list_artifact_keys(**COMMON)


async def test_an_unreachable_store_raises_and_never_restarts_at_version_0(
    make_faulty_storage: FaultyStorageFactory,
) -> None:
    """Reads that never come back (S3 through a proxy that holds every GET): each call
    raises ``StorageTimeoutError`` instead of taking the artifact for one without
    versions; once the store answers again, the next save is version 2."""
    storage, proxy = make_faulty_storage("s3", seed=24)
    options = storage.settings.storage_options
    async with storage:
        service = StorageArtifactService(storage)
        for text in ("a", "b"):
            await service.save_artifact(**COMMON, filename="f", artifact=types.Part(text=text))
        proxy.inject("hang", methods=["GET"])
        async with SessionStorage(storage.url, options, timeout=1) as impatient:
            other = StorageArtifactService(impatient)
            with pytest.raises(StorageTimeoutError):
                await other.list_versions(**COMMON, filename="f")
            with pytest.raises(StorageTimeoutError):
                await other.save_artifact(**COMMON, filename="f", artifact=types.Part(text="c"))
        proxy.clear()
        assert await service.list_versions(**COMMON, filename="f") == [0, 1]
        assert (
            await service.save_artifact(**COMMON, filename="f", artifact=types.Part(text="c")) == 2
        )
