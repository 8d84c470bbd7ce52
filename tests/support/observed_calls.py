"""One call of every public operation of a storage, for the observation tests.

``CALLS`` maps each name of ``public_operations(SessionStorage)`` to a coroutine
function that calls it on a storage holding session ``s`` (state, a bytes file, a
stream ``log`` of three events); a new public operation fails the tests until it is
added here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from session_storage import SessionStorage


async def seed(storage: SessionStorage) -> None:
    await storage.store_session("s", {"n": 1})
    await storage.store_bytes("s", "blob.bin", b"12345")
    await storage.append_events("s", "log", [1, 2, 3])


async def _drain(items: Any) -> list[Any]:
    return [item async for item in items]


CALLS: dict[str, Callable[[SessionStorage], Awaitable[Any]]] = {
    "store_session": lambda st: st.store_session("s", {"n": 2}),
    "load_session": lambda st: st.load_session("s"),
    "store_bytes": lambda st: st.store_bytes("s", "blob.bin", b"67890"),
    "load_bytes": lambda st: st.load_bytes("s", "blob.bin"),
    "session_exists": lambda st: st.session_exists("s"),
    "get_session_metadata": lambda st: st.get_session_metadata("s"),
    "list_files": lambda st: st.list_files("s"),
    "list_sessions": lambda st: st.list_sessions(),
    "iter_sessions": lambda st: _drain(st.iter_sessions()),
    "iter_file_metadata": lambda st: _drain(st.iter_file_metadata("s")),
    "load_sessions": lambda st: st.load_sessions(["s", "t"]),
    "store_sessions": lambda st: st.store_sessions({"t": {"n": 1}}),
    "update_session": lambda st: st.update_session("s", lambda state: {**(state or {}), "u": 1}),
    "append_event": lambda st: st.append_event("s", "log", 4),
    "append_events": lambda st: st.append_events("s", "log", [5, 6]),
    "read_events": lambda st: st.read_events("s", "log"),
    "iter_events": lambda st: _drain(st.iter_events("s", "log")),
    "event_count": lambda st: st.event_count("s", "log"),
    "list_streams": lambda st: st.list_streams("s"),
    "pop_events": lambda st: st.pop_events("s", "log"),
    "truncate_events": lambda st: st.truncate_events("s", "log", 2),
    "check": lambda st: st.check(),
    "delete_sessions": lambda st: st.delete_sessions(["t"]),
    "delete_sessions_older_than": lambda st: st.delete_sessions_older_than(10**6, dry_run=True),
    "delete_session": lambda st: st.delete_session("s", "blob.bin"),
    "flush": lambda st: st.flush(),
    "aclose": lambda st: st.aclose(),
}
"""In an order that works on one storage: deletes and the close come last."""

SILENT = frozenset({"flush", "aclose"})
"""Operations that need no backend request on a storage with nothing pending."""
