"""Store, load, list, narrow and delete sessions on the embedded default (.data/sessions).

Run it with ``make quickstart`` or ``python examples/quickstart.py``. Set
``SESSION_STORAGE_URL`` (for example ``memory://demo`` or ``s3://bucket/prefix``) to run
the same program against another backend.
"""

from __future__ import annotations

import asyncio

from session_storage import SessionStorage


async def main() -> None:
    async with SessionStorage.from_env() as storage:
        print(f"storage: {storage.url} (backend: {storage.backend})")

        await storage.store_session("chat-42", {"status": "active", "turns": 1})
        await storage.store_session("chat-42", {"turn": 1}, "checkpoints/001.json")
        await storage.store_session("../sneaky/id", {"status": "safe"})
        print("stored chat-42 (state + checkpoint) and '../sneaky/id'")

        state = await storage.load_session("chat-42")
        assert state is not None
        print(f"loaded chat-42: status={state['status']} turns={state['turns']}")
        print(f"  stamped: {state['_metadata']}")
        print(f"missing session loads as: {await storage.load_session('no-such-chat')}")

        meta = await storage.get_session_metadata("chat-42")
        assert meta is not None
        print(f"metadata: {meta['size']} bytes, modified {meta['modified']:%Y-%m-%d %H:%M:%S %Z}")
        print(f"files of chat-42: {await storage.list_files('chat-42')}")

        tenant = storage.narrow("tenant-a", "alice")
        await tenant.store_session("chat-7", {"status": "active"})
        print(f"narrowed to {tenant.url}: sessions {await tenant.list_sessions()}")

        print(f"sessions at the root: {await storage.list_sessions()}")

        deleted = [
            await storage.delete_session("chat-42"),
            await storage.delete_session("../sneaky/id"),
            await storage.delete_session("tenant-a"),
        ]
        print(f"deleted chat-42, '../sneaky/id' and tenant-a: {deleted}")
        print(f"deleting again: {await storage.delete_session('chat-42')}")
        print(f"sessions left: {await storage.list_sessions()}")


if __name__ == "__main__":
    asyncio.run(main())
