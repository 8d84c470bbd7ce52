"""What a forked child inherits that belongs to the parent: background saves, calls in
flight, obstore's runtime. Each is the parent's: the child neither runs it again nor
waits for it, and says so at once.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from session_storage import (
    NotSupportedError,
    SessionStorage,
    SessionStorageError,
    SyncSessionStorage,
)
from session_storage.pytest_plugin import s3_storage_options

from ..support.cloud import FaultyStorageFactory, RequestLog, new_bucket
from .forking import BOUND, run_forked

IN_FLIGHT = 8
"""Saves held in the proxy at the fork: the default background concurrency."""
QUEUED = 4
"""Saves still waiting in the parent's queue at the fork, behind those in flight."""


def _wait_for(check: Callable[[], bool], limit: float = 30.0) -> None:
    """Wait (bounded) until ``check()`` holds: a condition, not a fixed pause."""
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def _puts_per_save(requests: RequestLog, bucket: str) -> list[int]:
    """How many PUTs of each background save's object reached the server."""
    puts = [target for method, target in requests.take() if method == "PUT"]
    saves = IN_FLIGHT + QUEUED
    return [sum(t.startswith(f"/{bucket}/bg{i}/") for t in puts) for i in range(saves)]


def _inherited_error(wait: Callable[[], object]) -> str:
    """The error ``wait()`` raises at once in the child; fails if it returns or waits."""
    started = time.monotonic()
    with pytest.raises(SessionStorageError) as raised:
        wait()
    assert time.monotonic() - started < 1.0
    return str(raised.value)


def test_blocking_saves_pending_at_fork_are_the_parents(
    make_faulty_storage: FaultyStorageFactory, s3_requests: RequestLog
) -> None:
    base, proxy = make_faulty_storage("s3")
    bucket = base.url.removeprefix("s3://")
    storage = SyncSessionStorage.wrap(base)
    storage.store_session("warm", {"n": 0})  # the loop thread runs, a connection is open
    proxy.inject("hold", methods=["PUT"], count=IN_FLIGHT)
    futures = [storage.store_session_nowait(f"bg{i}", {"i": i}) for i in range(IN_FLIGHT + QUEUED)]
    _wait_for(lambda: proxy.applied["hold"] >= IN_FLIGHT)
    s3_requests.take()

    def work(i: int) -> dict[str, Any]:
        errors = [_inherited_error(lambda f=f: f.result(timeout=BOUND)) for f in futures]
        storage.flush()  # nothing of the parent's to write here
        loaded = storage.load_session("bg0")  # not written yet: the parent's is held
        storage.store_session(f"child{i}", {"i": i})
        storage.close()
        return {"errors": errors, "loaded": loaded}

    results = run_forked(work)

    for result in results:
        assert result["loaded"] is None
        assert all("was started in process" in error for error in result["errors"])
        assert "session 'bg0' file 'state.json'" in result["errors"][0]
    proxy.release()
    storage.flush()
    assert all(f.result(timeout=0) for f in futures)  # each resolved with its version
    # Each save written once, by the parent, none by a child.
    assert _puts_per_save(s3_requests, bucket) == [1] * (IN_FLIGHT + QUEUED)
    for i in range(IN_FLIGHT + QUEUED):
        assert storage.load_session(f"bg{i}")["i"] == i
    assert storage.load_session("child1")["i"] == 1
    storage.close()


@pytest.fixture
def loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a thread of the test process, as an app's might."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)
    loop.close()


def test_async_saves_pending_at_fork_are_the_parents(
    make_faulty_storage: FaultyStorageFactory,
    s3_requests: RequestLog,
    loop_thread: asyncio.AbstractEventLoop,
) -> None:
    """The parent's loop runs in another thread with saves in flight when the main
    thread forks: the child has operations of a "running" loop on its books, which
    must neither block it (one loop at a time) nor be written again."""
    storage, proxy = make_faulty_storage("s3")
    bucket = storage.url.removeprefix("s3://")

    def on_loop(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop_thread).result(60)

    async def accept() -> list[Any]:
        await storage.store_session("warm", {"n": 0})
        proxy.inject("hold", methods=["PUT"], count=IN_FLIGHT)
        saves = range(IN_FLIGHT + QUEUED)
        return [storage.store_session_nowait(f"bg{i}", {"i": i}) for i in saves]

    handles = on_loop(accept())
    _wait_for(lambda: proxy.applied["hold"] >= IN_FLIGHT)
    s3_requests.take()

    async def child(i: int) -> dict[str, Any]:
        await storage.flush()  # nothing of the parent's to write here
        loaded = await storage.load_session("bg0")
        await storage.store_session(f"child{i}", {"i": i})
        await storage.aclose()
        return {"loaded": loaded}

    def work(i: int) -> dict[str, Any]:
        errors = [_inherited_error(handle.result) for handle in handles]
        return {"errors": errors, **asyncio.run(child(i))}

    results = run_forked(work)

    for result in results:
        assert result["loaded"] is None
        assert all("was started in process" in error for error in result["errors"])
    proxy.release()
    on_loop(storage.flush())
    assert all(handle.result() for handle in handles)  # each resolved with its version
    assert _puts_per_save(s3_requests, bucket) == [1] * (IN_FLIGHT + QUEUED)
    assert on_loop(storage.load_session("child0"))["i"] == 0
    on_loop(storage.aclose())


