"""A Strands Agents chat whose session lives on session-storage.

Each run plays one more turn of the session ``strands-chat``: the agent's messages and
state are kept by ``StorageSessionManager``, so the next run (a new process) restores
them and carries on. The model is a small scripted one defined here: no network, no
API key. With a real model, pass it to ``Agent(model=...)`` instead.

Local files (``.data/strands``): ``python examples/strands_example.py``. Any other
storage: ``python examples/strands_example.py s3://bucket/prefix`` (the endpoint from
``AWS_ENDPOINT_URL`` for a local S3 such as moto or MinIO). Needs
``pip install "session-storage[strands]"`` (plus ``[s3]`` for S3).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from typing import Any

from strands import Agent
from strands.models.model import Model
from strands.types.content import Messages
from strands.types.streaming import StreamEvent

from session_storage import SyncSessionStorage
from session_storage.integrations.strands import StorageSessionManager


class EchoModel(Model):
    """What an LLM would do here: say which turn it is and what the user said."""

    def update_config(self, **model_config: Any) -> None:
        pass

    def get_config(self) -> Any:
        return {}

    def structured_output(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def stream(  # type: ignore[override]
        self, messages: Messages, *args: Any, **kwargs: Any
    ) -> AsyncIterator[StreamEvent]:
        said = messages[-1]["content"][0].get("text", "")
        turn = sum(1 for m in messages if m["role"] == "user")
        yield {"messageStart": {"role": "assistant"}}
        yield {"contentBlockStart": {"start": {}}}
        yield {"contentBlockDelta": {"delta": {"text": f"turn {turn}: you said {said!r}"}}}
        yield {"contentBlockStop": {}}
        yield {"messageStop": {"stopReason": "end_turn"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("url", nargs="?", default=".data/strands", help="storage URL or folder")
    parser.add_argument("text", nargs="?", default="hello", help="what the user says")
    args = parser.parse_args()
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    options = {"endpoint_url": endpoint} if endpoint and args.url.startswith("s3://") else {}
    # Strands calls its session manager synchronously: it needs the blocking storage.
    with SyncSessionStorage(args.url, options) as storage:
        print(f"storage: {storage.url} (backend: {storage.backend})")
        manager = StorageSessionManager("strands-chat", storage)  # the one line
        agent = Agent(
            model=EchoModel(), session_manager=manager, agent_id="echo", callback_handler=None
        )
        print(f"restored {len(agent.messages)} messages")
        print(f"agent: {agent(args.text)}".strip())
        files = storage.list_files("strands-chat")
        print(f"{len(agent.messages)} messages; the session's files: {files}")


if __name__ == "__main__":
    main()
