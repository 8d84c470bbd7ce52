"""Encryption and compression of stored bodies: the envelope, keys, tampering, moved
objects, mixed stores, settings. On local disk and S3 (moto); the contract suite runs
in a codec lane too (tests/backends/test_driver_contract.py)."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from session_storage import (
    ConfigurationError,
    CorruptDataError,
    EncryptionKeyError,
    SessionStorage,
    StorageSettings,
    copy_sessions,
)
from session_storage.codecs.envelope import MAGIC, parse_header
from session_storage.pytest_plugin import s3_storage_options

from ..support.cloud import new_bucket

OLD = bytes(range(32))
NEW = bytes(range(100, 132))
STATE = {"messages": [{"role": "user", "content": f"turn {i} " * 20} for i in range(30)]}

Open = Callable[..., SessionStorage]
"""Storages on one shared root: ``open_at(**codecs)``."""


@pytest.fixture(params=["file", "s3"])
def open_at(request: pytest.FixtureRequest, tmp_path: Path) -> Open:
    """A factory of storages on one fresh root, each with the codecs it is given."""
    if request.param == "file":
        root = tmp_path / "store"
        return lambda **codecs: SessionStorage(root, **codecs)
    endpoint = request.getfixturevalue("moto_s3_server")
    url = f"s3://{new_bucket(endpoint)}/app"
    options = s3_storage_options(endpoint)
    return lambda **codecs: SessionStorage(url, options, **codecs)


@pytest.fixture
async def memory() -> AsyncIterator[SessionStorage]:
    async with SessionStorage(
        f"memory://enc-{uuid.uuid4().hex}", encryption_keys={"new": NEW, "old": OLD}
    ) as storage:
        yield storage


async def stored(storage: SessionStorage, relative: str) -> bytes:
    """The bytes as they lie in the backend, below the storage's root."""
    data: bytes = await storage.filesystem._cat_file(f"{storage._scope.root}/{relative}")
    return data


async def plant(storage: SessionStorage, relative: str, data: bytes) -> None:
    await storage.filesystem._pipe_file(f"{storage._scope.root}/{relative}", data)


# -- what is stored ------------------------------------------------------------------


async def test_without_codecs_objects_are_plain_json_and_the_driver_is_not_wrapped(
    open_at: Open,
) -> None:
    async with open_at() as storage:
        await storage.store_session("s", {"a": 1})
        data = await stored(storage, "s/state.json")
        assert orjson.loads(data)["a"] == 1 and data.startswith(b"{")
        assert not hasattr(storage._scope.driver, "codec")


async def test_encrypted_objects_hide_the_content_and_carry_the_key_id(open_at: Open) -> None:
    async with open_at(encryption_keys={"2026-11": NEW}, compression="zstd") as storage:
        await storage.store_session("s", STATE)
        await storage.store_bytes("s", "notes.txt", b"secret address 42")
        for name in ("s/state.json", "s/notes.txt"):
            data = await stored(storage, name)
            header = parse_header(data)
            assert header is not None and header.encrypted and header.key_id == "2026-11"
            assert b"turn" not in data and b"secret" not in data and b"_metadata" not in data
        # The big state was compressed before encryption; the short text was not.
        assert parse_header(await stored(storage, "s/state.json")).compressed  # type: ignore[union-attr]
        assert not parse_header(await stored(storage, "s/notes.txt")).compressed  # type: ignore[union-attr]
        loaded = await storage.load_session("s")
        assert loaded is not None and loaded["messages"] == STATE["messages"]
        assert loaded["_metadata"]["session_id"] == "s"
        assert await storage.load_bytes("s", "notes.txt") == b"secret address 42"


async def test_compression_only_shrinks_big_bodies_and_leaves_small_ones_plain(
    memory: SessionStorage,
) -> None:
    async with SessionStorage(
        f"memory://z-{uuid.uuid4().hex}", compression={"method": "zstd", "level": 3}
    ) as storage:
        await storage.store_session("big", STATE)
        await storage.store_session("small", {"n": 1})
        big = await stored(storage, "big/state.json")
        small = await stored(storage, "small/state.json")
        header = parse_header(big)
        assert header is not None and header.compressed and not header.encrypted
        assert len(big) * 3 < len(orjson.dumps(STATE))
        assert small.startswith(b'{"n":1,')  # below min_size: the JSON itself
        assert (await storage.load_session("big") or {})["messages"] == STATE["messages"]
        assert (await storage.load_session("small") or {})["n"] == 1


