"""Move OpenAI Agents SDK conversations from SQLite to session-storage, and check them.

The SDK's ``SQLiteSession`` writes two conversations into ``conversations.db`` (in a
temporary folder); ``session-storage import openai-sqlite`` moves them into the
storage; ``StorageSession`` then reads every conversation back as ``SQLiteSession``
does. The import runs twice: the second run finds everything in place and writes
nothing, as an import stopped half-way and run again writes only what is missing. No
network, no API key.

Local files: ``python examples/import_example.py`` (a temporary folder), or give a
storage URL: ``python examples/import_example.py ./imported``. The same command imports
LangGraph's ``SqliteSaver`` (``langgraph-sqlite``) and ADK's session databases
(``adk-sqlite``). Needs ``pip install "session-storage[openai-agents]"``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from agents.memory import SQLiteSession

from session_storage import SessionStorage
from session_storage.cli import main
from session_storage.integrations.openai_agents import StorageSession

CONVERSATIONS: dict[str, list[Any]] = {
    "weather-chat": [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny, 21 °C"},
        {"role": "assistant", "content": "In Paris it is sunny, 21 °C."},
    ],
    "support/ticket 7": [{"role": "user", "content": "My order has not arrived."}],
}


async def write_sqlite(database: Path) -> None:
    for session_id, items in CONVERSATIONS.items():
        session = SQLiteSession(session_id, database)
        await session.add_items(items)
        session.close()


async def compare(database: Path, url: str) -> None:
    async with SessionStorage(url) as storage:
        for session_id in CONVERSATIONS:
            theirs = SQLiteSession(session_id, database)
            expected = await theirs.get_items()
            theirs.close()
            ours = await StorageSession(session_id, storage).get_items()
            assert ours == expected, session_id
            print(f"{session_id!r}: {len(ours)} item(s), the same as in SQLite")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="the storage to import into")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "conversations.db"
        url = args.url or str(Path(folder) / "sessions")
        asyncio.run(write_sqlite(database))
        for _ in range(2):
            print(f"$ session-storage import openai-sqlite {database.name} --url {url}")
            code = main(["import", "openai-sqlite", str(database), "--url", url])
            assert code == 0, code
        asyncio.run(compare(database, url))


if __name__ == "__main__":
    run()
