"""The behaviour every backend must show. Each backend's test class subclasses this.

Subclasses provide ``make_storage``: a factory of fresh, empty storages. The ``raw``
fixture reads and writes through the storage's own fsspec filesystem, bypassing the
facade under test, to plant corrupt or foreign files and to check what was written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import orjson
import pytest

from session_storage import (
    BatchError,
    ConflictError,
    CorruptDataError,
    InvalidArgumentError,
    InvalidKeyError,
    SerializationError,
    SessionStorage,
    SessionStorageError,
    VersionedBytes,
    VersionedState,
)
from session_storage.backends.local.paths import MARKER_NAME
from session_storage.core.keys import encode_segment, session_sort_key

StorageFactory = Callable[[], SessionStorage]

CODECS: dict[str, Mapping[str, Any]] = {
    "plain": {},
    # Every body compressed (min_size 0: the small states of the suite too) and then
    # encrypted; reads of plain objects planted by ``raw`` still work.
    "zstd+aes": {
        "encryption_keys": {"contract": bytes(range(32)), "retired": bytes(32)},
        "compression": {"method": "zstd", "min_size": 0},
    },
}
"""The codec lanes a backend's contract class can run in (``codec_lanes``)."""


def with_codecs(storage: SessionStorage, lane: str) -> SessionStorage:
    """``storage`` itself in the plain lane, else a storage on the same root with the
    lane's codecs (``storage`` has done no I/O and is dropped)."""
    codecs = CODECS[lane]
    if not codecs:
        return storage
    return SessionStorage.from_settings(dataclasses.replace(storage.settings, **codecs))


WEIRD_IDS = [
    "../x",
    "..",
    ".",
    "a/b",
    "a_b",
    "a\\b",
    "\x00",
    "☃",
    "emoji-🦄",
    "%2F",
    "a b",
    "A",
    "a",
    ".hidden",
    "tilde~",
    "-leading-dash",
]


def session_order(ids: Iterable[str]) -> list[str]:
    """``ids`` in the documented listing order: that of the encoded id plus ``/``."""
    return sorted(ids, key=lambda session_id: encode_segment(session_id) + "/")


async def all_pages(storage: SessionStorage, limit: int) -> list[list[str]]:
    """Every page of ``limit`` ids, each starting after the last id of the one before."""
    pages = [await storage.list_sessions(limit=limit)]
    while pages[-1]:
        pages.append(await storage.list_sessions(limit=limit, start_after=pages[-1][-1]))
    return pages


def flat(pages: list[list[str]]) -> list[str]:
    return [session_id for page in pages for session_id in page]


_STAMP_LIKE = {"session_id": "s", "filename": "f", "stored_at": "t", "backend": "b"}


