"""The driver contract: behaviour the driver, the engine or a codec decides.

Round trips (overwrite, nested and odd names, 1000-character ids, bytes), missing and
corrupt files, how ids land on the backend, listing (order, prefix, paging,
``start_after``, foreign names, many sessions), existence and metadata, deletes (one
file, a whole session, batched deletes of many files), versions and conditional writes,
and the races that rest on them (concurrent ``update_session`` and appenders), tasks,
successive event loops, reopening. tests/backends/test_driver_contract.py runs it on
every lane: memory, file, s3, gcs, azure, the last three on both engines, each in the
plain and the zstd+aes codec lane.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest

from session_storage import (
    Capabilities,
    ConflictError,
    CorruptDataError,
    InvalidKeyError,
    NotSupportedError,
    SessionStorage,
    SessionStorageError,
    VersionedBytes,
    VersionedState,
)
from session_storage.core.keys import session_sort_key

from .contract import (
    WEIRD_IDS,
    ContractBase,
    Raw,
    StorageFactory,
    all_pages,
    flat,
    session_order,
)


class DriverContract(ContractBase):
    """Every test here runs on every backend x engine x codec lane."""

    codec_lanes: ClassVar[tuple[str, ...]] = ("plain", "zstd+aes")

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

    # -- corrupt data ----------------------------------------------------------------

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
        sizes = [min(500, len(ids) - start) for start in range(0, len(ids), 500)]
        assert [len(p) for p in pages] == [*sizes, 0]
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
        native = storage.capabilities.versions == "native"
        assert meta["version"] == (version if native else None)
        new_version = await storage.store_session("abc", {"v": 2}, "cp.json")
        assert new_version != version
        meta2 = await storage.get_session_metadata("abc", "cp.json")
        assert meta2 is not None and meta2["version"] == (new_version if native else None)

    # -- bytes -----------------------------------------------------------------------

    async def test_bytes_round_trip_without_stamping(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        blob = bytes(range(256)) * 10
        version = await storage.store_bytes("abc", "upload.png", blob)
        assert isinstance(version, str)
        assert await storage.load_bytes("abc", "upload.png") == blob
        assert await raw.body("abc/upload.png") == blob

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

    # -- versions and conditional writes ---------------------------------------------

    conditional_writes: ClassVar[bool] = True
    """Whether the lane's backend must claim (and then pass) both write conditions."""

    async def test_capabilities_say_what_the_backend_enforces(
        self, storage: SessionStorage
    ) -> None:
        capabilities = storage.capabilities
        assert isinstance(capabilities, Capabilities)
        assert capabilities.conditional_writes is self.conditional_writes
        assert storage.supports_conditional_writes is capabilities.conditional_writes
        # What a refusal tells the caller to use instead.
        assert bool(capabilities.instead) is not capabilities.conditional_writes
        assert capabilities.versions in ("native", "digest")

    async def test_store_load_and_metadata_agree_on_the_version(
        self, storage: SessionStorage
    ) -> None:
        v1 = await storage.store_session("abc", {"v": 1})
        loaded = await storage.load_session("abc", with_version=True)
        assert isinstance(loaded, VersionedState)
        state, version = loaded
        assert state is not None and state["v"] == 1 and version == v1
        meta = await storage.get_session_metadata("abc")
        native = storage.capabilities.versions == "native"
        assert meta is not None and meta["version"] == (v1 if native else None)
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

    async def test_get_many_and_get_folder_give_what_get_gives(
        self, storage: SessionStorage
    ) -> None:
        # The batch read of event segments: one hop on local disk, concurrent GETs
        # elsewhere, decoded by the codecs either way.
        scope = storage._scope
        paths = [scope.file("gm", name).path for name in ("a.bin", "gone.bin", "b.bin")]
        await storage.store_bytes("gm", "a.bin", b"first")
        await storage.store_bytes("gm", "b.bin", b"second")
        found = await scope.driver.get_many(paths)
        assert found == [await scope.driver.get(path) for path in paths]
        assert [None if f is None else f[0] for f in found] == [b"first", None, b"second"]
        assert await scope.driver.get_many([]) == []
        # The whole folder at once (a cold read of an event stream): only its own files.
        await storage.store_bytes("gm", "sub/c.bin", b"below")
        assert await scope.driver.get_folder(scope.folder("gm").path) == {
            paths[0]: found[0],
            paths[2]: found[2],
        }
        assert await scope.driver.get_folder(scope.folder("none").path) == {}

    async def test_if_absent_on_existing_file_conflicts_and_keeps_bytes(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        if not storage.capabilities.create_only:
            await refused(storage, raw, "create_only", if_absent=True)
            return
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
        if not storage.capabilities.compare_and_swap:
            await refused(storage, raw, "compare_and_swap", if_version="v")
            return
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
        if not storage.capabilities.compare_and_swap:
            with pytest.raises(NotSupportedError, match="compare_and_swap"):
                await storage.store_session("new", {"v": 1}, if_version=version)
            assert await raw.files() == ["abc/state.json"]
            return
        with pytest.raises(ConflictError):
            await storage.store_session("new", {"v": 1}, if_version=version)
        with pytest.raises(ConflictError):
            await storage.store_bytes("new", "deep/blob.bin", b"x", if_version=version)
        assert await raw.files() == ["abc/state.json"]
        assert await storage.list_sessions() == ["abc"]

    # -- update_session ----------------------------------------------------------------

    async def test_concurrent_update_session_loses_no_increment(
        self, storage: SessionStorage
    ) -> None:
        # Two clients of the root with ten tasks each: tasks of one client take
        # turns, the clients race each other through conditional writes.
        if not storage.capabilities.conditional_writes:
            with pytest.raises(NotSupportedError, match="conditional_writes"):
                await storage.update_session("counter", lambda state: {"n": 1})
            assert await storage.list_sessions() == []
            return
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

    # -- event logs --------------------------------------------------------------------

    async def test_concurrent_appenders_get_contiguous_unique_indices(
        self, storage: SessionStorage
    ) -> None:
        if not storage.capabilities.conditional_writes:
            with pytest.raises(NotSupportedError, match="conditional_writes"):
                await storage.append_event("chat", "log", {"w": 0})
            assert await storage.list_sessions() == []
            return
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

    async def test_concurrent_appends_with_one_key_write_one_event(
        self, storage: SessionStorage
    ) -> None:
        if not storage.capabilities.conditional_writes:
            with pytest.raises(NotSupportedError, match="conditional_writes"):
                await storage.append_event("chat", "log", {}, idempotency_key="once")
            return
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


async def refused(storage: SessionStorage, raw: Raw, capability: str, **condition: Any) -> None:
    """A condition the backend cannot enforce is refused, naming what it lacks, the
    backend and what to use instead; nothing is written, nothing overwritten."""
    await storage.store_bytes("abc", "blob.bin", b"first")
    with pytest.raises(NotSupportedError) as info:
        await storage.store_bytes("abc", "blob.bin", b"second", **condition)
    message = str(info.value)
    assert capability in message and storage.backend in message and "Instead:" in message
    with pytest.raises(NotSupportedError, match=capability):
        await storage.store_session("abc", {"v": 2}, **condition)
    assert await raw.body("abc/blob.bin") == b"first"
    assert await raw.files() == ["abc/blob.bin"]


__all__ = ["DriverContract", "refused"]
