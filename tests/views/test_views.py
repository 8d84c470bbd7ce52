"""The read-only views: layout detection, pages of names, stream pages, conversation
turns and JSON of framework values, on local disk."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path

from session_storage import SessionStorage
from session_storage.views import detect, names_page
from session_storage.views.conversation import turn_of
from session_storage.views.store import EventRow, session_detail, stream_page
from session_storage.views.values import jsonable

from ..support.web_stores import CONVERSATION

NOW = datetime(2026, 12, 5, tzinfo=timezone.utc)


async def test_detect_reads_the_layout_and_writes_nothing(tmp_path: Path) -> None:
    async with SessionStorage(tmp_path / "empty") as storage:
        assert await detect(storage) == "plain"  # missing: plain, and still missing
    assert not (tmp_path / "empty").exists()
    async with SessionStorage(tmp_path / "lg") as storage:
        await storage.narrow("threads", "t1", "ns-").store_bytes("f", "checkpoint", b"x")
        assert await detect(storage) == "langgraph"
    async with SessionStorage(tmp_path / "adk") as storage:
        await storage.narrow("app1", "sessions", "u1").store_session("s1", {})
        assert await detect(storage) == "adk"
    async with SessionStorage(tmp_path / "plain") as storage:
        await storage.append_event("threads", "log", 1)  # a session named threads
        await storage.append_event("a", "sessions", 1)  # a stream named like an ADK part
        await storage.store_session("a", {})
        assert await detect(storage) == "plain"


async def test_names_pages_and_stream_pages(tmp_path: Path) -> None:
    async with SessionStorage(tmp_path) as storage:
        await storage.store_sessions({f"s{i:02d}": {} for i in range(7)})
        first = await names_page(storage, size=3)
        assert first.names == ["s00", "s01", "s02"] and first.next_after == "s02"
        last = await names_page(storage, after="s05", size=3)
        assert last.names == ["s06"] and last.next_after is None
        await storage.append_events("s00", "log", list(range(250)))
        newest = await stream_page(storage, "s00", "log")
        assert [e.index for e in newest.events][:2] == [249, 248] and newest.older == 150
        oldest = await stream_page(storage, "s00", "log", before=newest.older and 50)
        assert [e.item for e in oldest.events] == list(range(49, -1, -1))
        assert oldest.older is None and oldest.newer == 150
        assert (await stream_page(storage, "s00", "nope")).events == []
        detail = await session_detail(storage, "s00")
        assert [f.name for f in detail.files] == ["state.json"]
        assert [(s.name, s.count) for s in detail.streams] == [("log", 250)]


def test_turns_of_an_openai_agents_conversation() -> None:
    turns = [turn_of(EventRow(i, NOW, item)) for i, item in enumerate(CONVERSATION)]
    assert [(t.role, t.kind) for t in turns] == [
        ("user", "message"),
        ("assistant", "tool call"),
        ("tool", "tool output"),
        ("assistant", "message"),
    ]
    assert turns[1].tool == "get_weather" and turns[1].call_id == "call-1"
    assert turns[3].text == "It is sunny in Paris."
    odd = turn_of(EventRow(9, NOW, {"type": "web_search_call", "id": "w1"}))
    assert odd.kind == "web_search_call" and odd.item == {"type": "web_search_call", "id": "w1"}
    assert turn_of(EventRow(10, NOW, "plain text")).item == "plain text"


def test_jsonable_shows_any_value() -> None:
    @dataclasses.dataclass
    class Point:
        x: int

    class Model:
        def model_dump(self, mode: str) -> dict[str, object]:
            return {"mode": mode, "b": b"\x00"}

    loop: list[object] = []
    loop.append(loop)
    shown = jsonable({1: Point(2), "m": Model(), "f": float("nan"), "s": {3}, "t": (4,)})
    assert shown == {
        "1": {"x": 2},
        "m": {"mode": "json", "b": "base64:AA=="},
        "f": "nan",
        "s": [3],
        "t": [4],
    }
    assert isinstance(jsonable(loop), list)  # a cycle ends as text, never recursion
    assert jsonable(object).startswith("<class")
