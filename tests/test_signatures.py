"""One constructor signature: the blocking facade and the adapter take every argument
that SessionStorage takes, under the same names, kinds and defaults."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from session_storage import (
    EncryptionKeyError,
    InvalidArgumentError,
    SessionStorage,
    SessionStorageAdapter,
    SyncSessionStorage,
)

KEY = bytes(range(32))


def _parameters(cls: type) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(cls).parameters)


def test_the_blocking_facade_takes_exactly_the_storage_arguments() -> None:
    assert _parameters(SyncSessionStorage) == _parameters(SessionStorage)


def test_the_adapter_takes_every_storage_argument() -> None:
    storage = _parameters(SessionStorage)
    adapter = _parameters(SessionStorageAdapter)
    for name, parameter in storage.items():
        assert name in adapter, f"SessionStorageAdapter does not take {name}"
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            assert adapter[name] == parameter
    # The first two places are the adapter's own: backend and bucket. The storage's
    # positional arguments are taken by keyword; without a url, backend and bucket
    # make it.
    assert list(adapter)[:2] == ["backend", "bucket"]
    for name in ("url", "storage_options"):
        assert adapter[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert adapter[name].annotation.startswith(storage[name].annotation)
    assert adapter["storage_options"].default is storage["storage_options"].default is None
    assert adapter["url"].default is None


def test_the_adapter_takes_a_url_instead_of_backend_and_bucket(tmp_path: Path) -> None:
    adapter = SessionStorageAdapter(url="memory://by-url", timeout=5.0, max_concurrency=3)
    assert adapter.url == "memory://by-url" and adapter.bucket == "by-url"
    assert adapter.settings.timeout == 5.0 and adapter.max_concurrency == 3
    with pytest.raises(InvalidArgumentError, match="not both"):
        SessionStorageAdapter("s3", url="memory://x")
    with pytest.raises(InvalidArgumentError, match="not both"):
        SessionStorageAdapter(root=str(tmp_path), url="memory://x")


def test_from_settings_builds_the_adapter_too() -> None:
    storage = SessionStorageAdapter.from_settings(SessionStorage("memory://made").settings)
    assert isinstance(storage, SessionStorageAdapter) and storage.url == "memory://made"


def test_the_blocking_facade_encrypts_and_compresses(tmp_path: Path) -> None:
    state = {"text": "secret words " * 50}
    compression = {"method": "zstd", "min_size": 0}
    with SyncSessionStorage(
        tmp_path, encryption_keys={"k1": KEY}, compression=compression
    ) as storage:
        storage.store_session("s", state)
        assert storage.settings.encryption_keys is not None
        loaded = storage.load_session("s")
    assert loaded is not None and loaded["text"] == state["text"]
    stored = next(tmp_path.rglob("state.json")).read_bytes()
    assert b"secret words" not in stored  # encrypted, not plain JSON
    with SyncSessionStorage(tmp_path) as plain, pytest.raises(EncryptionKeyError, match="'k1'"):
        plain.load_session("s")  # no keys: the error names the key id the file needs
    with SyncSessionStorage(tmp_path, encryption_keys={"k1": KEY}) as again:
        again_loaded = again.load_session("s")
    assert again_loaded is not None and again_loaded["text"] == state["text"]


async def test_the_adapter_encrypts(tmp_path: Path) -> None:
    async with SessionStorageAdapter(
        "file", "enc", root=str(tmp_path), encryption_keys={"k1": KEY}
    ) as storage:
        await storage.store_session("s", {"word": "hidden"})
        assert await storage.load_session("s") is not None
    assert b"hidden" not in next(tmp_path.rglob("state.json")).read_bytes()


def test_from_filesystem_takes_the_storage_keywords_on_both_facades() -> None:
    keywords = {
        name: parameter
        for name, parameter in _parameters(SessionStorage).items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    for facade in (SessionStorage, SyncSessionStorage):
        parameters = dict(inspect.signature(facade.from_filesystem).parameters)
        assert list(parameters)[:2] == ["fs", "root"]
        assert {k: v for k, v in parameters.items() if k not in ("fs", "root")} == keywords
