"""The walk-through the cloud examples share: a session's life on one storage.

``python examples/cloud_demo.py URL [--create-bucket]`` runs it on any URL with the
storage options the clients take from their own environment variables; the per-cloud
examples add the emulator settings.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from typing import Any

from session_storage import SessionStorage


async def walk_through(url: str, options: Mapping[str, Any], create_bucket: bool) -> None:
    async with SessionStorage(url, options) as storage:
        if create_bucket:
            bucket = url.split("://", 1)[1].split("/", 1)[0]
            try:
                await storage.filesystem._mkdir(bucket)
                print(f"created bucket {bucket}")
            except FileExistsError:
                print(f"bucket {bucket} exists")
        print(f"storage: {storage.url} (backend: {storage.backend})")
        version = await storage.store_session("chat-42", {"status": "active"})
        print(f"stored chat-42, version {version}")
        state = await storage.load_session("chat-42")
        print(f"loaded chat-42: {state}")
        await storage.store_bytes("chat-42", "uploads/photo.png", b"\x89PNG...")
        print(f"files of chat-42: {await storage.list_files('chat-42')}")
        print(f"metadata: {await storage.get_session_metadata('chat-42')}")
        print(f"sessions: {await storage.list_sessions()}")
        print(f"deleted chat-42: {await storage.delete_session('chat-42')}")
        print(f"sessions left: {await storage.list_sessions()}")


def main(options: Mapping[str, Any] | None = None, description: str = __doc__ or "") -> None:
    parser = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    parser.add_argument("url", help="storage URL, e.g. s3://bucket/prefix")
    parser.add_argument("--create-bucket", action="store_true", help="create the bucket first")
    args = parser.parse_args()
    asyncio.run(walk_through(args.url, options or {}, args.create_bucket))


if __name__ == "__main__":
    main()