async def test_bytes_that_start_like_an_envelope_round_trip(memory: SessionStorage) -> None:
    async with SessionStorage(f"memory://m-{uuid.uuid4().hex}", compression="zstd") as storage:
        tricky = MAGIC + b"\x01\x00 not an envelope"
        await storage.store_bytes("s", "blob.bin", tricky)
        assert await storage.load_bytes("s", "blob.bin") == tricky
        assert (await stored(storage, "s/blob.bin")) != tricky  # wrapped, so unambiguous


async def test_versions_and_conditions_are_the_backends(open_at: Open) -> None:
    async with open_at(encryption_keys={"k": NEW}) as storage:
        version = await storage.store_session("s", {"v": 1})
        loaded = await storage.load_session("s", with_version=True)
        assert loaded.version == version
        meta = await storage.get_session_metadata("s")
        assert meta is not None and meta["version"] == version
        assert meta["size"] == len(await stored(storage, "s/state.json"))
        await storage.store_session("s", {"v": 2}, if_version=version)
        from session_storage import ConflictError

        with pytest.raises(ConflictError):
            await storage.store_session("s", {"v": 3}, if_version=version)
        assert (await storage.load_session("s") or {})["v"] == 2


async def test_event_logs_are_encrypted_too(memory: SessionStorage) -> None:
    for i in range(3):
        assert await memory.append_event("s", "chat", {"said": f"hello {i}"}) == i
    assert await memory.read_events("s", "chat") == [{"said": f"hello {i}"} for i in range(3)]
    files = await memory.list_files("s")
    assert files
    for name in files:
        data = await stored(memory, f"s/{name}")
        assert data.startswith(MAGIC) and b"hello" not in data


# -- tampering, moving, keys -----------------------------------------------------------


@pytest.mark.parametrize("length", [1, 100_000], ids=["small", "100kB"])  # copied / viewed
async def test_tampered_ciphertext_and_header_raise_corrupt_data(
    open_at: Open, length: int
) -> None:
    async with open_at(encryption_keys={"k1": NEW}) as storage:
        await storage.store_session("s", {"secret": "x" * length})
        assert ((await storage.load_session("s")) or {})["secret"] == "x" * length
        good = await stored(storage, "s/state.json")
        header = parse_header(good)
        assert header is not None
        body_flip = good[:-5] + bytes([good[-5] ^ 1]) + good[-4:]
        flag_flip = good[:5] + bytes([good[5] | 0x01]) + good[6:]  # claims "compressed"
        for bad in (body_flip, flag_flip, good[: header.size + 3]):
            await plant(storage, "s/state.json", bad)
            with pytest.raises(CorruptDataError) as info:
                await storage.load_session("s")
            assert info.value.session_id == "s" and info.value.filename == "state.json"
            assert "'s'" in str(info.value) and "state.json" in str(info.value)


async def test_swapped_objects_fail_to_decrypt(open_at: Open) -> None:
    async with open_at(encryption_keys={"k1": NEW}) as storage:
        await storage.store_session("alice", {"card": "4111"})
        await storage.store_session("bob", {"card": "5500"})
        await storage.store_bytes("alice", "a.bin", b"alice's bytes")
        alice = await stored(storage, "alice/state.json")
        await plant(storage, "bob/state.json", alice)  # another session
        await plant(storage, "alice/other.json", alice)  # another file of the same session
        with pytest.raises(CorruptDataError) as info:
            await storage.load_session("bob")
        assert (info.value.session_id, info.value.filename) == ("bob", "state.json")
        assert "moved here from another session or file" in str(info.value)
        with pytest.raises(CorruptDataError):
            await storage.load_session("alice", "other.json")
        await plant(storage, "bob/a.bin", await stored(storage, "alice/a.bin"))
        with pytest.raises(CorruptDataError):
            await storage.load_bytes("bob", "a.bin")
        assert (await storage.load_session("alice") or {})["card"] == "4111"


