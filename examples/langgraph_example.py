"""A LangGraph graph whose checkpoints live in session-storage: no model, no API key.

``python examples/langgraph_example.py`` keeps them in ``.data/langgraph`` on local
disk; run it twice and the conversation goes on where it stopped. Any storage URL works:
``AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x
python examples/langgraph_example.py s3://demo/langgraph --create-bucket`` (with
``moto_server -H 127.0.0.1 -p 5000`` running, or MinIO) puts them on S3.

The graph asks a human to approve each answer with ``interrupt()``; the approval is
given by a second saver on a new storage, as a restarted worker would give it.
Needs ``pip install 'session-storage[langgraph]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import os
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from session_storage import SessionStorage, SyncSessionStorage
from session_storage.integrations.langgraph import StorageSaver


class Chat(TypedDict):
    messages: Annotated[list[str], operator.add]
    turns: int


def answer(state: Chat) -> dict[str, Any]:
    question = state["messages"][-1]
    return {"messages": [f"bot: you said {question!r}"], "turns": state.get("turns", 0) + 1}


def approve(state: Chat) -> dict[str, Any]:
    verdict = interrupt({"approve": state["messages"][-1]})
    return {"messages": [f"human: {verdict}"]}


def build(checkpointer: StorageSaver) -> Any:
    builder = StateGraph(Chat)
    builder.add_node("answer", answer)
    builder.add_node("approve", approve)
    builder.add_edge(START, "answer")
    builder.add_edge("answer", "approve")
    builder.add_edge("approve", END)
    return builder.compile(checkpointer=checkpointer)


def create_bucket(url: str, options: dict[str, Any]) -> None:
    async def create() -> None:
        async with SessionStorage(url, options) as storage:
            try:
                await storage.filesystem._mkdir(url.split("://", 1)[1].split("/", 1)[0])
            except FileExistsError:
                pass

    asyncio.run(create())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("url", nargs="?", default=".data/langgraph", help="storage URL")
    parser.add_argument("--create-bucket", action="store_true", help="create the bucket first")
    parser.add_argument("--thread", default="chat-1", help="the conversation's thread id")
    args = parser.parse_args()
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    options = {"endpoint_url": endpoint} if endpoint and args.url.startswith("s3") else {}
    if args.create_bucket:
        create_bucket(args.url, options)
    config = {"configurable": {"thread_id": args.thread}}

    # The one line that puts the graph's checkpoints on the storage:
    with SyncSessionStorage(args.url, options) as storage:
        graph = build(StorageSaver(storage))
        turn = graph.get_state(config).values.get("turns", 0) + 1
        graph.invoke({"messages": [f"user: hello #{turn}"]}, config)
        waiting = graph.get_state(config)
        print(f"storage: {storage.url} (backend: {storage.backend})")
        asked = waiting.tasks[0].interrupts[0].value
        print(f"turn {turn}: waiting at {list(waiting.next)} for {asked}")

    # Later, elsewhere: a new storage and saver resume the thread from what is stored.
    with SyncSessionStorage(args.url, options) as storage:
        graph = build(StorageSaver(storage))
        final = graph.invoke(Command(resume="approved"), config)
        print(f"resumed: {final['messages'][-2:]}")
        history = list(graph.get_state_history(config))
        print(f"thread {args.thread}: {final['turns']} turns, {len(history)} checkpoints")


if __name__ == "__main__":
    main()
