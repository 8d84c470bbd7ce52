"""S3 specifics: request counts at the server, and how S3 failures are reported."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import pytest

from session_storage import (
    BackendUnavailableError,
    BatchError,
    SessionStorage,
    StorageNotFoundError,
)
from session_storage.pytest_plugin import s3_storage_options

from ..support.cloud import RequestLog

MakeS3 = Callable[..., SessionStorage]


def methods(requests: list[tuple[str, str]]) -> list[str]:
    return [method for method, _ in requests]


def kinds(requests: list[tuple[str, str]]) -> list[str]:
    """Name each request by what it does: GET object, LIST, HEAD, PUT, DELETE, POST."""
    out = []
    for method, target in requests:
        if method == "GET" and ("list-type=2" in target or "delimiter=" in target):
            out.append("LIST")
        elif method == "POST" and "delete" in target:
            out.append("DELETE_BATCH")
        else:
            out.append(method)
    return out


def list_targets(requests: list[tuple[str, str]]) -> list[str]:
    """The targets of every request, which must all be LISTs."""
    assert kinds(requests) == ["LIST"] * len(requests), requests
    return [target for _, target in requests]


async def test_request_counts(make_s3_storage: MakeS3, s3_requests: RequestLog) -> None:
    async with make_s3_storage() as storage:
        await storage.store_session("warm", {})  # open the client outside the count
        s3_requests.take()

        await storage.store_session("abc", {"v": 1})
        assert kinds(s3_requests.take()) == ["PUT"]

        assert await storage.load_session("abc") is not None
        assert kinds(s3_requests.take()) == ["GET"]

        assert await storage.load_session("missing") is None
        assert kinds(s3_requests.take()) == ["GET"]

        assert await storage.session_exists("abc")
        assert kinds(s3_requests.take()) == ["LIST"]

        assert await storage.get_session_metadata("abc") is not None
        assert kinds(s3_requests.take()) == ["HEAD"]

        assert await storage.list_sessions() == ["abc", "warm"]
        assert kinds(s3_requests.take()) == ["LIST"]

        for i in range(3):
            await storage.store_bytes("abc", f"f{i}.bin", b"x")
        s3_requests.take()
        assert await storage.delete_session("abc") is True  # 4 files
        assert kinds(s3_requests.take()) == ["LIST", "DELETE_BATCH"]

        assert await storage.delete_session("abc") is False
        assert kinds(s3_requests.take()) == ["LIST"]


async def test_list_of_n_sessions_is_one_list_per_thousand(
    make_s3_storage: MakeS3, s3_requests: RequestLog
) -> None:
    n = 1001
    async with make_s3_storage() as storage:
        sem = asyncio.Semaphore(32)

        async def put(i: int) -> None:
            async with sem:
                await storage.store_bytes(f"s{i:05d}", "state.json", b"{}")

        await asyncio.gather(*(put(i) for i in range(n)))
        s3_requests.take()
        sessions = await storage.list_sessions()
        assert len(sessions) == n
        requests = kinds(s3_requests.take())
        print(f"\nlist_sessions of {n} sessions: {len(requests)} LIST requests")
        assert requests == ["LIST"] * 2  # ceil(1001 / 1000)

        assert [i async for i in storage.iter_sessions()] == sessions
        requests = kinds(s3_requests.take())
        print(f"iter_sessions over {n} sessions: {len(requests)} LIST requests")
        assert requests == ["LIST"] * 2

        # A page costs one request that asks for the page's size, wherever it starts.
        assert await storage.list_sessions(limit=10) == sessions[:10]
        (page,) = list_targets(s3_requests.take())
        assert "max-keys=10" in page and "start-after" not in page
        assert await storage.list_sessions(limit=10, start_after=sessions[500]) == sessions[501:511]
        (page,) = list_targets(s3_requests.take())
        assert "max-keys=10" in page and "start-after=s00500" in page
        print(f"list_sessions(limit=10[, start_after]): 1 LIST request each: {page}")

        assert await storage.list_sessions(limit=1000) == sessions[:1000]
        assert len(list_targets(s3_requests.take())) == 1
        assert await storage.list_sessions(limit=1001) == sessions
        first, second = list_targets(s3_requests.take())
        assert "max-keys=1000" in first and "max-keys=1" in second

        async for _ in storage.iter_sessions():  # stopping early stops the requests
            break
        assert kinds(s3_requests.take()) == ["LIST"]


async def test_batch_calls_cost_what_the_single_calls_cost(
    make_s3_storage: MakeS3, s3_requests: RequestLog
) -> None:
    k = 20
    ids = [f"s{i:02d}" for i in range(k)]
    async with make_s3_storage() as storage:
        await storage.store_session("warm", {})
        s3_requests.take()

        await storage.store_sessions({i: {"i": i} for i in ids})
        assert kinds(s3_requests.take()) == ["PUT"] * k
        loaded = await storage.load_sessions([*ids, "missing"])
        assert loaded["missing"] is None and len(loaded) == k + 1
        assert kinds(s3_requests.take()) == ["GET"] * (k + 1)
        assert await storage.delete_sessions(ids[:5], "state.json") == dict.fromkeys(ids[:5], True)
        # S3 says 204 to any DELETE: "did it exist" is a HEAD first, as in delete_session.
        assert sorted(kinds(s3_requests.take())) == ["DELETE"] * 5 + ["HEAD"] * 5
        assert await storage.delete_sessions(ids[5:]) == dict.fromkeys(ids[5:], True)
        requests = kinds(s3_requests.take())
        assert sorted(requests) == ["DELETE_BATCH"] * (k - 5) + ["LIST"] * (k - 5)
        print(f"\nbatches of {k}: store {k} PUT, load {k + 1} GET, delete 2 requests per session")


def test_connection_pool_follows_batch_concurrency(moto_s3_server: str) -> None:
    options = s3_storage_options(moto_s3_server)
    storage = SessionStorage("s3://bucket", options)
    assert storage.max_concurrency == 64
    assert storage._scope.driver.options["config_kwargs"] == {"max_pool_connections": 64}
    assert "config_kwargs" not in storage.settings.storage_options  # the caller's own
    mine = {**options, "config_kwargs": {"max_pool_connections": 12, "connect_timeout": 3}}
    assert SessionStorage("s3://bucket", mine).max_concurrency == 12
    assert SessionStorage("s3://bucket", mine, max_concurrency=5).max_concurrency == 5


async def test_missing_bucket_fails_every_id_of_a_batch(moto_s3_server: str) -> None:
    options = s3_storage_options(moto_s3_server)
    async with SessionStorage("s3://no-such-bucket-here", options) as storage:
        with pytest.raises(BatchError) as info:
            await storage.load_sessions(["a", "b", "c"])
        assert list(info.value.errors) == ["a", "b", "c"]
        assert all(isinstance(e, StorageNotFoundError) for e in info.value.errors.values())
        assert info.value.results == {}
        assert "3 of 3 sessions failed" in str(info.value)
        with pytest.raises(StorageNotFoundError):
            await storage.list_sessions(limit=5)
        with pytest.raises(StorageNotFoundError):
            async for _ in storage.iter_sessions():
                pass


async def test_delete_of_k_files_is_one_list_plus_batches(
    make_s3_storage: MakeS3, s3_requests: RequestLog
) -> None:
    k = 1001
    async with make_s3_storage() as storage:
        sem = asyncio.Semaphore(32)

        async def put(i: int) -> None:
            async with sem:
                await storage.store_bytes("big", f"f{i:05d}", b"x")

        await asyncio.gather(*(put(i) for i in range(k)))
        s3_requests.take()
        assert await storage.delete_session("big") is True
        requests = kinds(s3_requests.take())
        print(f"\ndelete_session of {k} files: {requests}")
        # Listing 1001 keys takes two pages; deleting them two batches.
        assert sorted(requests) == ["DELETE_BATCH", "DELETE_BATCH", "LIST", "LIST"]
        assert await storage.list_files("big") == []


async def test_prefixed_root_keeps_everything_under_its_prefix(
    make_s3_storage: MakeS3,
) -> None:
    async with make_s3_storage("app/v1") as storage:
        await storage.store_session("abc", {"v": 1})
        assert storage.url.endswith("/app/v1")
        fs = storage.filesystem
        bucket = storage.url.removeprefix("s3://").split("/")[0]
        assert await fs._find(bucket) == [f"{bucket}/app/v1/abc/state.json"]
        assert await storage.list_sessions() == ["abc"]
        assert await storage.delete_session("abc") is True
        assert await fs._find(bucket) == []


@pytest.mark.parametrize("engine", ["fsspec", "obstore"])
async def test_missing_bucket_raises_instead_of_looking_empty(
    moto_s3_server: str, engine: str
) -> None:
    options = s3_storage_options(moto_s3_server)
    async with SessionStorage("s3://no-such-bucket-here", options, engine=engine) as storage:
        with pytest.raises(StorageNotFoundError) as info:
            await storage.load_session("abc")
        assert "s3" in str(info.value) and "'abc'" in str(info.value)
        assert "no-such-bucket-here" in str(info.value)
        assert isinstance(info.value, FileNotFoundError)
        assert info.value.__cause__ is not None
        with pytest.raises(StorageNotFoundError):
            await storage.store_session("abc", {})
        with pytest.raises(StorageNotFoundError):
            await storage.list_sessions()
        with pytest.raises(StorageNotFoundError) as info:
            await storage.append_event("abc", "log", 1)
        assert "no-such-bucket-here" in str(info.value)
        with pytest.raises(BatchError) as batch:
            await storage.delete_sessions(["abc", "def"])
        assert all(isinstance(e, StorageNotFoundError) for e in batch.value.errors.values())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_endpoint_raises_a_connection_error() -> None:
    options = {
        "endpoint_url": f"http://127.0.0.1:{_closed_port()}",
        "key": "k",
        "secret": "s",
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2},
    }
    storage = SessionStorage("s3://bucket", options)  # no I/O yet: must not raise
    async with storage:
        with pytest.raises(BackendUnavailableError) as info:
            await storage.load_session("abc", "cp.json")
        message = str(info.value)
        assert "s3" in message and "'abc'" in message and "'cp.json'" in message
        assert isinstance(info.value, ConnectionError) and isinstance(info.value, OSError)
        assert info.value.__cause__ is not None


async def test_requests_per_append_and_per_update(
    make_s3_storage: MakeS3, s3_requests: RequestLog
) -> None:
    """Steady-state request counts of the race-free writes, for a single writer."""
    n = 20
    async with make_s3_storage() as storage:
        await storage.append_event("chat", "log", "first")  # opens the client, learns the end
        s3_requests.take()

        for i in range(n):
            await storage.append_event("chat", "log", i)
        appends = kinds(s3_requests.take())
        assert appends == ["PUT"] * n

        for i in range(n):
            await storage.append_event("chat", "log", i, idempotency_key=f"k{i}")
        keyed = kinds(s3_requests.take())
        assert keyed == ["PUT"] * n  # the key rides in the tail write itself

        for i in range(n):
            assert await storage.append_event("chat", "log", "x", idempotency_key=f"k{i}") == (
                1 + n + i
            )
        replays = kinds(s3_requests.take())
        # The known tail already holds the key: no write, and at most a look at the tail.
        assert replays.count("PUT") == 0 and len(replays) <= n

        assert await storage.event_count("chat", "log") == 1 + 2 * n
        count = kinds(s3_requests.take())
        assert count == ["GET"]  # the tail says where the stream ends

        assert len(await storage.read_events("chat", "log", 5, 10)) == 10
        page = kinds(s3_requests.take())
        assert len(page) <= 1  # one tail (or none, when this storage knows it)

        await storage.update_session("abc", lambda state: {"n": 1})
        await storage.update_session("abc", lambda state: {"n": (state or {})["n"] + 1})
        s3_requests.take()
        await storage.update_session("abc", lambda state: {"n": (state or {})["n"] + 1})
        update = kinds(s3_requests.take())
        assert update == ["GET", "PUT"]

    async with make_s3_storage() as other:  # a storage that has never seen the stream
        for i in range(2 * n + 1):
            await other.append_event("s", "log", i)
    async with SessionStorage.from_settings(other.settings) as cold:
        await cold.store_session("warm", {})
        s3_requests.take()
        assert await cold.append_event("s", "log", "late") == 2 * n + 1
        cold_start = kinds(s3_requests.take())
    print(
        f"\nS3 requests for a single writer: append {len(appends) / n:.0f} ({appends[0]}), "
        f"append with idempotency key {len(keyed) / n:.0f}, replayed key {len(replays) / n:.0f} "
        f"({replays[0] if replays else 'no request'} each), event_count {len(count)} GET, "
        f"read of 10 events "
        f"{len(page)} GET, update_session {len(update)} ({' + '.join(update)}); first append "
        f"of a fresh storage to a stream of {2 * n + 1} events: {len(cold_start)} "
        f"({', '.join(cold_start)})"
    )
    assert cold_start == ["GET", "PUT"]  # read the tail, then the conditional rewrite


async def test_a_new_storage_parses_no_botocore_data_file_again(
    make_s3_storage: Callable[..., SessionStorage],
    s3_requests: RequestLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from botocore.loaders import JSONFileLoader

    async with make_s3_storage() as first:
        await first.append_events("chat", "log", list(range(300)))
        loaded: list[str] = []
        real_load = JSONFileLoader.load_file

        def counted(self: JSONFileLoader, file_path: str) -> Any:
            loaded.append(file_path)
            return real_load(self, file_path)

        monkeypatch.setattr(JSONFileLoader, "load_file", counted)
        s3_requests.take()
        # A storage opened later in the process (a new request handler, say) pays for
        # its one GET, not for parsing botocore's endpoint list and S3 model again.
        async with SessionStorage.from_settings(first.settings) as cold:
            assert await cold.read_events("chat", "log", -20) == list(range(280, 300))
        requests = [method for method, _ in s3_requests.take()]
    print(f"\ncold read_events(start=-20) on a new S3 storage: {requests}, data files {loaded}")
    assert requests == ["GET"] and loaded == []
