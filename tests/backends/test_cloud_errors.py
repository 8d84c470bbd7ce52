"""How GCS and Azure failures reach the caller: which error, naming what."""

from __future__ import annotations

import re

import pytest

from session_storage import PermissionDeniedError, SessionStorage, StorageNotFoundError
from session_storage.pytest_plugin import s3_storage_options

from ..support.cloud import gcs_endpoint_for, gcs_options


async def test_azure_missing_container_raises(azurite_connection_string: str) -> None:
    options = {"connection_string": azurite_connection_string}
    async with SessionStorage("az://no-such-container", options) as storage:
        with pytest.raises(StorageNotFoundError) as info:
            await storage.load_session("abc")
        assert "azure" in str(info.value) and "'abc'" in str(info.value)
        assert "az://no-such-container/abc/state.json" in str(info.value)
        with pytest.raises(StorageNotFoundError):
            await storage.store_session("abc", {})
        with pytest.raises(StorageNotFoundError):
            await storage.list_sessions()


async def test_azure_refused_key_is_permission_denied(azurite_connection_string: str) -> None:
    wrong = re.sub(r"AccountKey=[^;]+", "AccountKey=" + "A" * 86 + "==", azurite_connection_string)
    async with SessionStorage("az://any-container", {"connection_string": wrong}) as storage:
        with pytest.raises(PermissionDeniedError) as info:
            await storage.store_session("abc", {"v": 1})
        assert isinstance(info.value, PermissionError)
        assert "azure" in str(info.value) and "'abc'" in str(info.value)


@pytest.mark.parametrize("engine", ["fsspec", "obstore"])
async def test_gcs_missing_bucket_raises_on_store_and_list(
    request: pytest.FixtureRequest, engine: str
) -> None:
    options = gcs_options(gcs_endpoint_for(request, engine))
    async with SessionStorage("gs://no-such-bucket", options, engine=engine) as storage:
        # GCS answers a missing bucket and a missing object with the same 404.
        assert await storage.load_session("abc") is None
        with pytest.raises(StorageNotFoundError) as info:
            await storage.store_session("abc", {})
        assert "gcs" in str(info.value) and "gs://no-such-bucket/abc/state.json" in str(info.value)
        with pytest.raises(StorageNotFoundError):
            await storage.list_sessions()


@pytest.mark.parametrize("engine", ["fsspec", "obstore"])
@pytest.mark.parametrize("backend", ["s3", "azure"])
async def test_missing_bucket_is_named_without_the_raw_reply(
    backend: str, engine: str, moto_s3_server: str, azurite_connection_string: str
) -> None:
    if backend == "s3":
        url, options = "s3://no-such-bucket/app", s3_storage_options(moto_s3_server)
        kind = "bucket"
    else:
        url = "az://no-such-container/app"
        options = {"connection_string": azurite_connection_string}
        kind = "container"
    async with SessionStorage(url, options, engine=engine) as storage:
        for call in (
            lambda: storage.load_session("abc"),
            lambda: storage.store_session("abc", {}),
            lambda: storage.list_sessions(),
            lambda: storage.append_event("abc", "log", 1),
        ):
            with pytest.raises(StorageNotFoundError) as info:
                await call()
            message = str(info.value)
            print(f"\n{backend} ({engine}): {message}")
            assert f"the {kind} 'no-such-{kind}' does not exist" in message
            assert "<?xml" not in message and "<Error>" not in message and "\n" not in message
