"""OpenAI Agents SDK sessions on every backend, held against the SDK's own SQLiteSession.

The protocol is driven step by step on a StorageSession and on ``SQLiteSession(":memory:")``
side by side and must give the same results; the SDK's runner (``Runner.run``,
``run_streamed``, ``run_sync``) plays a scripted chat with a tool call through a model
that needs no LLM (tests/support/openai_agents_model.py) and must leave the same history and
hand the model the same input. Plus: two workers popping at once, a chat resumed in a
new process, and the requests a turn costs on S3, counted at the server.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from agents import Runner, set_tracing_disabled
from agents.memory import Session, SessionSettings, SQLiteSession

from session_storage import (
    InvalidArgumentError,
    MissingDependencyError,
    SerializationError,
    SessionStorage,
    SyncSessionStorage,
)
from session_storage.integrations.openai_agents import STREAM, StorageSession
from session_storage.pytest_plugin import s3_storage_options

from ..support.cloud import RequestLog
from ..support.openai_agents_model import REPLIES, TURNS, CannedModel, agent, answers

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["memory", "file", "s3", "gcs", "azure"]
SHARED_BACKENDS = ["file", "s3", "gcs", "azure"]  # two storages on one root see one history

# No trace export: it would look for an API key and try the network.
set_tracing_disabled(True)


@pytest.fixture
def open_storage(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[str], Callable[[], SessionStorage]]:
    """``open_storage(backend)``: a fresh root on that backend; each call of what it
    returns opens one more storage on that same root (a worker of its own)."""

    def on(backend: str) -> Callable[[], SessionStorage]:
        if backend == "memory":
            url = f"memory://oa-{uuid.uuid4().hex}"
            return lambda: SessionStorage(url)
        if backend == "file":
            root = tmp_path / f"root-{uuid.uuid4().hex[:8]}"
            return lambda: SessionStorage(root)
        first = request.getfixturevalue(f"make_{backend}_storage")()
        settings = first.settings
        return lambda: SessionStorage.from_settings(settings)

    return on


@pytest.fixture(params=BACKENDS)
async def storage(
    request: pytest.FixtureRequest, open_storage: Callable[[str], Callable[[], SessionStorage]]
) -> AsyncIterator[SessionStorage]:
    async with open_storage(request.param)() as storage:
        yield storage


# Items as the SDK stores them (TResponseInputItem), with what JSON can hold: unicode,
# escapes, nesting, numbers, null, booleans, empty values, and a key order to keep.
ITEMS: list[Any] = [
    {"role": "user", "content": "Hallo, wie geht's? ☃ 日本語 \u2028 \\ \" \n"},
    {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "Gut!", "annotations": [], "logprobs": []}],
    },
    {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "lookup",
        "arguments": '{"q": "x", "n": 3}',
        "status": "completed",
    },
    {"type": "function_call_output", "call_id": "call_1", "output": '{"hits": []}'},
    {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "…"}]},
    {"z": 1, "a": [0.1, -2.5e-8, 2**53, -(2**63), None, True, False, "", [], {}], "m": {"k": ""}},
    {"role": "user", "content": [{"type": "input_text", "text": "x" * 5000}]},
]


async def same(ours: Session, theirs: Session, step: Callable[[Session], Awaitable[Any]]) -> Any:
    """Run ``step`` on both sessions; both must give equal results, key order included."""
    got, expected = await step(ours), await step(theirs)
    assert got == expected
    assert json.dumps(got) == json.dumps(expected)
    return got


async def test_protocol_step_by_step_as_sqlite_session(storage: SessionStorage) -> None:
    await protocol_steps(storage)


async def test_protocol_on_a_sync_storage_from_async_code() -> None:
    # Each call runs on the SyncSessionStorage's own loop thread, awaited from this loop.
    with SyncSessionStorage(f"memory://oa-{uuid.uuid4().hex}") as storage:
        await protocol_steps(storage)


async def protocol_steps(storage: SessionStorage | SyncSessionStorage) -> None:
    """Every call of the protocol, on a StorageSession and on SQLiteSession side by side."""
    ours = StorageSession("chat ☃/../1", storage)
    theirs = SQLiteSession("chat ☃/../1")
    assert isinstance(ours, Session)

    assert await same(ours, theirs, lambda s: s.get_items()) == []
    assert await same(ours, theirs, lambda s: s.pop_item()) is None
    await same(ours, theirs, lambda s: s.add_items([]))
    await same(ours, theirs, lambda s: s.add_items(ITEMS[:3]))
    await same(ours, theirs, lambda s: s.add_items(ITEMS[3:]))
    assert await same(ours, theirs, lambda s: s.get_items()) == ITEMS
    for limit in (0, 1, 2, len(ITEMS) - 1, len(ITEMS), len(ITEMS) + 5, -1, 10**15):
        await same(ours, theirs, lambda s, n=limit: s.get_items(limit=n))  # type: ignore[misc]
    assert await same(ours, theirs, lambda s: s.pop_item()) == ITEMS[-1]
    assert await same(ours, theirs, lambda s: s.pop_item()) == ITEMS[-2]
    assert await same(ours, theirs, lambda s: s.get_items(limit=2)) == ITEMS[-4:-2]
    await same(ours, theirs, lambda s: s.add_items([ITEMS[0], ITEMS[0]]))
    assert await same(ours, theirs, lambda s: s.get_items(3)) == [ITEMS[-3], ITEMS[0], ITEMS[0]]
    await same(ours, theirs, lambda s: s.clear_session())
    assert await same(ours, theirs, lambda s: s.get_items()) == []
    assert await same(ours, theirs, lambda s: s.pop_item()) is None
    await same(ours, theirs, lambda s: s.clear_session())
    await same(ours, theirs, lambda s: s.add_items(ITEMS[1:3]))
    assert await same(ours, theirs, lambda s: s.get_items()) == ITEMS[1:3]

    # Another conversation of the same storage has its own history.
    other = StorageSession("chat ☃/../2", storage)
    assert await other.get_items() == []
    await other.add_items([ITEMS[4]])
    assert await ours.get_items() == ITEMS[1:3]
    assert await other.pop_item() == ITEMS[4]
    theirs.close()


@pytest.mark.parametrize("settings", [SessionSettings(limit=2), {"limit": 2}])
async def test_session_settings_limit_as_sqlite_session(
    settings: SessionSettings | dict[str, Any],
) -> None:
    async with SessionStorage(f"memory://oa-{uuid.uuid4().hex}") as storage:
        ours = StorageSession("s", storage, session_settings=settings)
        theirs = SQLiteSession("s", session_settings=settings)
        assert ours.session_settings == theirs.session_settings == SessionSettings(limit=2)
        await same(ours, theirs, lambda s: s.add_items(ITEMS))
        assert await same(ours, theirs, lambda s: s.get_items()) == ITEMS[-2:]
        assert await same(ours, theirs, lambda s: s.get_items(limit=3)) == ITEMS[-3:]
        theirs.close()


async def test_history_is_one_stream_of_the_session_and_clear_keeps_the_rest() -> None:
    async with SessionStorage(f"memory://oa-{uuid.uuid4().hex}") as storage:
        await storage.store_session("chat", {"user": "ada"})
        session = StorageSession("chat", storage)
        await session.add_items(ITEMS[:2])
        assert await storage.read_events("chat", STREAM) == ITEMS[:2]
        assert await storage.event_count("chat", STREAM) == 2

        planner = StorageSession("chat", storage, stream="planner")
        await planner.add_items([ITEMS[2]])
        assert await session.get_items() == ITEMS[:2]

        await session.clear_session()
        assert await storage.event_count("chat", STREAM) == 0
        assert await planner.get_items() == [ITEMS[2]]
        state = await storage.load_session("chat")
        assert state is not None and state["user"] == "ada"


async def test_bad_arguments_and_items_are_refused_with_nothing_written() -> None:
    async with SessionStorage(f"memory://oa-{uuid.uuid4().hex}") as storage:
        with pytest.raises(InvalidArgumentError, match="SessionStorage or a SyncSessionStorage"):
            StorageSession("s", "memory://x")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="session_id"):
            StorageSession("", storage)
        with pytest.raises(InvalidArgumentError, match="stream"):
            StorageSession("s", storage, stream="")
        session = StorageSession("s", storage)
        # What JSON cannot hold exactly is refused, not stored changed (SQLiteSession's
        # json.dumps would keep NaN and turn the key 1 into "1").
        for value in (float("nan"), float("inf"), 2**64, {1: "a"}):
            with pytest.raises(SerializationError):
                await session.add_items([{"value": value}])  # type: ignore[list-item]
        assert await session.get_items() == []


async def test_add_items_writes_all_or_none() -> None:
    async with SessionStorage(f"memory://oa-{uuid.uuid4().hex}") as storage:
        session = StorageSession("s", storage)
        await session.add_items([ITEMS[1]])
        with pytest.raises(SerializationError):
            await session.add_items([ITEMS[0], {"not json": object()}])  # type: ignore[list-item]
        assert await session.get_items() == [ITEMS[1]]


def test_import_without_the_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "agents", None)  # an import of it now fails
    monkeypatch.delitem(sys.modules, "session_storage.integrations.openai_agents")
    with pytest.raises(MissingDependencyError, match=r"session-storage\[openai-agents\]"):
        importlib.import_module("session_storage.integrations.openai_agents")
    with pytest.raises(ImportError):  # it is an ImportError too, for `except ImportError`
        importlib.import_module("session_storage.integrations.openai_agents")


# -- the SDK's runner, no LLM ------------------------------------------------------


async def play_chat(session: Session, *, streamed_second_turn: bool) -> list[Any]:
    """Both turns of the scripted chat through Runner; the inputs the model got."""
    inputs: list[Any] = []
    for turn, text in enumerate(TURNS):
        model = CannedModel(answers(turn))
        if turn == 1 and streamed_second_turn:
            streamed = Runner.run_streamed(agent(model), text, session=session)
            async for _ in streamed.stream_events():
                pass
            final_output = streamed.final_output
        else:
            final_output = (await Runner.run(agent(model), text, session=session)).final_output
        assert final_output == REPLIES[turn]
        assert model.outputs == []
        inputs.extend(model.inputs)
    return inputs


async def reference_chat(*, streamed_second_turn: bool = False) -> tuple[list[Any], list[Any]]:
    """The inputs and stored history of the chat on the SDK's SQLiteSession."""
    sqlite = SQLiteSession("reference")
    inputs = await play_chat(sqlite, streamed_second_turn=streamed_second_turn)
    items = await sqlite.get_items()
    sqlite.close()
    return inputs, items