class Raw:
    """Direct access to the files under a storage's root, bypassing the facade."""

    def __init__(self, storage: SessionStorage, under_test: SessionStorage | None = None) -> None:
        """``storage`` gives the filesystem; ``under_test`` (default: ``storage``) the
        codecs that :meth:`body` opens envelopes with."""
        self.fs = storage.filesystem
        # fsspec's async wrapper strips the wrapped filesystem's protocol only from
        # 2025 on; ask the wrapped one itself.
        inner = getattr(self.fs, "sync_fs", self.fs)
        self.root = inner._strip_protocol(storage.url).rstrip("/")
        self.driver = (under_test or storage)._scope.driver

    def path(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    async def put(self, relative: str, data: bytes) -> None:
        await self.fs._pipe_file(self.path(relative), data)

    async def get(self, relative: str) -> bytes:
        data: bytes = await self.fs._cat_file(self.path(relative))
        return data

    async def body(self, relative: str) -> bytes:
        """The stored bytes with any codec envelope opened: what the caller stored."""
        data = await self.get(relative)
        codec = getattr(self.driver, "codec", None)
        return data if codec is None else bytes(codec.decode(self.path(relative), data))

    async def files(self) -> list[str]:
        """Every file below the root, relative to it, sorted.

        Files whose name starts with a dot are left out: local disk keeps its temp
        files and folder locks (``.lock``) under such names, which no key can have.
        """
        try:
            found = await self.fs._find(self.root)
        except FileNotFoundError:
            return []
        prefix = self.root + "/"
        return sorted(
            p[len(prefix) :]
            for p in found
            if p.startswith(prefix) and not p.rpartition("/")[2].startswith(".")
        )

    async def hidden(self) -> list[str]:
        """The dot-named files left out by :meth:`files`, relative to the root.

        The marker file at a local store's root (``.session-storage``) stays for the
        store's lifetime and is not counted.
        """
        try:
            found = await self.fs._find(self.root)
        except FileNotFoundError:
            return []
        prefix = self.root + "/"
        return sorted(
            p[len(prefix) :]
            for p in found
            if p.startswith(prefix)
            and p.rpartition("/")[2].startswith(".")
            and p[len(prefix) :] != MARKER_NAME
        )


class StorageContract:
    """One behaviour suite; a backend passes when every test here passes."""

    backend: str
    codec_lanes: ClassVar[tuple[str, ...]] = ("plain",)
    """The :data:`CODECS` lanes this backend runs every ``storage`` test in."""

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        # One parameter per codec lane, and no parameter (unchanged test ids) for one lane.
        if len(self.codec_lanes) > 1 and "codec_lane" in metafunc.fixturenames:
            metafunc.parametrize("codec_lane", self.codec_lanes)

    @pytest.fixture
    def codec_lane(self) -> str:
        return self.codec_lanes[0]

    @pytest.fixture
    def make_storage(self) -> StorageFactory:
        raise NotImplementedError

    @pytest.fixture
    async def storage(
        self, make_storage: StorageFactory, codec_lane: str
    ) -> AsyncIterator[SessionStorage]:
        async with with_codecs(make_storage(), codec_lane) as storage:
            yield storage

    @pytest.fixture
    async def raw(self, storage: SessionStorage) -> Raw:
        return Raw(storage)

    def peer(self, storage: SessionStorage) -> SessionStorage:
        """Another client of the same root, with its own connections and caches.

        A memory storage is private to its object, so there the peer is the object.
        """
        return SessionStorage.from_settings(storage.settings)

    # -- store and load ------------------------------------------------------------

    async def test_store_then_load_returns_state_with_metadata_stamp(
        self, storage: SessionStorage
    ) -> None:
        before = datetime.now(timezone.utc) - timedelta(seconds=5)
        version = await storage.store_session("abc", {"status": "active", "n": [1, 2]})
        assert isinstance(version, str) and version
        loaded = await storage.load_session("abc")
        assert loaded is not None
        meta = loaded.pop("_metadata")
        assert loaded == {"status": "active", "n": [1, 2]}
        assert meta["session_id"] == "abc"
        assert meta["filename"] == "state.json"
        assert meta["backend"] == self.backend == storage.backend
        stored_at = datetime.fromisoformat(meta["stored_at"])
        assert stored_at.utcoffset() == timedelta(0)
        assert before <= stored_at <= datetime.now(timezone.utc) + timedelta(seconds=5)

    async def test_callers_metadata_key_is_refused_unless_a_stamp(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        for own in ({"session_id": "forged"}, "notes", {"a": 1, **_STAMP_LIKE}):
            with pytest.raises(SerializationError) as info:
                await storage.store_session("abc", {"x": 1, "_metadata": own})
            assert "'_metadata'" in str(info.value) and "'abc'" in str(info.value)
        assert await raw.files() == []
        # A loaded state stored back keeps working: its stamp is renewed.
        await storage.store_session("abc", {"x": 1})
        loaded = await storage.load_session("abc")
        assert loaded is not None
        loaded["x"] = 2
        await storage.store_session("abc", loaded, "copy.json")
        copied = await storage.load_session("abc", "copy.json")
        assert copied is not None and copied["x"] == 2
        assert copied["_metadata"]["filename"] == "copy.json"
        assert set(copied["_metadata"]) == {"session_id", "filename", "stored_at", "backend"}

    async def test_stored_json_is_compact(self, storage: SessionStorage, raw: Raw) -> None:
        await storage.store_session("abc", {"a": {"b": [1, 2, 3]}, "s": "x y"})
        data = await raw.body("abc/state.json")
        assert data == orjson.dumps(orjson.loads(data))
        assert b": " not in data and b", " not in data

    async def test_store_replaces_previous_state(self, storage: SessionStorage) -> None:
        await storage.store_session("abc", {"v": 1, "only_in_first": True})
        await storage.store_session("abc", {"v": 2})
        loaded = await storage.load_session("abc")
        assert loaded is not None and loaded["v"] == 2 and "only_in_first" not in loaded

    async def test_missing_session_and_file_load_as_none(self, storage: SessionStorage) -> None:
        assert await storage.load_session("nope") is None
        await storage.store_session("abc", {"v": 1})
        assert await storage.load_session("abc", "other.json") is None
        assert await storage.load_bytes("abc", "other.bin") is None
        assert await storage.get_session_metadata("nope") is None
        assert await storage.get_session_metadata("abc", "other.json") is None

    async def test_named_and_nested_files(self, storage: SessionStorage) -> None:
        await storage.store_session("abc", {"main": True})
        await storage.store_session("abc", {"n": 1}, "checkpoint_001.json")
        await storage.store_session("abc", {"n": 2}, "checkpoints/002.json")
        cp1 = await storage.load_session("abc", "checkpoint_001.json")
        cp2 = await storage.load_session("abc", "checkpoints/002.json")
        assert cp1 is not None and cp1["n"] == 1
        assert cp1["_metadata"]["filename"] == "checkpoint_001.json"
        assert cp2 is not None and cp2["n"] == 2
        assert await storage.list_files("abc") == [
            "checkpoint_001.json",
            "checkpoints/002.json",
            "state.json",
        ]

    async def test_list_files_of_missing_session_is_empty(self, storage: SessionStorage) -> None:
        assert await storage.list_files("nope") == []

    # -- bad input -------------------------------------------------------------------

    @pytest.mark.parametrize("state", [["a", "list"], "text", 42, None])
    async def test_non_dict_state_raises_and_writes_nothing(
        self, storage: SessionStorage, raw: Raw, state: Any
    ) -> None:
        with pytest.raises(SerializationError) as info:
            await storage.store_session("abc", state)
        assert isinstance(info.value, ValueError)
        assert "abc" in str(info.value) and self.backend in str(info.value)
        assert await raw.files() == []

    async def test_unserializable_state_raises_and_keeps_old_value(
        self, storage: SessionStorage
    ) -> None:
        await storage.store_session("abc", {"v": 1})
        for bad in ({"v": {1, 2}}, {"v": object()}, {1: "int key"}, {"v": b"bytes"}):
            with pytest.raises(SerializationError) as info:
                await storage.store_session("abc", bad)
            message = str(info.value)
            assert "'abc'" in message and "'state.json'" in message and self.backend in message
        loaded = await storage.load_session("abc")
        assert loaded is not None and loaded["v"] == 1

    @pytest.mark.parametrize("bad_id", ["", 5, None, b"bytes"])
    async def test_empty_or_non_str_id_is_refused_with_reason(
        self, storage: SessionStorage, bad_id: Any
    ) -> None:
        with pytest.raises(InvalidKeyError) as info:
            await storage.store_session(bad_id, {"v": 1})
        assert "session id" in str(info.value)
        assert ("empty" in str(info.value)) == (bad_id == "")
        with pytest.raises(InvalidKeyError):
            await storage.load_session(bad_id)

    @pytest.mark.parametrize("bad_name", ["", "a//b", "/a", "a/", 3])
    async def test_bad_filename_is_refused(self, storage: SessionStorage, bad_name: Any) -> None:
        with pytest.raises(InvalidKeyError):
            await storage.store_session("abc", {"v": 1}, bad_name)

    async def test_corrupt_file_is_reported_not_missing(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        await raw.put("abc/state.json", b"{not json")
        with pytest.raises(CorruptDataError) as info:
            await storage.load_session("abc")
        message = str(info.value)
        assert self.backend in message and "'abc'" in message and "'state.json'" in message
        assert info.value.__cause__ is not None
        assert isinstance(info.value, ValueError) and isinstance(info.value, SessionStorageError)
        await raw.put("abc/list.json", b"[1, 2]")
        with pytest.raises(CorruptDataError):
            await storage.load_session("abc", "list.json")

    # -- keys ------------------------------------------------------------------------

    async def test_any_id_round_trips_stays_inside_root_and_is_distinct(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        for i, session_id in enumerate(WEIRD_IDS):
            await storage.store_session(session_id, {"i": i})
        assert await storage.list_sessions() == session_order(WEIRD_IDS)
        for i, session_id in enumerate(WEIRD_IDS):
            loaded = await storage.load_session(session_id)
            assert loaded is not None and loaded["i"] == i, session_id
            assert loaded["_metadata"]["session_id"] == session_id
        files = await raw.files()
        assert len(files) == len(WEIRD_IDS)
        for path in files:
            first, _, rest = path.partition("/")
            assert rest == "state.json", path
            assert first not in (".", "..") and "\\" not in first

    async def test_plain_ids_stay_readable_in_the_bucket(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        await storage.store_session("user-42_a.b", {"v": 1}, "notes/today.json")
        assert await raw.files() == ["user-42_a.b/notes/today.json"]

    async def test_weird_filenames_round_trip(self, storage: SessionStorage) -> None:
        names = ["..", "a b.json", "☃/.x", "x/../y"]
        for name in names:
            await storage.store_bytes("s", name, name.encode())
        assert await storage.list_files("s") == sorted(names)
        for name in names:
            assert await storage.load_bytes("s", name) == name.encode()

    async def test_long_id_round_trips_or_is_refused_clearly(self, storage: SessionStorage) -> None:
        long_id = "x" * 200 + "/" * 5 + "y" * 795  # 1000 characters
        assert len(long_id) == 1000
        try:
            await storage.store_session(long_id, {"v": 1})
        except InvalidKeyError as exc:
            assert self.backend in str(exc) and "too long" in str(exc)
            assert not self.holds_1000_character_ids
            return
        assert self.holds_1000_character_ids
        assert await storage.list_sessions() == [long_id]
        assert (await storage.load_session(long_id) or {}).get("v") == 1

    holds_1000_character_ids = True

    # -- listing ---------------------------------------------------------------------

    async def test_list_sessions_in_key_order_with_prefix(self, storage: SessionStorage) -> None:
        for session_id in ["b", "ab", "abc", "a", "c.1", ".dot", "☃x", "☃y"]:
            await storage.store_session(session_id, {})
        # Encoded ids come first ("%2Edot", "%E2%98%83x"), then plain ones.
        assert await storage.list_sessions() == [".dot", "☃x", "☃y", "a", "ab", "abc", "b", "c.1"]
        assert await storage.list_sessions(prefix="ab") == ["ab", "abc"]
        assert await storage.list_sessions(prefix="a") == ["a", "ab", "abc"]
        assert await storage.list_sessions(prefix=".") == [".dot"]
        assert await storage.list_sessions(prefix="☃") == ["☃x", "☃y"]
        assert await storage.list_sessions(prefix="zzz") == []

    async def test_empty_storage_lists_nothing(self, storage: SessionStorage) -> None:
        assert await storage.list_sessions() == []
        assert await storage.session_exists("abc") is False

    async def test_listing_reflects_every_store_and_delete_at_once(
        self, storage: SessionStorage
    ) -> None:
        for i in range(5):
            await storage.store_session(f"s{i}", {})
            assert await storage.list_sessions() == [f"s{j}" for j in range(i + 1)]
        for i in range(5):
            assert await storage.delete_session(f"s{i}") is True
            assert await storage.list_sessions() == [f"s{j}" for j in range(i + 1, 5)]

    async def test_listing_skips_foreign_names(self, storage: SessionStorage, raw: Raw) -> None:
        await storage.store_session("mine", {})
        await raw.put("loose-file-at-root.json", b"{}")
        await raw.put("Not~Canonical/state.json", b"{}")
        await raw.put("mine/.tmp-leftover", b"partial")
        assert await storage.list_sessions() == ["mine"]
        assert await storage.list_files("mine") == ["state.json"]

    async def test_many_sessions_list_completely(self, storage: SessionStorage) -> None:
        ids = [f"session-{i:04d}" for i in range(self.many_sessions)]
        await asyncio.gather(*(storage.store_session(i, {"i": i}) for i in ids))
        assert await storage.list_sessions() == ids
        assert await storage.list_sessions(prefix="session-00") == ids[:100]
        assert [i async for i in storage.iter_sessions()] == ids
        assert [i async for i in storage.iter_sessions(start_after=ids[99])] == ids[100:]
        pages = await all_pages(storage, limit=500)
        assert [len(p) for p in pages] == [500, 500, 200, 0]
        assert flat(pages) == ids

    many_sessions = 1200

    # -- paged and streaming listing -------------------------------------------------

    async def test_key_order_is_the_documented_order(self, storage: SessionStorage) -> None:
        ids = ["a", "a-b", "a.b", "a0", "a_b", "a b", "B", "~x", "ab"]
        await storage.store_sessions({i: {} for i in ids})
        # "%" < "-" < "." < "/" (the end of a folder name) < digits < letters < "_".
        expected = ["~x", "B", "a b", "a-b", "a.b", "a", "a0", "a_b", "ab"]
        assert await storage.list_sessions() == expected == session_order(ids)
        assert sorted(ids, key=session_sort_key) == expected
        assert [i async for i in storage.iter_sessions()] == expected

    async def test_pages_cover_every_id_once_in_order(self, storage: SessionStorage) -> None:
        ids = [f"s{i:02d}" for i in range(20)] + WEIRD_IDS
        await storage.store_sessions({i: {} for i in ids})
        everything = await storage.list_sessions()
        assert everything == session_order(ids)
        pages = await all_pages(storage, limit=7)
        assert all(len(p) == 7 for p in pages[:-2]) and 0 < len(pages[-2]) <= 7
        assert pages[-1] == []  # the page after the last id is empty
        assert flat(pages) == everything

    async def test_start_after_limit_and_prefix_combine(self, storage: SessionStorage) -> None:
        ids = ["a1", "a2", "a3", "b1", "b2", "c1"]
        await storage.store_sessions({i: {} for i in ids})
        assert await storage.list_sessions(limit=0) == []
        assert await storage.list_sessions(limit=2) == ["a1", "a2"]
        assert await storage.list_sessions(start_after="a2") == ["a3", "b1", "b2", "c1"]
        assert await storage.list_sessions(start_after="a2", limit=2) == ["a3", "b1"]
        # start_after need not exist: listing resumes at the next id in key order.
        assert await storage.list_sessions(start_after="a", limit=1) == ["a1"]
        assert await storage.list_sessions(start_after="a25") == ["a3", "b1", "b2", "c1"]
        assert await storage.list_sessions(start_after="c1") == []
        assert await storage.list_sessions(start_after="zzz") == []
        assert await storage.list_sessions(start_after="") == ids
        assert await storage.list_sessions(prefix="b", start_after="a2") == ["b1", "b2"]
        assert await storage.list_sessions(prefix="b", start_after="b1", limit=5) == ["b2"]
        assert await storage.list_sessions(prefix="a", limit=2) == ["a1", "a2"]
        found = [i async for i in storage.iter_sessions(prefix="a", start_after="a1")]
        assert found == ["a2", "a3"]

    async def test_start_after_skips_a_session_with_many_files(
        self, storage: SessionStorage
    ) -> None:
        await storage.store_sessions({"a": {}, "c": {}})
        for i in range(5):
            await storage.store_bytes("b", f"nested/{i}/file.bin", b"x")
        assert await storage.list_sessions(start_after="b") == ["c"]
        assert await storage.list_sessions(start_after="a", limit=1) == ["b"]

    async def test_paging_skips_foreign_names_without_losing_ids(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        await raw.put("Not~Canonical/state.json", b"{}")  # sorts before "s0"
        await raw.put("s1%2Dx/state.json", b"{}")  # not canonical: would decode to "s1-x"
        ids = [f"s{i}" for i in range(5)]
        await storage.store_sessions({i: {} for i in ids})
        assert await storage.list_sessions(limit=2) == ["s0", "s1"]
        assert await storage.list_sessions(start_after="s1", limit=2) == ["s2", "s3"]
        assert flat(await all_pages(storage, limit=1)) == ids
        assert [i async for i in storage.iter_sessions()] == ids

    async def test_iter_sessions_streams_and_can_stop_early(self, storage: SessionStorage) -> None:
        ids = [f"s{i}" for i in range(5)]
        await storage.store_sessions({i: {} for i in ids})
        seen = []
        async for session_id in storage.iter_sessions():
            seen.append(session_id)
            if len(seen) == 2:
                break
        assert seen == ["s0", "s1"]
        assert [i async for i in storage.iter_sessions(prefix="s3")] == ["s3"]
        assert [i async for i in storage.narrow("nobody").iter_sessions()] == []
        await storage.delete_session("s0")  # the storage is still usable
        assert await storage.list_sessions(limit=1) == ["s1"]

    @pytest.mark.parametrize("limit", [-1, 1.5, "3", True])
    async def test_bad_limit_is_refused(self, storage: SessionStorage, limit: Any) -> None:
        with pytest.raises(InvalidArgumentError) as info:
            await storage.list_sessions(limit=limit)
        assert "limit" in str(info.value) and isinstance(info.value, ValueError)

    async def test_bad_paging_arguments_are_refused_at_the_call(
        self, storage: SessionStorage
    ) -> None:
        with pytest.raises(InvalidKeyError, match="start_after"):
            await storage.list_sessions(start_after=5)  # type: ignore[arg-type]
        with pytest.raises(InvalidKeyError, match="prefix"):
            storage.iter_sessions(prefix=3)  # type: ignore[arg-type]
        with pytest.raises(InvalidKeyError, match="start_after"):
            storage.iter_sessions(start_after=b"x")  # type: ignore[arg-type]

    # -- batches ---------------------------------------------------------------------

    async def test_batch_store_load_delete_round_trip(self, storage: SessionStorage) -> None:
        states = {f"b{i}": {"i": i} for i in range(30)} | {"☃/..": {"i": -1}}
        versions = await storage.store_sessions(states)
        assert list(versions) == list(states)
        assert all(isinstance(v, str) and v for v in versions.values())
        wanted = ["missing", *states, "b0"]  # a repeated id is loaded once
        loaded = await storage.load_sessions(wanted)
        assert list(loaded) == ["missing", *states]
        assert loaded["missing"] is None
        for session_id, state in states.items():
            got = loaded[session_id]
            assert got is not None and got["i"] == state["i"]
            assert got["_metadata"]["session_id"] == session_id
            assert got == await storage.load_session(session_id)
        deleted = await storage.delete_sessions(["b0", "b1", "missing"])
        assert deleted == {"b0": True, "b1": True, "missing": False}
        assert await storage.list_sessions() == session_order(set(states) - {"b0", "b1"})
        assert await storage.load_sessions([]) == {}
        assert await storage.store_sessions({}) == {}

    async def test_batch_named_files_and_single_file_delete(self, storage: SessionStorage) -> None:
        await storage.store_sessions({"a": {"n": 1}, "b": {"n": 2}}, "cp/1.json")
        await storage.store_sessions({"a": {"main": True}})
        loaded = await storage.load_sessions(["a", "b"], "cp/1.json", max_concurrency=1)
        assert {k: (v or {})["n"] for k, v in loaded.items()} == {"a": 1, "b": 2}
        assert await storage.delete_sessions(["a", "b"], "cp/1.json") == {"a": True, "b": True}
        assert await storage.list_files("a") == ["state.json"]
        assert await storage.list_sessions() == ["a"]

    async def test_bad_input_anywhere_in_a_batch_writes_nothing(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        states: dict[str, Any] = {"ok": {"v": 1}, "set": {"v": {1}}, "": {}, "list": [1]}
        with pytest.raises(BatchError) as info:
            await storage.store_sessions(states)
        err = info.value
        assert err.results == {}
        assert set(err.errors) == {"set", "", "list"}
        assert isinstance(err.errors["set"], SerializationError)
        assert isinstance(err.errors["list"], SerializationError)
        assert isinstance(err.errors[""], InvalidKeyError)
        message = str(err)
        assert self.backend in message and "'set'" in message and "nothing was done" in message
        assert isinstance(err, SessionStorageError) and err.__cause__ is not None
        assert await raw.files() == []
        with pytest.raises(BatchError) as info2:
            await storage.load_sessions(["ok", ""])
        assert set(info2.value.errors) == {""}
        with pytest.raises(BatchError):
            await storage.store_sessions({"ok": {}}, filename="a//b")

    async def test_wrong_batch_argument_types_are_refused(self, storage: SessionStorage) -> None:
        with pytest.raises(InvalidArgumentError, match="collection of session ids"):
            await storage.load_sessions("abc")
        with pytest.raises(InvalidArgumentError, match="mapping"):
            await storage.store_sessions([("a", {})])  # type: ignore[arg-type]
        with pytest.raises(InvalidKeyError, match="must be a str"):
            await storage.delete_sessions(["a", 5])  # type: ignore[list-item]
        for bad in (0, -1, 2.0, "4", True):
            with pytest.raises(InvalidArgumentError, match="max_concurrency"):
                await storage.load_sessions(["a"], max_concurrency=bad)

    async def test_one_failure_does_not_lose_the_batch(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        ids = [f"s{i:02d}" for i in range(12)]
        await storage.store_sessions({i: {"id": i} for i in ids})
        await raw.put("s03/state.json", b"{broken")
        await raw.put("s07/state.json", b"[1]")
        with pytest.raises(BatchError) as info:
            await storage.load_sessions([*ids, "missing"], max_concurrency=3)
        err = info.value
        assert list(err.errors) == ["s03", "s07"]
        assert all(isinstance(e, CorruptDataError) for e in err.errors.values())
        assert list(err.results) == [i for i in ids if i not in ("s03", "s07")] + ["missing"]
        assert err.results["missing"] is None
        assert (err.results["s11"] or {})["id"] == "s11"
        assert "2 of 13 sessions failed" in str(err) and "'s03'" in str(err)
        assert err.__cause__ is err.errors["s03"]

    async def test_concurrency_setting(self, make_storage: StorageFactory) -> None:
        storage = make_storage()
        assert storage.max_concurrency >= 1
        assert storage.narrow("x").max_concurrency == storage.max_concurrency
        with pytest.raises(InvalidArgumentError, match="max_concurrency"):
            type(storage)(storage.url, storage.settings.storage_options, max_concurrency=0)
        one = type(storage)(storage.url, storage.settings.storage_options, max_concurrency=1)
        async with one:
            assert one.max_concurrency == 1
            await one.store_sessions({f"k{i}": {} for i in range(5)})
            assert list(await one.load_sessions([f"k{i}" for i in range(5)])) == [
                f"k{i}" for i in range(5)
            ]
        await storage.aclose()

    # -- exists and metadata ---------------------------------------------------------

    async def test_session_exists_means_any_file(self, storage: SessionStorage) -> None:
        assert not await storage.session_exists("abc")
        await storage.store_bytes("abc", "deep/nested/blob.bin", b"x")
        assert await storage.session_exists("abc")
        assert not await storage.session_exists("ab")  # a prefix is not the session
        await storage.delete_session("abc", "deep/nested/blob.bin")
        assert not await storage.session_exists("abc")
        assert await storage.list_sessions() == []

    async def test_metadata_keys_and_types(self, storage: SessionStorage, raw: Raw) -> None:
        version = await storage.store_session("abc", {"v": 1}, "cp.json")
        meta = await storage.get_session_metadata("abc", "cp.json")
        assert meta is not None
        assert set(meta) == {
            "session_id",
            "filename",
            "size",
            "modified",
            "created",
            "backend",
            "version",
        }
        assert meta["session_id"] == "abc" and meta["filename"] == "cp.json"
        assert meta["size"] == len(await raw.get("abc/cp.json"))
        assert isinstance(meta["modified"], datetime)
        assert meta["modified"].utcoffset() == timedelta(0)
        assert abs(meta["modified"] - datetime.now(timezone.utc)) < timedelta(minutes=5)
        assert meta["created"] is None or (
            isinstance(meta["created"], datetime) and meta["created"].utcoffset() == timedelta(0)
        )
        assert meta["backend"] == self.backend
        assert meta["version"] == version
        new_version = await storage.store_session("abc", {"v": 2}, "cp.json")
        assert new_version != version
        meta2 = await storage.get_session_metadata("abc", "cp.json")
        assert meta2 is not None and meta2["version"] == new_version

    # -- bytes -----------------------------------------------------------------------

    async def test_bytes_round_trip_without_stamping(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        blob = bytes(range(256)) * 10
        version = await storage.store_bytes("abc", "upload.png", blob)
        assert isinstance(version, str)
        assert await storage.load_bytes("abc", "upload.png") == blob
        assert await raw.body("abc/upload.png") == blob

    async def test_store_bytes_refuses_non_bytes(self, storage: SessionStorage, raw: Raw) -> None:
        # A bad value, not a bad key: the error names the argument.
        with pytest.raises(InvalidArgumentError, match="data must be bytes") as info:
            await storage.store_bytes("abc", "x.txt", "text")  # type: ignore[arg-type]
        assert not isinstance(info.value, InvalidKeyError)
        assert await raw.files() == []

    # -- deletes ---------------------------------------------------------------------

    async def test_delete_whole_session_removes_nested_files(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        await storage.store_session("abc", {})
        await storage.store_session("abc", {}, "a/b/c.json")
        await storage.store_bytes("abc", "blob.bin", b"x")
        await storage.store_session("abcd", {})  # a neighbour sharing the prefix
        assert await storage.delete_session("abc") is True
        assert await storage.list_files("abc") == []
        assert await storage.list_sessions() == ["abcd"]
        assert await raw.files() == ["abcd/state.json"]
        assert await storage.delete_session("abc") is False

    async def test_delete_one_file_says_whether_it_existed(self, storage: SessionStorage) -> None:
        await storage.store_session("abc", {})
        await storage.store_session("abc", {}, "cp.json")
        assert await storage.delete_session("abc", "cp.json") is True
        assert await storage.delete_session("abc", "cp.json") is False
        assert await storage.delete_session("nope", "cp.json") is False
        assert await storage.delete_session("nope") is False
        assert await storage.list_files("abc") == ["state.json"]

    async def test_delete_session_with_many_files(self, storage: SessionStorage) -> None:
        # Each store's deadline starts when it is called: a fan-out bounded like the
        # batch calls', so none waits out its timeout queued behind the others. At
        # most 16: late in the suite Azurite (one Node process holding every test's
        # blobs in memory) stopped answering for over 30 s after 1,100 uploads from
        # obstore's 64 connections (a listing timed out, a batch delete was reset),
        # and passed with 16 (`pytest tests/backends/test_driver_contract.py -k Azure`).
        turns = asyncio.Semaphore(min(storage.max_concurrency, 16))

        async def store(i: int) -> None:
            async with turns:
                await storage.store_bytes("big", f"f/{i:04d}", b"x")

        await asyncio.gather(*(store(i) for i in range(self.many_files)))
        assert len(await storage.list_files("big")) == self.many_files
        assert await storage.delete_session("big") is True
        assert await storage.list_files("big") == []
        assert await storage.list_sessions() == []

    many_files = 1100

    # -- narrowing -------------------------------------------------------------------

    async def test_narrowed_storages_are_isolated_and_nest(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        tenant_a = storage.narrow("tenant-a")
        tenant_b = storage.narrow("tenant-b")
        await tenant_a.store_session("s1", {"who": "a"})
        await tenant_b.store_session("s1", {"who": "b"})
        alice = storage.narrow("tenant-a", "alice")
        await alice.store_session("s2", {"who": "alice"})
        assert (await tenant_a.load_session("s1") or {})["who"] == "a"
        assert (await tenant_b.load_session("s1") or {})["who"] == "b"
        assert await tenant_a.list_sessions() == ["alice", "s1"]
        assert await alice.list_sessions() == ["s2"]
        assert await tenant_a.narrow("alice").list_sessions() == ["s2"]
        # The narrowed roots are folders of the parent, listed like sessions.
        assert await storage.list_sessions() == ["tenant-a", "tenant-b"]
        assert await storage.load_session("s1") is None
        assert sorted(await raw.files()) == [
            "tenant-a/alice/s2/state.json",
            "tenant-a/s1/state.json",
            "tenant-b/s1/state.json",
        ]
        assert storage.narrow_path("tenant-a", "alice") == alice.url
        assert alice.url.startswith(storage.url.rstrip("/") + "/")

    async def test_narrow_keys_cannot_escape(self, storage: SessionStorage, raw: Raw) -> None:
        for key in ["..", "../..", "/", ".", "a/../../b"]:
            await storage.narrow(key).store_session("s", {"key": key})
            assert (await storage.narrow(key).load_session("s") or {})["key"] == key
        assert await storage.list_sessions() == session_order(
            ["..", "../..", "/", ".", "a/../../b"]
        )
        assert all(p.endswith("/s/state.json") for p in await raw.files())
        with pytest.raises(InvalidKeyError):
            storage.narrow()
        with pytest.raises(InvalidKeyError):
            storage.narrow("")

    async def test_narrowed_context_manager_leaves_parent_usable(
        self, storage: SessionStorage
    ) -> None:
        async with storage.narrow("tenant-a") as tenant:
            await tenant.store_session("s", {"v": 1})
        await storage.store_session("after", {"v": 2})
        assert await storage.list_sessions() == ["after", "tenant-a"]
        assert (await storage.narrow("tenant-a").load_session("s") or {})["v"] == 1

    # -- versions and conditional writes ---------------------------------------------

    async def test_backend_enforces_conditional_writes(self, storage: SessionStorage) -> None:
        assert storage.supports_conditional_writes is True

    async def test_store_load_and_metadata_agree_on_the_version(
        self, storage: SessionStorage
    ) -> None:
        v1 = await storage.store_session("abc", {"v": 1})
        loaded = await storage.load_session("abc", with_version=True)
        assert isinstance(loaded, VersionedState)
        state, version = loaded
        assert state is not None and state["v"] == 1 and version == v1
        meta = await storage.get_session_metadata("abc")
        assert meta is not None and meta["version"] == v1
        v2 = await storage.store_session("abc", {"v": 1})
        assert v2 != v1  # a new write is a new version, even of an equal state
        assert (await storage.load_session("abc", with_version=True)).version == v2
        assert await storage.load_session("nope", with_version=True) == (None, None)

        b1 = await storage.store_bytes("abc", "blob.bin", b"one")
        assert await storage.load_bytes("abc", "blob.bin", with_version=True) == VersionedBytes(
            b"one", b1
        )
        b2 = await storage.store_bytes("abc", "blob.bin", b"two")
        assert b2 != b1
        assert await storage.load_bytes("abc", "nope.bin", with_version=True) == (None, None)

    async def test_if_absent_on_existing_file_conflicts_and_keeps_bytes(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        created = await storage.store_session("abc", {"v": 1}, if_absent=True)
        assert isinstance(created, str) and created
        before = await raw.get("abc/state.json")
        with pytest.raises(ConflictError) as info:
            await storage.store_session("abc", {"v": 2}, if_absent=True)
        message = str(info.value)
        assert self.backend in message and "'abc'" in message and "'state.json'" in message
        assert "if_absent" in message and "already exists" in message
        assert isinstance(info.value, FileExistsError) and info.value.__cause__ is not None
        assert (info.value.backend, info.value.session_id, info.value.filename) == (
            self.backend,
            "abc",
            "state.json",
        )
        assert await raw.get("abc/state.json") == before

        await storage.store_bytes("abc", "blob.bin", b"first", if_absent=True)
        with pytest.raises(ConflictError):
            await storage.store_bytes("abc", "blob.bin", b"second", if_absent=True)
        assert await raw.body("abc/blob.bin") == b"first"

    async def test_stale_if_version_conflicts_and_keeps_bytes(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        v1 = await storage.store_session("abc", {"v": 1})
        v2 = await storage.store_session("abc", {"v": 2})
        before = await raw.get("abc/state.json")
        with pytest.raises(ConflictError) as info:
            await storage.store_session("abc", {"v": 3}, if_version=v1)
        message = str(info.value)
        assert self.backend in message and "'abc'" in message and "'state.json'" in message
        assert f"if_version={v1!r}" in message
        assert await raw.get("abc/state.json") == before
        v3 = await storage.store_session("abc", {"v": 3}, if_version=v2)
        assert v3 not in (v1, v2)
        assert (await storage.load_session("abc") or {})["v"] == 3

        b1 = await storage.store_bytes("abc", "blob.bin", b"one")
        await storage.store_bytes("abc", "blob.bin", b"two")
        with pytest.raises(ConflictError):
            await storage.store_bytes("abc", "blob.bin", b"three", if_version=b1)
        assert await raw.body("abc/blob.bin") == b"two"

    async def test_if_version_on_missing_file_conflicts_and_writes_nothing(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        version = await storage.store_session("abc", {"v": 1})
        with pytest.raises(ConflictError):
            await storage.store_session("new", {"v": 1}, if_version=version)
        with pytest.raises(ConflictError):
            await storage.store_bytes("new", "deep/blob.bin", b"x", if_version=version)
        assert await raw.files() == ["abc/state.json"]
        assert await storage.list_sessions() == ["abc"]

    @pytest.mark.parametrize(
        "condition",
        [{"if_version": "v1", "if_absent": True}, {"if_version": ""}, {"if_absent": "yes"}],
    )
    async def test_malformed_conditions_are_refused_before_writing(
        self, storage: SessionStorage, raw: Raw, condition: dict[str, Any]
    ) -> None:
        with pytest.raises(InvalidArgumentError) as info:
            await storage.store_session("abc", {"v": 1}, **condition)
        assert isinstance(info.value, ValueError)
        assert "'abc'" in str(info.value) and self.backend in str(info.value)
        with pytest.raises(InvalidArgumentError):
            await storage.store_bytes("abc", "blob.bin", b"x", **condition)
        assert await raw.files() == []

    # -- update_session ----------------------------------------------------------------

    async def test_concurrent_update_session_loses_no_increment(
        self, storage: SessionStorage
    ) -> None:
        # Two clients of the root with ten tasks each: tasks of one client take
        # turns, the clients race each other through conditional writes.
        peers = [storage, self.peer(storage)]
        calls = 0

        def increment(state: dict[str, Any] | None) -> dict[str, Any]:
            nonlocal calls
            calls += 1
            return {"n": (state or {"n": 0})["n"] + 1}

        async def worker(client: SessionStorage) -> None:
            for _ in range(10):
                await client.update_session("counter", increment)

        try:
            await asyncio.gather(*(worker(peers[t % 2]) for t in range(20)))
        finally:
            for peer in peers[1:]:
                await peer.aclose()
        final = await storage.load_session("counter")
        print(
            f"\n{self.backend}: 20 tasks x 10 update_session increments -> n={final and final['n']}"
            f" ({calls} calls of fn, {calls - 200} retried after a conflict)"
        )
        assert final is not None and final["n"] == 200

    async def test_update_session_creates_updates_and_skips(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        seen: list[Any] = []

        def create(state: dict[str, Any] | None) -> dict[str, Any]:
            seen.append(state)
            return {"n": 1}

        stored = await storage.update_session("abc", create)
        assert seen == [None]
        assert stored is not None and stored["n"] == 1
        assert stored == await storage.load_session("abc")  # as stored, stamp included

        async def bump(state: dict[str, Any] | None) -> dict[str, Any]:
            await asyncio.sleep(0)
            assert state is not None
            return {**state, "n": state["n"] + 1}

        bumped = await storage.update_session("abc", bump)
        assert bumped is not None and bumped["n"] == 2

        before = await raw.files(), await raw.get("abc/state.json")
        unchanged = await storage.update_session("abc", lambda state: None)
        assert unchanged == await storage.load_session("abc")
        assert await storage.update_session("missing", lambda state: None) is None
        assert (await raw.files(), await raw.get("abc/state.json")) == before

    async def test_update_session_gives_up_with_conflict_error(
        self, storage: SessionStorage
    ) -> None:
        calls = 0

        async def always_overtaken(state: dict[str, Any] | None) -> dict[str, Any]:
            nonlocal calls
            calls += 1
            await storage.store_session("abc", {"n": -calls})  # another writer gets in
            return {"n": 100}

        with pytest.raises(ConflictError) as info:
            await storage.update_session("abc", always_overtaken, retries=2, backoff=0)
        assert calls == 3
        message = str(info.value)
        assert "3 attempts" in message and "'abc'" in message and self.backend in message
        assert (await storage.load_session("abc") or {})["n"] == -3

    # -- event logs --------------------------------------------------------------------

    async def test_concurrent_appenders_get_contiguous_unique_indices(
        self, storage: SessionStorage
    ) -> None:
        peers = [self.peer(storage) for _ in range(10)]

        async def appender(writer: int, peer: SessionStorage) -> list[int]:
            return [
                await peer.append_event("chat", "log", {"w": writer, "i": i}) for i in range(20)
            ]

        try:
            results = await asyncio.gather(*(appender(w, p) for w, p in enumerate(peers)))
        finally:
            for peer in peers:
                await peer.aclose()
        indices = sorted(i for result in results for i in result)
        items = await storage.read_events("chat", "log")
        print(
            f"\n{self.backend}: 10 appenders x 20 events -> {len(items)} events, "
            f"{len(set(indices))} distinct indices {indices[0]}..{indices[-1]}"
        )
        assert indices == list(range(200))
        assert len(items) == 200
        for writer, result in enumerate(results):
            assert result == sorted(result)  # one writer's events stay in its order
            assert [items[i] for i in result] == [{"w": writer, "i": i} for i in range(20)]
        assert await storage.event_count("chat", "log") == 200

    async def test_replayed_idempotency_keys_add_nothing(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        first = [
            await storage.append_event("chat", "log", {"n": i}, idempotency_key=f"msg-{i}")
            for i in range(50)
        ]
        assert first == list(range(50))
        files = await raw.files()
        peer = self.peer(storage)  # a cold cache: the marker, not memory, answers
        try:
            replayed = await asyncio.gather(
                *(
                    peer.append_event("chat", "log", {"n": "again"}, idempotency_key=f"msg-{i}")
                    for i in range(50)
                )
            )
        finally:
            await peer.aclose()
        assert list(replayed) == first
        assert await raw.files() == files
        assert await storage.event_count("chat", "log") == 50
        assert await storage.read_events("chat", "log") == [{"n": i} for i in range(50)]

    async def test_concurrent_appends_with_one_key_write_one_event(
        self, storage: SessionStorage
    ) -> None:
        peers = [self.peer(storage) for _ in range(8)]
        try:
            got = await asyncio.gather(
                *(
                    p.append_event("chat", "log", {"p": i}, idempotency_key="once")
                    for i, p in enumerate(peers)
                ),
                storage.append_event("chat", "log", "unkeyed"),
            )
        finally:
            for peer in peers:
                await peer.aclose()
        keyed = set(got[:-1])
        assert len(keyed) == 1 and keyed | {got[-1]} == {0, 1}
        assert await storage.event_count("chat", "log") == 2

    async def test_read_paging_iteration_and_truncate(self, storage: SessionStorage) -> None:
        for i in range(25):
            key = f"k{i}" if i % 5 == 0 else None
            assert await storage.append_event("s", "log", {"n": i}, idempotency_key=key) == i
        items = [{"n": i} for i in range(25)]
        assert await storage.read_events("s", "log", 0, 10) == items[:10]
        assert await storage.read_events("s", "log", 10, 10) == items[10:20]
        assert await storage.read_events("s", "log", 20, 10) == items[20:]
        assert await storage.read_events("s", "log", 25) == []
        assert await storage.read_events("s", "log", 30, 5) == []
        assert await storage.read_events("s", "log", 3, 0) == []
        assert [item async for item in storage.iter_events("s", "log", page_size=7)] == items
        assert [item async for item in storage.iter_events("s", "log", 24)] == items[24:]
        assert await storage.event_count("s", "log") == 25

        assert await storage.truncate_events("s", "log", 10) == 15
        assert await storage.event_count("s", "log") == 10
        assert await storage.read_events("s", "log") == items[:10]
        assert await storage.truncate_events("s", "log", 10) == 0
        assert await storage.truncate_events("s", "log", 99) == 0
        assert await storage.append_event("s", "log", "after rewind") == 10
        # A key whose event was dropped is forgotten; a kept one still answers.
        assert await storage.append_event("s", "log", "k15 again", idempotency_key="k15") == 11
        assert await storage.append_event("s", "log", "k5 again", idempotency_key="k5") == 5
        assert await storage.read_events("s", "log", 9) == [{"n": 9}, "after rewind", "k15 again"]

        assert await storage.truncate_events("s", "log", 0) == 12
        assert await storage.read_events("s", "log") == []
        # An empty tail stays: deleting it could drop a concurrent append.
        assert await storage.list_files("s") == ["log/tail.json"]
        assert await storage.append_event("s", "log", "fresh", idempotency_key="k5") == 0

    async def test_events_are_files_of_the_session(self, storage: SessionStorage, raw: Raw) -> None:
        await storage.store_session("s", {"v": 1})
        assert await storage.append_event("s", "chat/main", {"a": 1}, idempotency_key="x") == 0
        assert await storage.append_event("s", "☃ ../x", [1, "two", None]) == 0
        assert await storage.list_files("s") == [
            "chat/main/tail.json",
            "state.json",
            "☃ ../x/tail.json",
        ]
        record = await storage.load_session("s", "chat/main/tail.json")
        assert record is not None and record["first"] == 0
        assert [event["v"] for event in record["events"]] == [{"a": 1}]
        assert record["_metadata"]["stream"] == "chat/main"
        assert await storage.read_events("s", "☃ ../x") == [[1, "two", None]]
        assert all(not path.startswith("..") for path in await raw.files())

        assert await storage.delete_session("s") is True
        assert await raw.files() == [] and await raw.hidden() == []  # locks: all gone
        assert await storage.list_sessions() == []
        assert await storage.event_count("s", "chat/main") == 0
        # The storage's cached tail is gone with the session: the next event is 0 again.
        assert await storage.append_event("s", "chat/main", {"a": 2}) == 0
        assert await storage.read_events("s", "chat/main") == [{"a": 2}]

    async def test_missing_stream_reads_empty(self, storage: SessionStorage, raw: Raw) -> None:
        assert await storage.read_events("nope", "log") == []
        assert [item async for item in storage.iter_events("nope", "log")] == []
        assert await storage.event_count("nope", "log") == 0
        assert await storage.truncate_events("nope", "log", 0) == 0
        assert await raw.files() == []

    async def test_bad_event_input_is_refused_and_writes_nothing(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        for bad_item in ({1: "int key"}, {"v": object()}, {"v": {1, 2}}):
            with pytest.raises(SerializationError) as info:
                await storage.append_event("abc", "log", bad_item)
            assert "'abc'" in str(info.value) and "'log'" in str(info.value)
        for bad_stream in ["", "a//b", "/a", 3]:
            with pytest.raises(InvalidKeyError):
                await storage.append_event("abc", bad_stream, {})  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            await storage.append_event("abc", "log", {}, idempotency_key="")
        assert await storage.read_events("abc", "log", -1) == []  # from the end: none
        with pytest.raises(InvalidArgumentError):
            await storage.pop_events("abc", "log", -1)
        with pytest.raises(InvalidArgumentError):
            await storage.append_events("abc", "log", "not a list")  # type: ignore[arg-type]
        with pytest.raises(SerializationError) as batch:
            await storage.append_events("abc", "log", [1, {"v": object()}])
        assert "item 1" in str(batch.value)
        with pytest.raises(InvalidArgumentError):
            await storage.read_events("abc", "log", 0, -5)
        with pytest.raises(InvalidArgumentError):
            await storage.truncate_events("abc", "log", -1)
        with pytest.raises(InvalidArgumentError):
            await anext(storage.iter_events("abc", "log", page_size=0))
        assert await raw.files() == []

    # -- lifecycle and concurrency ---------------------------------------------------

    async def test_concurrent_tasks(self, storage: SessionStorage) -> None:
        ids = [f"c{i:03d}" for i in range(40)]
        await asyncio.gather(*(storage.store_session(i, {"id": i}) for i in ids))
        loaded = await asyncio.gather(*(storage.load_session(i) for i in ids))
        assert [state["id"] for state in loaded if state] == ids

    def test_one_storage_across_successive_event_loops(self, make_storage: StorageFactory) -> None:
        storage = make_storage()

        async def write(n: int) -> None:
            await storage.store_session("loop", {"n": n})

        async def read() -> Any:
            return await storage.load_session("loop")

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            asyncio.run(write(1))
            assert asyncio.run(read())["n"] == 1
            asyncio.run(write(2))
            assert asyncio.run(read())["n"] == 2
            asyncio.run(storage.aclose())
            gc.collect()
        leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
        assert leaks == [], leaks  # connections of ended loops are closed, not leaked

    async def test_closed_storage_reopens_on_use(self, storage: SessionStorage) -> None:
        await storage.store_session("a", {"v": 1})
        await storage.aclose()
        assert (await storage.load_session("a") or {})["v"] == 1


__all__ = [
    "CODECS",
    "WEIRD_IDS",
    "ConflictError",
    "Raw",
    "StorageContract",
    "StorageFactory",
    "session_order",
    "with_codecs",
]