async def test_narrowed_views_and_storages_opened_below_agree(tmp_path: Path) -> None:
    keys = {"k": NEW}
    async with SessionStorage(tmp_path / "app", encryption_keys=keys) as top:
        tenant = top.narrow("tenant-1")
        await tenant.store_session("s", {"n": 1})
        await top.store_session("tenant-1", {"n": 2}, "s/other.json")
        # The same files through the parent, the view, and a storage opened at the
        # view's own folder: the bound key is the path below the writer's root.
        assert (await top.load_session("tenant-1", "s/state.json") or {})["n"] == 1
        assert (await tenant.load_session("s", "other.json") or {})["n"] == 2
    async with SessionStorage(tmp_path / "app" / "tenant-1", encryption_keys=keys) as direct:
        assert (await direct.load_session("s") or {})["n"] == 1
        assert (await direct.load_session("s", "other.json") or {})["n"] == 2
    # A whole tree moved elsewhere still reads.
    (tmp_path / "app").rename(tmp_path / "moved")
    async with SessionStorage(tmp_path / "moved", encryption_keys=keys) as moved:
        assert (await moved.load_session("tenant-1", "s/state.json") or {})["n"] == 1


async def test_a_file_moved_to_another_tenant_fails(tmp_path: Path) -> None:
    async with SessionStorage(tmp_path / "app", encryption_keys={"k": NEW}) as top:
        await top.narrow("a").store_session("s", {"n": 1})
        await plant(top, "b/s/state.json", await stored(top, "a/s/state.json"))
        with pytest.raises(CorruptDataError):
            await top.narrow("b").load_session("s")


async def test_missing_key_id_names_the_id_and_never_a_key(open_at: Open) -> None:
    async with open_at(encryption_keys={"2026-05": OLD}) as old:
        await old.store_session("s", {"n": 1})
    async with open_at(encryption_keys={"2026-11": NEW}) as new:
        with pytest.raises(EncryptionKeyError) as info:
            await new.load_session("s")
    error = info.value
    assert isinstance(error, ConfigurationError)
    assert error.key_id == "2026-05" and "'2026-05'" in str(error)
    assert (error.session_id, error.filename) == ("s", "state.json")
    for key in (OLD, NEW):
        assert base64.b64encode(key).decode() not in str(error) and repr(key) not in str(error)
    # Without any keys (compression only) an encrypted file is as unreadable.
    async with open_at(compression="zstd") as unkeyed, open_at() as plain:
        with pytest.raises(EncryptionKeyError, match="none are configured"):
            await unkeyed.load_session("s")
        # No codecs at all: the stored bytes come back as they are, and a state load
        # names the key id too (tests/codecs/test_read_without_codecs.py).
        assert (await plain.load_bytes("s", "state.json") or b"").startswith(MAGIC)
        with pytest.raises(EncryptionKeyError, match="no encryption_keys") as bare:
            await plain.load_session("s")
        assert bare.value.key_id == "2026-05"


async def test_wrong_key_under_a_known_id_raises_corrupt_data(open_at: Open) -> None:
    async with open_at(encryption_keys={"k": OLD}) as writer:
        await writer.store_session("s", {"n": 1})
    async with open_at(encryption_keys={"k": NEW}) as reader:
        with pytest.raises(CorruptDataError, match="another key of that id"):
            await reader.load_session("s")


async def test_rotation_first_key_encrypts_every_key_decrypts(open_at: Open) -> None:
    async with open_at(encryption_keys={"old": OLD}) as before:
        await before.store_session("s1", {"n": 1})
    async with open_at(encryption_keys={"new": NEW, "old": OLD}) as after:
        assert (await after.load_session("s1") or {})["n"] == 1
        await after.store_session("s2", {"n": 2})
        header = parse_header(await stored(after, "s2/state.json"))
        assert header is not None and header.key_id == "new"


async def test_mixed_store_plain_zstd_and_encrypted_reads_back(open_at: Open) -> None:
    blob = os.urandom(3000)
    writers: dict[str, dict[str, Any]] = {
        "plain": {},
        "zstd": {"compression": "zstd"},
        "aes": {"encryption_keys": {"old": OLD}},
        "zstd+aes": {"encryption_keys": {"new": NEW}, "compression": "zstd"},
    }
    for name, codecs in writers.items():
        async with open_at(**codecs) as writer:
            await writer.store_session(name, {**STATE, "by": name})
            await writer.store_bytes(name, "blob.bin", blob)
            await writer.append_event(name, "log", {"by": name})
    async with open_at(encryption_keys={"new": NEW, "old": OLD}, compression="zstd") as reader:
        loaded = await reader.load_sessions(list(writers))
        assert {name: (state or {}).get("by") for name, state in loaded.items()} == {
            name: name for name in writers
        }
        for name in writers:
            assert await reader.load_bytes(name, "blob.bin") == blob
            assert await reader.read_events(name, "log") == [{"by": name}]
    async with open_at(compression="zstd") as zstd_only:
        for name in ("plain", "zstd"):
            assert (await zstd_only.load_session(name) or {}).get("by") == name


