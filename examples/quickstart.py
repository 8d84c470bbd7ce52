"""Store, load, update, append, list, narrow and delete sessions on the embedded default.

Run it with ``make quickstart`` or ``python examples/quickstart.py``: it works in
``.data/sessions`` and leaves the session ``chat-42`` behind for the command line to
show. It ends by printing that command as it runs from the current folder: the
``session-storage`` script of the interpreter running this program (after ``make
quickstart``, ``.venv/bin/session-storage``: no venv is on PATH). Set
``SESSION_STORAGE_URL`` (for example ``memory://demo`` or ``s3://bucket/prefix``) to run
the same program against another backend. Running it again continues the same
conversation.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from session_storage import SessionStorage


def count_turn(state: dict[str, Any] | None) -> dict[str, Any]:
    """One more turn; a missing state starts at turn 1."""
    state = dict(state or {"status": "active"})
    state.pop("_metadata", None)
    return {**state, "turns": state.get("turns", 0) + 1}


def cli_command(executable: str = sys.executable, cwd: str | None = None) -> str:
    """The command that runs the CLI as printed from ``cwd``: the ``session-storage``
    script beside ``executable`` if it is there, else ``executable -m session_storage``;
    relative to ``cwd`` when inside it (``.venv/bin/session-storage``)."""
    here = Path(cwd or os.getcwd()).absolute()

    def shown(path: Path) -> str:
        path = path.absolute()  # not resolved: a venv's python is a symlink to the base one
        text = os.path.relpath(path, here) if path.is_relative_to(here) else str(path)
        return shlex.quote(text if os.sep in text else f".{os.sep}{text}")

    script = Path(executable).parent / "session-storage"
    if script.is_file() and os.access(script, os.X_OK):
        return shown(script)
    return f"{shown(Path(executable))} -m session_storage"


async def main() -> None:
    async with SessionStorage.from_env() as storage:
        print(f"storage: {storage.url} (backend: {storage.backend})")

        # update_session reads, applies the function and writes only if nobody else
        # wrote in between (retrying if someone did): safe from many workers at once.
        state = await storage.update_session("chat-42", count_turn)
        print(f"chat-42 is at turn {state['turns']}")

        # An append-only event log: one object per event, indices from 0 without gaps.
        index = await storage.append_event(
            "chat-42", "messages", {"role": "user", "content": f"hello #{state['turns']}"}
        )
        latest = await storage.read_events("chat-42", "messages", start=index)
        print(f"appended message {index}: {latest[0]}")

        await storage.store_session("chat-42", {"turn": state["turns"]}, "checkpoints/latest.json")
        loaded = await storage.load_session("chat-42")
        assert loaded is not None
        print(f"loaded chat-42: status={loaded['status']} turns={loaded['turns']}")
        print(f"  stamped: {loaded['_metadata']}")
        print(f"missing session loads as: {await storage.load_session('no-such-chat')}")

        meta = await storage.get_session_metadata("chat-42")
        assert meta is not None
        print(f"metadata: {meta['size']} bytes, modified {meta['modified']:%Y-%m-%d %H:%M:%S %Z}")
        print(f"files of chat-42: {await storage.list_files('chat-42')}")

        # Any string is a valid id: this one stays inside the root.
        await storage.store_session("../sneaky/id", {"status": "safe"})
        tenant = storage.narrow("tenant-a", "alice")
        await tenant.store_session("chat-7", {"status": "active"})
        print(f"narrowed to {tenant.url}: sessions {await tenant.list_sessions()}")
        print(f"sessions at the root: {await storage.list_sessions()}")

        deleted = [
            await storage.delete_session("../sneaky/id"),
            await storage.delete_session("tenant-a"),
        ]
        print(f"deleted '../sneaky/id' and tenant-a: {deleted}")
        print(f"deleting again: {await storage.delete_session('tenant-a')}")
        print(f"sessions left: {await storage.list_sessions()}")
        print(f"try: {cli_command()} --url {shlex.quote(storage.url)} show chat-42")
        print("  (or instead of show chat-42: files chat-42, info chat-42, rm chat-42)")


if __name__ == "__main__":
    asyncio.run(main())