async def test_runner_run_and_run_streamed_store_what_sqlite_session_stores(
    storage: SessionStorage,
) -> None:
    expected_inputs, expected_items = await reference_chat(streamed_second_turn=True)
    assert len(expected_items) == 6  # user, tool call, tool output, answer; user, answer

    session = StorageSession("chat-1", storage)
    inputs = await play_chat(session, streamed_second_turn=True)
    assert inputs == expected_inputs  # the second turn's model saw the first turn
    items = await session.get_items()
    assert json.dumps(items) == json.dumps(expected_items)
    # A fresh storage on the same root reads the same history.
    async with SessionStorage.from_settings(storage.settings) as again:
        if storage.backend != "memory":  # a memory store is private to its storage
            assert await StorageSession("chat-1", again).get_items() == expected_items


def run_sync_chat(session: Session, turns: range = range(len(TURNS))) -> list[Any]:
    """Turns of the chat through Runner.run_sync, on the calling thread's own loop."""
    inputs: list[Any] = []
    for turn in turns:
        model = CannedModel(answers(turn))
        Runner.run_sync(agent(model), TURNS[turn], session=session)
        inputs.extend(model.inputs)
    return inputs


def in_threads(*jobs: Callable[[], list[Any]]) -> list[list[Any]]:
    """Run each job in a plain thread of its own, all at once; their results."""
    results: list[list[Any] | BaseException] = [[] for _ in jobs]
    start = threading.Barrier(len(jobs))

    def work(i: int) -> None:
        start.wait()
        try:
            results[i] = jobs[i]()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


