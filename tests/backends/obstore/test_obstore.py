"""The obstore engine: choosing it, its options, and its requests and conditions on
real servers (moto, fake-gcs-server through tests/support/gcs_xml_shim.py, Azurite)."""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Callable
from datetime import timedelta

import pytest

from session_storage import (
    ConfigurationError,
    ConflictError,
    MissingDependencyError,
    SessionStorage,
    StorageSettings,
)
from session_storage.backends.obstore.config import azure_args, gcs_args, s3_args
from session_storage.backends.obstore.driver import ObstoreDriver, start_below

from ...support.cloud import RequestLog

MakeS3 = Callable[..., SessionStorage]
MakeCloud = Callable[..., SessionStorage]


@pytest.fixture(params=["s3", "gcs", "azure"])
def make_cloud_storage(request: pytest.FixtureRequest) -> MakeCloud:
    """``make(engine=...)``: a storage on a fresh bucket of each cloud's emulator."""
    make: MakeCloud = request.getfixturevalue(f"make_{request.param}_storage")
    return make


def test_engine_is_chosen_by_argument_settings_and_environment() -> None:
    assert SessionStorage("s3://bucket").engine == "fsspec"
    storage = SessionStorage("s3://bucket", engine="obstore")
    assert storage.engine == "obstore" and storage.backend == "s3"
    assert isinstance(storage._scope.driver, ObstoreDriver)
    assert storage.settings.engine == "obstore"  # narrowed views and peers keep it
    env = {"SESSION_STORAGE_URL": "gs://b", "SESSION_STORAGE_ENGINE": "OBSTORE"}
    assert StorageSettings.from_env(env).engine == "obstore"
    assert SessionStorage.from_env(env).engine == "obstore"
    for url in ("az://c/p", "abfs://c", "s3a://b", "gcs://b"):
        assert SessionStorage(url, engine="obstore").engine == "obstore"


@pytest.mark.parametrize("url", ["memory://x", "file:///tmp/x", "relative/folder"])
def test_engine_that_cannot_serve_the_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="obstore engine cannot serve"):
        SessionStorage(url, engine="obstore")


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown engine 'rust'"):
        SessionStorage("s3://bucket", engine="rust")
    with pytest.raises(ConfigurationError):
        StorageSettings.from_env({"SESSION_STORAGE_ENGINE": "boto"})


def test_missing_obstore_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "obstore", None)  # import obstore now fails
    with pytest.raises(MissingDependencyError, match=r"session-storage\[obstore\]"):
        SessionStorage("s3://bucket", engine="obstore")


def test_fsspec_option_names_translate_to_obstore_config() -> None:
    s3 = s3_args(
        {
            "endpoint_url": "http://127.0.0.1:9000",
            "key": "k",
            "secret": "s",
            "token": "t",
            "client_kwargs": {"region_name": "eu-west-1"},
            "config_kwargs": {"max_pool_connections": 16, "retries": {"max_attempts": 2}},
        },
        timeout=5,
    )
    assert s3.config == {
        "endpoint": "http://127.0.0.1:9000",
        "access_key_id": "k",
        "secret_access_key": "s",
        "session_token": "t",
        "region": "eu-west-1",
    }
    assert s3.client_options["allow_http"] is True  # an http:// endpoint, as in s3fs
    assert s3.client_options["timeout"] == timedelta(seconds=5)
    assert s3.pool_size == 16 and s3.retry_config == {"max_retries": 1}
    assert s3_args({"endpoint_url": "http://h"}, None).config["region"] == "us-east-1"
    assert s3_args({"anon": True}, None).config == {"skip_signature": True}

    gcs = gcs_args({"endpoint_url": "http://127.0.0.1:1", "token": "anon", "project": "p"}, None)
    assert gcs.config["base_url"] == "http://127.0.0.1:1" and "bearer_token" in gcs.config
    assert gcs_args({"token": "/path/sa.json"}, None).config == {
        "application_credentials": "/path/sa.json"
    }
    assert gcs_args({"token": "anon"}, None).config == {"skip_signature": True}

    azure = azure_args(
        {
            "connection_string": "DefaultEndpointsProtocol=http;AccountName=acc;"
            "AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/acc;"
        },
        None,
    )
    assert azure.config == {
        "account_name": "acc",
        "access_key": "a2V5",
        "endpoint": "http://127.0.0.1:10000/acc",
    }
    assert azure_args({"account_name": "a", "sas_token": "?sv=1&sig=x"}, None).config == {
        "account_name": "a",
        "sas_key": "sv=1&sig=x",
    }
    suffix = azure_args(
        {"connection_string": "AccountName=a;AccountKey=k;EndpointSuffix=core.windows.net"},
        None,
    )
    assert suffix.config["endpoint"] == "https://a.blob.core.windows.net"


