"""A LlamaIndex chat memory whose messages live on session-storage.

Each run adds one exchange to the ``ChatMemoryBuffer`` of user ``ann``, whose chat store
is a ``StorageChatStore``; the next run (a new process) finds the messages there. No
LLM is needed to show the memory: the reply is written by hand.

Local files (``.data/llama-index``): ``python examples/llama_index_example.py``. Any
other storage: ``python examples/llama_index_example.py s3://bucket/prefix`` (the
endpoint from ``AWS_ENDPOINT_URL``). Needs ``pip install "session-storage[llama-index]"``.
"""

from __future__ import annotations

import argparse
import os

from llama_index.core.llms import ChatMessage
from llama_index.core.memory import ChatMemoryBuffer

from session_storage import SyncSessionStorage
from session_storage.integrations.llama_index import StorageChatStore


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("url", nargs="?", default=".data/llama-index", help="storage URL or folder")
    args = parser.parse_args()
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    options = {"endpoint_url": endpoint} if endpoint and args.url.startswith("s3://") else {}
    with SyncSessionStorage(args.url, options) as storage:
        print(f"storage: {storage.url} (backend: {storage.backend})")
        chat_store = StorageChatStore(storage)  # the one line
        memory = ChatMemoryBuffer.from_defaults(chat_store=chat_store, chat_store_key="ann")
        turn = len(memory.get_all()) // 2 + 1
        memory.put(ChatMessage(role="user", content=f"question {turn}"))
        memory.put(ChatMessage(role="assistant", content=f"answer {turn}"))
        print(f"turn {turn}: memory holds {[m.content for m in memory.get()]}")
        print(f"chat keys: {chat_store.get_keys()}")


if __name__ == "__main__":
    main()
