"""Encrypted and compressed files read by a storage without codecs: the error says
what the file is and names its key id, instead of "not valid JSON". On local disk, S3
(moto) and memory."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from session_storage import (
    ConfigurationError,
    CorruptDataError,
    EncryptionKeyError,
    SessionStorage,
)
from session_storage.codecs.envelope import MAGIC
from session_storage.pytest_plugin import s3_storage_options

from ..support.cloud import new_bucket

KEY = bytes(range(32))

Open = Callable[..., SessionStorage]


@pytest.fixture(params=["file", "s3", "memory"])
def open_at(request: pytest.FixtureRequest, tmp_path: Path) -> Open:
    """A factory of storages on one fresh root, each with the codecs it is given."""
    if request.param == "file":
        return lambda **codecs: SessionStorage(tmp_path / "store", **codecs)
    if request.param == "memory":
        url = f"memory://plain-{uuid.uuid4().hex}"
        options = {"global_store": True}  # one store for the storages of this test
        return lambda **codecs: SessionStorage(url, options, **codecs)
    endpoint = request.getfixturevalue("moto_s3_server")
    url = f"s3://{new_bucket(endpoint)}/app"
    options = s3_storage_options(endpoint)
    return lambda **codecs: SessionStorage(url, options, **codecs)


async def test_an_encrypted_file_read_without_keys_names_its_key_id(open_at: Open) -> None:
    async with open_at(encryption_keys={"2026-11": KEY}, compression="zstd") as writer:
        await writer.store_session("s", {"secret": "x" * 1000})
        await writer.append_events("s", "log", [1, 2])
    async with open_at(compression={"method": "zstd", "min_size": 1}) as writer:
        await writer.store_session("z", {"packed": "y" * 1000})
    async with open_at() as reader:
        for call, filename in (
            (lambda: reader.load_session("s"), "'state.json'"),
            (lambda: reader.read_events("s", "log"), "'log/tail.json'"),
            (lambda: reader.update_session("s", lambda state: state), "'state.json'"),
        ):
            with pytest.raises(EncryptionKeyError) as info:
                await call()
            message = str(info.value)
            assert info.value.key_id == "2026-11" and isinstance(info.value.__cause__, ValueError)
            assert "the file is encrypted" in message and "under key id '2026-11'" in message
            assert "no encryption_keys" in message and filename in message
            assert "'s'" in message and "not valid JSON" not in message
        with pytest.raises(ConfigurationError) as compressed:
            await reader.load_session("z")
        assert not isinstance(compressed.value, EncryptionKeyError)
        assert "compressed (zstd)" in str(compressed.value) and "'z'" in str(compressed.value)
        # Bytes are still handed out as stored, and a broken plain file is still corrupt.
        raw = await reader.load_bytes("s", "state.json")
        assert raw is not None and raw.startswith(MAGIC)
        await reader.store_bytes("p", "state.json", b"{not json")
        with pytest.raises(CorruptDataError, match="not valid JSON"):
            await reader.load_session("p")
        await reader.store_bytes("q", "state.json", MAGIC + b"\x07")  # no envelope we know
        with pytest.raises(ConfigurationError, match="starts as a session-storage envelope"):
            await reader.load_session("q")
