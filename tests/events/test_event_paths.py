"""The state API cannot write into an event stream; events stay readable.

A stamped state at ``<stream>/tail.json`` (or over a sealed segment) would make
``read_events`` fail with CorruptDataError, so every state write refuses those names.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from session_storage import BatchError, InvalidKeyError, SessionStorage, copy_sessions
from session_storage.events.layout import TAIL_NAME, segment_name


@pytest.mark.parametrize(
    "name", [f"log/{TAIL_NAME}", f"a/b/{TAIL_NAME}", f"log/{segment_name(128, 'ab' * 8)}"]
)
async def test_state_writes_onto_an_event_name_are_refused(
    make: Callable[[], SessionStorage], name: str
) -> None:
    async with make() as storage:
        await storage.append_event("s", "log", {"n": 0})
        attempts = {
            "store_session": lambda: storage.store_session("s", {"v": 1}, name),
            "update_session": lambda: storage.update_session("s", lambda _: {"v": 1}, name),
        }
        for what, attempt in attempts.items():
            with pytest.raises(InvalidKeyError) as info:
                await attempt()
            message = str(info.value)
            assert "'s'" in message and repr(name) in message and "append_event" in message, what
            assert (info.value.session_id, info.value.filename) == ("s", name)
        with pytest.raises(InvalidKeyError):
            storage.store_session_nowait("s", {"v": 1}, name)
        with pytest.raises(BatchError) as batch:
            await storage.store_sessions({"s": {"v": 1}}, name)
        assert isinstance(batch.value.errors["s"], InvalidKeyError)

        assert await storage.read_events("s", "log") == [{"n": 0}]
        assert await storage.list_files("s") == [f"log/{TAIL_NAME}"]


async def test_names_that_only_look_similar_still_store(make: Callable[[], SessionStorage]) -> None:
    async with make() as storage:
        for name in [
            TAIL_NAME,
            "log/tail.json.bak",
            "log/000000000001.json",
            "log/seg-1-abc.json",
            f"log/seg-{'0' * 12}-{'A' * 16}.json",
        ]:
            await storage.store_session("s", {"v": name}, name)
            assert (await storage.load_session("s", name) or {})["v"] == name


async def test_event_logs_still_load_and_copy_as_raw_files() -> None:
    async with (
        SessionStorage(f"memory://events-src-{uuid.uuid4().hex}") as source,
        SessionStorage(f"memory://events-dst-{uuid.uuid4().hex}") as destination,
    ):
        for n in range(3):
            await source.append_event("s", "log", n)
        record = await source.load_session("s", f"log/{TAIL_NAME}")
        assert record is not None and [event["v"] for event in record["events"]] == [0, 1, 2]
        await copy_sessions(source, destination)
        assert await destination.read_events("s", "log") == [0, 1, 2]
