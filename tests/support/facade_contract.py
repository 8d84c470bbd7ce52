"""The facade contract: behaviour the facade decides, the same on every driver.

Argument checks and bad input refused before anything is written, the metadata stamp
and compact JSON, batch semantics, narrowing, ``update_session``'s policy, the event
API's paging, truncation, idempotency keys and layout. The code under test is the same
whatever the driver, so tests/operations/test_facade_contract.py runs it once per
backend (fsspec engine, plain lane), and in the zstd+aes lane on memory and local disk.
Each test still meets the backend's own answers (missing files, conflicts, listings).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

import orjson
import pytest

from session_storage import (
    BatchError,
    ConflictError,
    CorruptDataError,
    InvalidArgumentError,
    InvalidKeyError,
    NotSupportedError,
    SerializationError,
    SessionStorage,
    SessionStorageError,
)

from .contract import (
    ContractBase,
    Raw,
    StorageFactory,
    session_order,
)

_STAMP_LIKE = {"session_id": "s", "filename": "f", "stored_at": "t", "backend": "b"}

Test = TypeVar("Test", bound=Callable[..., Coroutine[Any, Any, None]])


def needs_conditional_writes(test: Test) -> Test:
    """A test of what needs conditional writes (``update_session``, every event-log
    call): on a lane without them (``conditional_writes = False``), the same steps must
    be refused with a NotSupportedError naming the capability, never run unenforced."""

    @functools.wraps(test)
    async def run(self: FacadeContract, *args: Any, **kwargs: Any) -> None:
        if self.conditional_writes:
            await test(self, *args, **kwargs)
            return
        with pytest.raises(NotSupportedError, match="conditional_writes"):
            await test(self, *args, **kwargs)

    return run  # type: ignore[return-value]


class FacadeContract(ContractBase):
    """Every test here runs once per backend (plain lane); memory and local disk add
    the zstd+aes lane."""

    conditional_writes: ClassVar[bool] = True
    """Whether the lane's backend enforces conditional writes (the generic driver's
    lanes do not; see :func:`needs_conditional_writes`)."""

    # -- stamps and JSON -------------------------------------------------------------

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

    # -- paged and streaming listing -------------------------------------------------

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

    # -- bytes -----------------------------------------------------------------------

    async def test_store_bytes_refuses_non_bytes(self, storage: SessionStorage, raw: Raw) -> None:
        # A bad value, not a bad key: the error names the argument.
        with pytest.raises(InvalidArgumentError, match="data must be bytes") as info:
            await storage.store_bytes("abc", "x.txt", "text")  # type: ignore[arg-type]
        assert not isinstance(info.value, InvalidKeyError)
        error = info.value
        assert (error.session_id, error.filename) == ("abc", "x.txt")
        assert error.backend == storage.backend
        assert str(error).startswith(f"{storage.backend}: cannot store session 'abc' file 'x.txt'")
        assert await raw.files() == []

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

    async def test_load_session_default_stands_in_for_a_missing_file(
        self, storage: SessionStorage, raw: Raw
    ) -> None:
        assert await storage.load_session("nope", default={}) == {}
        fallback = {"turns": []}
        assert await storage.load_session("nope", "other.json", default=fallback) is fallback
        await storage.store_session("abc", {"v": 1})
        loaded = await storage.load_session("abc", default={})
        assert loaded["v"] == 1 and "_metadata" in loaded  # a stored state wins
        assert await storage.load_session("abc", "missing.json", default=None) is None
        with pytest.raises(InvalidArgumentError, match="default"):
            await storage.load_session("abc", default={}, with_version=True)
        assert await raw.files() == ["abc/state.json"]  # a default is never stored

    # -- versions and conditional writes ---------------------------------------------

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

    @needs_conditional_writes
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

    @needs_conditional_writes
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

    @needs_conditional_writes
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

    @needs_conditional_writes
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

    @needs_conditional_writes
    async def test_events_are_files_of_the_session(self, storage: SessionStorage, raw: Raw) -> None:
        await storage.store_session("s", {"v": 1})
        assert await storage.append_event("s", "chat/main", {"a": 1}, idempotency_key="x") == 0
        assert await storage.append_event("s", "☃ ../x", [1, "two", None]) == 0
        assert await storage.list_files("s") == [
            "chat/main/tail.json",
            "state.json",
            "☃ ../x/tail.json",
        ]
        assert await storage.list_streams("s") == ["chat/main", "☃ ../x"]
        assert await storage.list_streams("nobody") == []
        record = await storage.load_session("s", "chat/main/tail.json")
        assert record is not None and record["first"] == 0
        assert [event["v"] for event in record["events"]] == [{"a": 1}]
        assert record["_metadata"]["stream"] == "chat/main"
        assert await storage.read_events("s", "☃ ../x") == [[1, "two", None]]
        assert all(not path.startswith("..") for path in await raw.files())

        assert await storage.delete_session("s") is True
        assert await raw.files() == [] and await raw.hidden() == []  # locks: all gone
        assert await storage.list_sessions() == []
        assert await storage.list_streams("s") == []
        assert await storage.event_count("s", "chat/main") == 0
        # The storage's cached tail is gone with the session: the next event is 0 again.
        assert await storage.append_event("s", "chat/main", {"a": 2}) == 0
        assert await storage.read_events("s", "chat/main") == [{"a": 2}]

    @needs_conditional_writes
    async def test_missing_stream_reads_empty(self, storage: SessionStorage, raw: Raw) -> None:
        assert await storage.read_events("nope", "log") == []
        assert [item async for item in storage.iter_events("nope", "log")] == []
        assert await storage.event_count("nope", "log") == 0
        assert await storage.truncate_events("nope", "log", 0) == 0
        assert await raw.files() == []

    @needs_conditional_writes
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


__all__ = ["FacadeContract"]
