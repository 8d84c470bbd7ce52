"""Settings: environment parsing, defaults, backend names, and a repr without secrets."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from session_storage import (
    ConfigurationError,
    MissingDependencyError,
    SessionStorage,
    SessionStorageAdapter,
    StorageSettings,
    SyncSessionStorage,
)
from session_storage.backends import BACKENDS, Backend
from session_storage.settings import backend_url


def test_default_is_local_data_sessions() -> None:
    settings = StorageSettings.from_env({})
    assert settings.url == ".data/sessions"
    assert settings.storage_options == {}
    storage = SessionStorage.from_env({})
    assert storage.backend == "file"
    assert storage.url == "file://" + os.path.abspath(".data/sessions")


def test_url_wins_over_backend_and_bucket() -> None:
    env = {
        "SESSION_STORAGE_URL": "s3://b/p",
        "SESSION_STORAGE_BACKEND": "memory",
        "SESSION_STORAGE_BUCKET": "other",
    }
    assert StorageSettings.from_env(env).url == "s3://b/p"


@pytest.mark.parametrize(
    ("backend", "bucket", "root", "url"),
    [
        ("file", "sessions", ".data", ".data/sessions"),
        ("local", "x", "/var/lib/app", "/var/lib/app/x"),
        ("memory", "m", ".data", "memory://m"),
        ("s3", "bucket/prefix", ".data", "s3://bucket/prefix"),
        ("gcs", "b", ".data", "gs://b"),
        ("azure", "c/p", ".data", "az://c/p"),
        ("S3", "b", ".data", "s3://b"),
    ],
)
def test_backend_names_map_to_urls(backend: str, bucket: str, root: str, url: str) -> None:
    assert backend_url(backend, bucket, root) == url
    env = {"SESSION_STORAGE_BACKEND": backend, "SESSION_STORAGE_BUCKET": bucket}
    env["SESSION_STORAGE_ROOT"] = root
    assert StorageSettings.from_env(env).url == url


def test_options_are_parsed_from_json() -> None:
    env = {
        "SESSION_STORAGE_URL": "s3://b",
        "SESSION_STORAGE_OPTIONS": '{"endpoint_url": "http://127.0.0.1:9000", "anon": false}',
    }
    settings = StorageSettings.from_env(env)
    assert settings.storage_options == {"endpoint_url": "http://127.0.0.1:9000", "anon": False}


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"'])
def test_bad_options_are_a_clear_error(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="SESSION_STORAGE_OPTIONS"):
        StorageSettings.from_env({"SESSION_STORAGE_OPTIONS": raw})


def test_unknown_backend_and_scheme_are_clear_errors() -> None:
    with pytest.raises(ConfigurationError, match="unknown backend 'dropbox'"):
        StorageSettings.from_env({"SESSION_STORAGE_BACKEND": "dropbox"})
    with pytest.raises(ConfigurationError, match="unknown backend"):
        SessionStorageAdapter(backend="ftp")
    with pytest.raises(ConfigurationError, match="unsupported URL scheme 'nosuch'"):
        SessionStorage("nosuch://host/x")
    with pytest.raises(MissingDependencyError, match="dropbox backend needs its fsspec"):
        SessionStorage("dropbox://host/x")  # fsspec knows it; its package is not here
    assert SessionStorage("ftp://host/x").backend == "ftp"  # any protocol fsspec knows
    with pytest.raises(ConfigurationError, match="names no bucket"):
        SessionStorage("s3://")
    assert isinstance(ConfigurationError("x"), ValueError)


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
def test_every_scheme_of_the_backend_table_opens_its_driver(
    backend: Backend, tmp_path: Path
) -> None:
    url = backend_url(backend.name, "bucket/prefix", str(tmp_path))
    storage = SessionStorage(url)
    assert storage.backend == backend.name
    assert storage.url.startswith(f"{backend.scheme}://")
    for scheme in backend.schemes:  # every spelling means the same backend and root
        assert backend_url(scheme, "b/p", str(tmp_path)) == url.replace("bucket/prefix", "b/p")
        aliased = SessionStorage(scheme + storage.url[len(backend.scheme) :])
        assert aliased.backend == backend.name and aliased.url == storage.url


def test_repr_never_shows_secrets() -> None:
    settings = StorageSettings(
        "az://c/p?sv=2024&sig=SECRETSIG",
        {
            "key": "AKIAEXAMPLE",
            "secret": "TOPSECRET",
            "connection_string": "AccountKey=SECRETKEY",
            "client_kwargs": {"aws_session_token": "SESSIONTOKEN", "region_name": "eu-west-1"},
            "endpoint_url": "http://127.0.0.1:9000",
        },
    )
    text = repr(settings)
    for secret in ("AKIAEXAMPLE", "TOPSECRET", "SECRETKEY", "SESSIONTOKEN", "SECRETSIG"):
        assert secret not in text
    assert "eu-west-1" in text and "http://127.0.0.1:9000" in text
    assert "SECRETSIG" not in repr(SessionStorage("s3://user:pw@b/p?token=SECRETSIG"))
    assert "pw" not in repr(StorageSettings("s3://user:pw@b/p"))


def test_settings_are_frozen_and_copy_options() -> None:
    options = {"anon": True}
    settings = StorageSettings("memory://x", options)
    options["anon"] = False
    assert settings.storage_options == {"anon": True}
    with pytest.raises(AttributeError):
        settings.url = "other"  # type: ignore[misc]


def test_adapter_resolves_like_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SESSION_STORAGE_ROOT", str(tmp_path))
    adapter = SessionStorageAdapter(backend="file", bucket="sessions")
    assert adapter.backend == "file" and adapter.bucket == "sessions"
    assert adapter.url == f"file://{tmp_path}/sessions"
    assert SessionStorageAdapter("memory", "m").url == "memory://m"
    monkeypatch.setenv("SESSION_STORAGE_OPTIONS", '{"endpoint_url": "http://127.0.0.1:1"}')
    s3 = SessionStorageAdapter("s3", "bucket")
    assert s3.settings.storage_options == {"endpoint_url": "http://127.0.0.1:1"}


def test_from_settings_uses_url_and_options() -> None:
    storage = SessionStorage.from_settings(StorageSettings("memory://abc", {}))
    assert storage.backend == "memory" and storage.url == "memory://abc"


def test_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "s3fs", None)  # makes "import s3fs" fail

    async def use() -> None:
        await SessionStorage("s3://bucket").load_session("abc")

    import asyncio

    with pytest.raises(MissingDependencyError) as info:
        asyncio.run(use())
    assert 'pip install "session-storage[s3]"' in str(info.value)
    assert isinstance(info.value, ImportError)


# -- storage options the library cannot honour -------------------------------------------


@pytest.mark.parametrize(
    ("url", "option", "accepted"),
    [
        ("{tmp}", "bogus", "fsync"),
        ("file://{tmp}", "fsnyc", "fsync"),  # a typo of a real option
        ("{tmp}", "auto_mkdir", "fsync"),  # fsspec's: the driver always makes folders
        ("memory://opts", "bogus", "global_store"),
    ],
)
def test_unknown_storage_option_is_refused_naming_it(
    tmp_path: Path, url: str, option: str, accepted: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        SessionStorage(url.format(tmp=tmp_path), {option: 1})
    message = str(info.value)
    assert repr(option) in message and accepted in message
    assert info.value.backend == ("memory" if url.startswith("memory") else "file")
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_every_unknown_option_is_named_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="'alpha', 'beta'"):
        SessionStorage(tmp_path, {"beta": 1, "alpha": 2, "fsync": False})


async def test_accepted_storage_options_work(tmp_path: Path) -> None:
    local = SessionStorage(tmp_path, {"fsync": False})
    await local.store_session("s", {"n": 1})
    assert (await local.load_session("s") or {})["n"] == 1
    shared = [SessionStorage("memory://opts-shared", {"global_store": True}) for _ in range(2)]
    try:
        await shared[0].store_session("s", {"n": 2})
        assert (await shared[1].load_session("s") or {})["n"] == 2  # fsspec's one store
    finally:
        await shared[0].delete_session("s")
    async with SessionStorage("memory://opts-private", {"global_store": False}) as private:
        assert await private.load_session("s") is None


def test_local_raw_filesystem_opens_with_accepted_options(tmp_path: Path) -> None:
    storage = SessionStorage(tmp_path, {"fsync": False})
    fs = storage.filesystem  # fsspec's LocalFileSystem: no option of the driver reaches it
    assert fs.sync_fs.auto_mkdir is True


@pytest.mark.parametrize("url", ["s3://bucket/app", "gs://bucket/app", "az://container/app"])
@pytest.mark.parametrize("option", ["asynchronous", "skip_instance_cache"])
def test_options_the_driver_sets_itself_are_refused(url: str, option: str) -> None:
    with pytest.raises(ConfigurationError, match=option):
        SessionStorage(url, {option: False})


def test_repr_shows_the_engine_and_the_codecs_never_a_key() -> None:
    key = bytes(range(32))
    plain = SessionStorage("memory://shown")
    assert repr(plain) == "SessionStorage('memory://shown', engine='fsspec')"
    coded = SessionStorage(
        "s3://b/app", engine="obstore", compression="zstd", encryption_keys={"k1": key}
    )
    assert repr(coded) == "SessionStorage('s3://b/app', engine='obstore', codecs='zstd+aes')"
    assert repr(coded.narrow("tenant")).endswith("engine='obstore', codecs='zstd+aes')")
    encrypted = SessionStorage("memory://enc", encryption_keys={"k1": key})
    assert repr(encrypted).endswith("codecs='aes')")
    with SyncSessionStorage("memory://sync-shown", compression="zstd") as sync:
        shown = "SyncSessionStorage('memory://sync-shown', engine='fsspec', codecs='zstd')"
        assert repr(sync) == shown
    for text in (repr(coded), repr(encrypted), repr(coded.settings)):
        assert repr(key) not in text and base64.b64encode(key).decode() not in text


def test_only_from_env_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """README "Settings": the constructor takes its arguments only; from_env() (and the
    CLI) read SESSION_STORAGE_*. A test's environment never changes a storage it builds."""
    key = base64.b64encode(bytes(range(32))).decode()
    monkeypatch.setenv("SESSION_STORAGE_URL", "s3://b/env")
    monkeypatch.setenv("SESSION_STORAGE_ENGINE", "obstore")
    monkeypatch.setenv("SESSION_STORAGE_ENCRYPTION_KEYS", f'{{"k": "{key}"}}')
    monkeypatch.setenv("SESSION_STORAGE_COMPRESSION", "zstd")
    built = SessionStorage("s3://b/app")
    assert built.engine == "fsspec"
    assert built.settings.encryption_keys is None and built.settings.compression is None
    from_env = SessionStorage.from_env()
    assert from_env.url == "s3://b/env"
    assert from_env.engine == "obstore"
    assert repr(from_env).endswith("engine='obstore', codecs='zstd+aes')")