@pytest.mark.parametrize(
    ("url", "options", "named"),
    [
        ("s3://b", {"profile": "dev"}, "profile"),
        ("s3://b", {"client_kwargs": {"verify": False}}, "client_kwargs['verify']"),
        ("s3://b", {"config_kwargs": {"signature_version": "s3v4"}}, "signature_version"),
        ("gs://b", {"token": 42}, "token"),
        ("az://c", {"credential": object()}, "credential"),
    ],
)
def test_option_the_engine_cannot_honour_is_named(
    url: str, options: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        SessionStorage(url, options, engine="obstore")
    assert named in str(info.value) and "obstore engine" in str(info.value)


def test_start_below_sorts_between_a_name_and_its_smaller_siblings() -> None:
    for name in ("ab", "a0", "session-00", "%2F"):
        key = start_below(name)
        assert key < name
        smaller = name[:-1] + chr(ord(name[-1]) - 1)
        assert smaller + "zzzz/state.json" < key  # encoded names hold no "~"


async def test_request_counts_match_the_fsspec_engine(
    make_s3_storage: MakeS3, s3_requests: RequestLog
) -> None:
    def kinds() -> list[str]:
        return [
            "LIST" if method == "GET" and ("list-type" in target) else method
            for method, target in s3_requests.take()
        ]

    async with make_s3_storage(engine="obstore") as storage:
        await storage.store_session("warm", {})
        kinds()
        await storage.store_session("abc", {"v": 1})
        assert kinds() == ["PUT"]
        await storage.load_session("abc")
        assert kinds() == ["GET"]
        await storage.load_session("missing")
        assert kinds() == ["GET"]
        await storage.session_exists("abc")
        assert kinds() == ["LIST"]
        await storage.get_session_metadata("abc")
        assert kinds() == ["HEAD"]
        assert await storage.list_sessions() == ["abc", "warm"]
        assert kinds() == ["LIST"]
        assert await storage.list_sessions(limit=1, start_after="abc") == ["warm"]
        assert kinds() == ["LIST"]
        for i in range(5):
            await storage.store_bytes("abc", f"f{i}", b"x")
        kinds()
        assert await storage.delete_session("abc") is True
        assert kinds() == ["LIST", "POST"]  # one listing, one DeleteObjects
        await storage.update_session("counter", lambda s: {"n": 1})
        assert kinds() == ["GET", "PUT"]


async def test_conditions_on_missing_and_existing_files(make_cloud_storage: MakeCloud) -> None:
    # What the event log's tail rewrites rely on, as on the fsspec engine.
    async with make_cloud_storage(engine="obstore") as storage:
        # A token of the cloud's own form (GCS versions are generation numbers).
        unknown = "1" if storage.backend == "gcs" else '"0123"'
        with pytest.raises(ConflictError):
            await storage.store_bytes("s", "tail", b"1", if_version=unknown)
        assert await storage.load_bytes("s", "tail") is None
        first = await storage.store_bytes("s", "tail", b"1", if_absent=True)
        with pytest.raises(ConflictError):
            await storage.store_bytes("s", "tail", b"2", if_absent=True)
        second = await storage.store_bytes("s", "tail", b"2", if_version=first)
        assert second != first
        with pytest.raises(ConflictError):
            await storage.store_bytes("s", "tail", b"3", if_version=first)
        assert await storage.load_bytes("s", "tail") == b"2"


async def test_versions_work_across_engines(make_cloud_storage: MakeCloud) -> None:
    async with make_cloud_storage(engine="obstore") as fast:
        settings = fast.settings
        async with SessionStorage(settings.url, settings.storage_options) as classic:
            version = await fast.store_session("s", {"n": 1})
            loaded = await classic.load_session("s", with_version=True)
            assert loaded.version == version
            again = await classic.store_session("s", {"n": 2}, if_version=version)
            assert (await fast.load_session("s", with_version=True)).version == again


async def _peak_while_iterating(storage: SessionStorage) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = 0
        async for _ in storage.iter_sessions():
            count += 1
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_streaming_listing_holds_one_page(make_s3_storage: MakeS3) -> None:
    # Memory while iterating stays that of one page, whatever the number of pages:
    # 3,000 sessions cost no more than 1,000 (the benchmark's listing does 100k).
    async with make_s3_storage(engine="obstore") as storage:
        small, big = storage.narrow("small"), storage.narrow("big")
        await small.store_sessions({f"s{i:05d}": {} for i in range(1000)})
        await big.store_sessions({f"s{i:05d}": {} for i in range(3000)})
        await _peak_while_iterating(small)  # warm: imports, first-use caches
        count_small, peak_small = await _peak_while_iterating(small)
        count_big, peak_big = await _peak_while_iterating(big)
    print(f"\npeak while iterating: 1000 sessions {peak_small} B, 3000 sessions {peak_big} B")
    assert (count_small, count_big) == (1000, 3000)
    assert peak_big < 1.5 * peak_small
