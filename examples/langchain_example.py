"""A LangChain chat whose history lives on session-storage.

Each run plays one more turn of the conversation ``lc-chat`` through
``RunnableWithMessageHistory``, whose history is a ``StorageChatMessageHistory``; the
next run (a new process) carries on. The model is langchain-core's
``GenericFakeChatModel``: no network, no API key. Both LangChain classes are deprecated
since langchain-core 1.6.4 (LangChain now points to LangGraph persistence: see
``examples/langgraph_example.py``); their warnings are silenced here.

Local files (``.data/langchain``): ``python examples/langchain_example.py``. Any other
storage: ``python examples/langchain_example.py s3://bucket/prefix`` (the endpoint from
``AWS_ENDPOINT_URL``). Needs ``pip install "session-storage[langchain]"``.
"""

from __future__ import annotations

import argparse
import os
import warnings

from langchain_core._api import LangChainDeprecationWarning
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from session_storage import SyncSessionStorage
from session_storage.integrations.langchain import StorageChatMessageHistory

warnings.filterwarnings("ignore", category=LangChainDeprecationWarning)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("url", nargs="?", default=".data/langchain", help="storage URL or folder")
    args = parser.parse_args()
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    options = {"endpoint_url": endpoint} if endpoint and args.url.startswith("s3://") else {}
    with SyncSessionStorage(args.url, options) as storage:
        print(f"storage: {storage.url} (backend: {storage.backend})")
        turn = len(StorageChatMessageHistory("lc-chat", storage).messages) // 2 + 1
        model = GenericFakeChatModel(messages=iter([AIMessage(f"answer {turn}")]))
        prompt = ChatPromptTemplate.from_messages(
            [MessagesPlaceholder("history"), ("human", "{question}")]
        )
        chat = RunnableWithMessageHistory(
            prompt | model,  # type: ignore[arg-type]
            lambda session_id: StorageChatMessageHistory(session_id, storage),  # the one line
            input_messages_key="question",
            history_messages_key="history",
        )
        config = {"configurable": {"session_id": "lc-chat"}}
        reply = chat.invoke({"question": f"question {turn}"}, config)  # type: ignore[arg-type]
        print(f"turn {turn}: {reply.content}")
        history = StorageChatMessageHistory("lc-chat", storage).messages
        print(f"history: {[f'{m.type}: {m.content}' for m in history]}")


if __name__ == "__main__":
    main()