def test_a_call_in_flight_at_fork_fails_at_once_in_the_child() -> None:
    storage = SyncSessionStorage(f"memory://fork-{uuid.uuid4().hex}")

    async def make_gate() -> asyncio.Event:
        return asyncio.Event()

    async def open_gate(gate: asyncio.Event) -> None:
        gate.set()

    gate = storage.run(make_gate())
    waiting = storage.submit(gate.wait())  # runs on the loop thread until the gate opens

    def work(i: int) -> dict[str, Any]:
        error = _inherited_error(lambda: waiting.result(timeout=BOUND))
        storage.store_session(f"c{i}", {"i": i})  # a new loop thread, in this process
        loaded = storage.load_session(f"c{i}")
        storage.close()
        return {"error": error, "loaded": loaded and loaded["i"]}

    results = run_forked(work)

    for i, result in enumerate(results):
        assert "a call on session-storage" in result["error"]
        assert "was started in process" in result["error"]
        assert result["loaded"] == i
    storage.run(open_gate(gate))
    assert waiting.result(timeout=30) is True  # the parent's call, unharmed
    storage.close()


@pytest.mark.parametrize("blocking", [True, False], ids=["sync", "async"])
def test_obstore_used_before_fork_fails_at_once_in_the_child(
    moto_s3_server: str, blocking: bool
) -> None:
    """obstore's runtime does not survive fork: every obstore storage in the child,
    inherited or new, raises at once; the fsspec engine works there."""
    options = s3_storage_options(moto_s3_server)
    url = f"s3://{new_bucket(moto_s3_server)}"
    if blocking:
        sync = SyncSessionStorage(url, options, engine="obstore")
        sync.store_session("a", {"n": 1})
    else:
        storage = SessionStorage(url, options, engine="obstore")
        asyncio.run(storage.store_session("a", {"n": 1}))

    async def new_obstore() -> object:
        async with SessionStorage(url, options, engine="obstore") as fresh:
            return await fresh.load_session("a")

    async def new_fsspec() -> object:
        async with SessionStorage(url, options, engine="fsspec") as fresh:
            return await fresh.load_session("a")

    def work(i: int) -> dict[str, Any]:
        refused = []
        inherited = (
            (lambda: sync.load_session("a"))
            if blocking
            else (lambda: asyncio.run(storage.load_session("a")))
        )
        for attempt in (inherited, lambda: asyncio.run(new_obstore())):
            started = time.monotonic()
            with pytest.raises(NotSupportedError) as raised:
                attempt()
            refused.append((str(raised.value), time.monotonic() - started))
        return {"refused": refused, "fsspec": asyncio.run(new_fsspec())}

    results = run_forked(work)

    for result in results:
        assert result["fsspec"]["n"] == 1
        for message, seconds in result["refused"]:
            assert seconds < 1.0
            assert "obstore" in message and "fork" in message
            assert '"spawn" or "forkserver"' in message and 'engine="fsspec"' in message
    if blocking:
        assert sync.load_session("a")["n"] == 1  # the parent's runtime is unharmed
        sync.close()
    else:
        assert asyncio.run(storage.load_session("a"))["n"] == 1


NEVER_USED_BEFORE_FORK = """
    import asyncio, multiprocessing, sys
    from session_storage import SessionStorage, SyncSessionStorage

    url, endpoint = sys.argv[1:3]
    options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
    sync = SyncSessionStorage(url, options, engine="obstore")
    storage = SessionStorage(url, options, engine="obstore")

    async def in_child(i):
        await storage.store_session(f"a{i}", {"i": i})
        async with SessionStorage(url, options, engine="obstore") as fresh:
            assert (await fresh.load_session(f"a{i}"))["i"] == i

    def work(i):
        sync.store_session(f"s{i}", {"i": i})
        assert sync.load_session(f"s{i}")["i"] == i
        sync.close()
        asyncio.run(in_child(i))

    fork = multiprocessing.get_context("fork")
    children = [fork.Process(target=work, args=(i,)) for i in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(BOUND)
    alive = [child.pid for child in children if child.is_alive()]
    for child in children:
        if child.is_alive():
            child.kill()
    print("alive", alive, "exit codes", [child.exitcode for child in children])
    # And the parent, which never used obstore before forking, still can.
    assert sync.load_session("s1")["i"] == 1 and sync.load_session("a0")["i"] == 0
    sync.close()
    # Everything this test is about has been checked. obstore's Tokio worker threads
    # can still race the interpreter's finalization and abort the process (SIGABRT),
    # rarely and only under load, in any short-lived process that used it: leave
    # without finalizing.
    sys.stdout.flush()
    import os
    os._exit(0)
"""


def test_obstore_not_used_before_fork_works_in_the_child(moto_s3_server: str) -> None:
    """A fresh interpreter: this test process has long started obstore's runtime."""
    url = f"s3://{new_bucket(moto_s3_server)}"
    code = textwrap.dedent(NEVER_USED_BEFORE_FORK).replace("BOUND", str(BOUND))
    done = subprocess.run(
        [sys.executable, "-c", code, url, moto_s3_server],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "alive [] exit codes [0, 0]" in done.stdout, done.stdout + done.stderr