@pytest.mark.parametrize("backend", ["file", "s3"])
def test_run_sync_from_plain_threads_at_once_on_a_sync_storage(
    backend: str, open_storage: Callable[[str], Callable[[], SessionStorage]]
) -> None:
    expected_inputs, expected_items = asyncio.run(reference_chat())
    with SyncSessionStorage.wrap(open_storage(backend)()) as storage:
        sessions = [StorageSession(f"chat-{i}", storage) for i in range(3)]
        jobs = [lambda s=session: run_sync_chat(s) for session in sessions]
        for inputs in in_threads(*jobs):
            assert inputs == expected_inputs
        for session in sessions:
            assert storage.read_events(session.session_id, STREAM) == expected_items


def test_run_sync_in_successive_threads_on_an_async_storage(
    open_storage: Callable[[str], Callable[[], SessionStorage]],
) -> None:
    # A SessionStorage follows its caller from loop to loop, one loop at a time: here
    # each turn runs in a thread of its own, on that thread's own loop.
    expected_inputs, expected_items = asyncio.run(reference_chat())
    storage = open_storage("s3")()
    session = StorageSession("chat", storage)
    (first,) = in_threads(lambda: run_sync_chat(session, range(0, 1)))
    (second,) = in_threads(lambda: run_sync_chat(session, range(1, 2)))
    assert first + second == expected_inputs
    assert asyncio.run(session.get_items()) == expected_items
    asyncio.run(storage.aclose())


# -- workers -----------------------------------------------------------------------