async def test_copy_sessions_reencrypts_for_the_destination(tmp_path: Path) -> None:
    src = SessionStorage(tmp_path / "src", encryption_keys={"a": OLD})
    dst = SessionStorage(tmp_path / "dst", encryption_keys={"b": NEW}, compression="zstd")
    async with src, dst:
        await src.store_session("s", STATE)
        await src.store_bytes("s", "x.bin", b"payload")
        result = await copy_sessions(src, dst)
        assert result.copied == 2
        assert (await dst.load_session("s") or {})["messages"] == STATE["messages"]
        header = parse_header(await stored(dst, "s/state.json"))
        assert header is not None and header.key_id == "b" and header.compressed
        again = await copy_sessions(src, dst)  # identical bodies are skipped
        assert again.skipped == 2 and again.copied == 0


# -- settings ----------------------------------------------------------------------------


def test_keys_as_bytes_or_base64_and_never_in_reprs() -> None:
    b64 = base64.b64encode(NEW).decode()
    urlsafe = base64.urlsafe_b64encode(OLD).decode().rstrip("=")
    settings = StorageSettings("memory://x", encryption_keys={"a": b64, "b": urlsafe, "c": NEW})
    assert settings.keyring is not None and settings.keyring.primary == "a"
    assert dict(settings.keyring) == {"a": NEW, "b": OLD, "c": NEW}
    storage = SessionStorage.from_settings(settings)
    for text in (repr(settings), repr(storage.settings), repr(storage._scope.driver)):
        assert "'a'" in text or "a" in text
        assert b64 not in text and urlsafe not in text and repr(NEW) not in text


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"k": b"short"}, "'k' is 5 bytes; AES-256 needs 32"),
        ({"k": "not base64!"}, "'k' is not valid base64"),
        ({"k": 42}, "'k' must be bytes or a base64 str"),
        ({"": NEW}, "non-empty str"),
        ({}, "is empty"),
    ],
)
def test_bad_keys_are_refused_naming_the_id_only(keys: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        SessionStorage("memory://x", encryption_keys=keys)
    assert "not base64!" not in str(info.value) or "'k'" in str(info.value)


@pytest.mark.parametrize(
    ("compression", "message"),
    [
        ("gzip", "unknown compression method 'gzip'"),
        ({"method": "zstd", "level": 99}, "level must be an int"),
        ({"method": "zstd", "lvl": 3}, "unknown compression setting 'lvl'"),
        (3, "compression must be None"),
    ],
)
def test_bad_compression_is_refused(compression: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SessionStorage("memory://x", compression=compression)


def test_codecs_from_the_environment() -> None:
    env = {
        "SESSION_STORAGE_URL": "memory://env",
        "SESSION_STORAGE_ENCRYPTION_KEYS": orjson.dumps(
            {"new": base64.b64encode(NEW).decode(), "old": base64.b64encode(OLD).decode()}
        ).decode(),
        "SESSION_STORAGE_COMPRESSION": '{"method": "zstd", "level": 9}',
    }
    settings = StorageSettings.from_env(env)
    assert settings.keyring is not None and list(settings.keyring) == ["new", "old"]
    assert settings.compression_codec is not None and settings.compression_codec.level == 9
    assert StorageSettings.from_env({**env, "SESSION_STORAGE_COMPRESSION": "zstd"}).compression
    secret = base64.b64encode(NEW).decode()
    with pytest.raises(ConfigurationError, match="not valid JSON") as info:
        StorageSettings.from_env({"SESSION_STORAGE_ENCRYPTION_KEYS": '{"k": "' + secret})
    assert secret not in str(info.value)
    with pytest.raises(ConfigurationError, match="must be a JSON object"):
        StorageSettings.from_env({"SESSION_STORAGE_ENCRYPTION_KEYS": f'["{secret}"]'})


def test_missing_cryptography_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from session_storage import MissingDependencyError
    from session_storage.codecs.encryption import Keyring

    # An import of the module that holds AESGCM now fails.
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.ciphers.aead", None)
    with pytest.raises(MissingDependencyError, match=r"session-storage\[encryption\]") as info:
        Keyring({"k1": OLD}).cipher("k1")
    assert isinstance(info.value.__cause__, ImportError)