@pytest.mark.parametrize("backend", SHARED_BACKENDS)
async def test_two_workers_popping_never_both_get_an_item(
    backend: str, open_storage: Callable[[str], Callable[[], SessionStorage]]
) -> None:
    on_root = open_storage(backend)
    async with on_root() as first, on_root() as second:
        a, b = StorageSession("chat", first), StorageSession("chat", second)
        for round_ in range(5):
            one: list[Any] = [{"round": round_}]
            await a.add_items(one)
            got: list[Any] = list(await asyncio.gather(a.pop_item(), b.pop_item()))
            assert sorted(got, key=lambda item: item is None) == [*one, None]
            assert await a.get_items() == [] and await b.get_items() == []

        # Both draining one history: every item comes out exactly once.
        items: list[Any] = [{"n": n} for n in range(12)]
        await a.add_items(items)

        async def drain(session: StorageSession) -> list[Any]:
            popped = []
            while (item := await session.pop_item()) is not None:
                popped.append(item)
            return popped

        from_a, from_b = await asyncio.gather(drain(a), drain(b))
        assert sorted(from_a + from_b, key=lambda item: item["n"]) == items
        for popped in (from_a, from_b):  # each worker pops from the end
            assert popped == sorted(popped, key=lambda item: -item["n"])


# -- a new process -----------------------------------------------------------------


def play_turn_in_new_process(url: str, turn: int, env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.openai_agents_model", url, "chat-9", str(turn)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,  # the assertion shows stderr
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", **env},
    )
    assert result.returncode == 0, result.stderr
    played: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return played


@pytest.mark.parametrize("backend", ["file", "s3"])
async def test_chat_resumes_in_a_new_process(
    backend: str, tmp_path: Path, make_s3_storage: Callable[..., SessionStorage]
) -> None:
    expected_inputs, expected_items = await reference_chat()
    if backend == "file":
        url, env = str(tmp_path / "sessions"), {}
    else:
        storage = make_s3_storage()
        url = storage.url
        env = {"AWS_ENDPOINT_URL": storage.settings.storage_options["endpoint_url"]}
    first = play_turn_in_new_process(url, 0, env)
    second = play_turn_in_new_process(url, 1, env)
    assert first["model_inputs"] + second["model_inputs"] == json.loads(json.dumps(expected_inputs))
    assert second["final_output"] == REPLIES[1]
    assert second["items"] == expected_items
    options = s3_storage_options(env["AWS_ENDPOINT_URL"]) if env else {}
    async with SessionStorage(url, options) as reader:
        assert await StorageSession("chat-9", reader).get_items() == expected_items


# -- requests on S3, counted at the server -----------------------------------------


async def test_requests_per_call_on_s3(
    make_s3_storage: Callable[..., SessionStorage], s3_requests: RequestLog
) -> None:
    async with make_s3_storage() as writer:
        session = StorageSession("long", writer)
        for start in range(0, 1000, 100):
            await session.add_items(
                [{"role": "user", "content": f"m{i}"} for i in range(start, start + 100)]
            )
        async with SessionStorage.from_settings(writer.settings) as cold:
            await cold.load_session("warm-up")  # open the client outside the count
            s3_requests.take()
            latest = await StorageSession("long", cold).get_items(limit=20)
            get_cold = len(s3_requests.take())
        assert latest == [{"role": "user", "content": f"m{i}"} for i in range(980, 1000)]

        counts: dict[int, int] = {}
        for k in (1, 10, 100):
            s3_requests.take()
            await session.add_items([{"role": "assistant", "content": "x"}] * k)
            counts[k] = len(s3_requests.take())
        assert await writer.event_count("long", STREAM) == 1111

        s3_requests.take()
        await session.get_items(limit=20)
        get_warm = len(s3_requests.take())
        await session.pop_item()
        pop = len(s3_requests.take())

    print(
        f"\nStorageSession on S3 (moto), requests: get_items(limit=20) of 1,000 items cold "
        f"{get_cold}, warm {get_warm}; add_items of 1/10/100 items "
        f"{counts[1]}/{counts[10]}/{counts[100]}; pop_item {pop}"
    )
    assert get_cold <= 5
    assert max(counts.values()) <= 2


class CountingSession(StorageSession):
    """A StorageSession that counts the calls the runner makes of each method."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    async def get_items(self, limit: int | None = None) -> list[Any]:
        self._count("get_items")
        return await super().get_items(limit)

    async def add_items(self, items: list[Any]) -> None:
        self._count("add_items")
        await super().add_items(items)


async def test_requests_per_turn_on_s3(
    make_s3_storage: Callable[..., SessionStorage], s3_requests: RequestLog
) -> None:
    async with make_s3_storage() as storage:
        await storage.load_session("warm-up")  # open the client outside the count
        session = CountingSession("chat", storage, session_settings={"limit": 20})
        for turn, text in enumerate(TURNS):
            session.calls.clear()
            s3_requests.take()
            await Runner.run(agent(CannedModel(answers(turn))), text, session=session)
            requests = len(s3_requests.take())
            print(
                f"\nRunner.run turn {turn + 1} on S3 (moto), "
                f"{'with' if turn == 0 else 'without'} a tool call: {requests} requests "
                f"for {session.calls}"
            )
            # Each history read within its budget, each append within its own.
            assert requests <= 5 * session.calls["get_items"] + 2 * session.calls["add_items"]
