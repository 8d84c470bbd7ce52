"""Importers of the agent frameworks' own SQLite stores, one module per source.

Each reads a framework's database (read-only) and writes its sessions where this
package's integration for that framework reads them, resumably (see
:mod:`session_storage.admin.importing`, which runs them):

- ``openai-sqlite`` (:mod:`.openai_sqlite`): the OpenAI Agents SDK's ``SQLiteSession``,
  read back by :class:`~session_storage.integrations.openai_agents.StorageSession`;
- ``langgraph-sqlite`` (:mod:`.langgraph_sqlite`): LangGraph's ``SqliteSaver``, read
  back by :class:`~session_storage.integrations.langgraph.StorageSaver`;
- ``adk-sqlite`` (:mod:`.adk_sqlite`): Google ADK's ``DatabaseSessionService`` on
  SQLite, read back by :class:`~session_storage.integrations.adk.StorageSessionService`.

Importing this package imports no framework; :func:`open_importer` imports the one a
source needs, and raises MissingDependencyError naming its extra when it is missing.
"""

from __future__ import annotations

import importlib

from ...admin.importing import Importer
from ...core.errors import InvalidArgumentError
from ...storage import SessionStorage

__all__ = ["SOURCES", "open_importer"]

SOURCES: dict[str, tuple[str, str]] = {
    "openai-sqlite": ("openai_sqlite", "OpenAISqliteImporter"),
    "langgraph-sqlite": ("langgraph_sqlite", "LangGraphSqliteImporter"),
    "adk-sqlite": ("adk_sqlite", "AdkSqliteImporter"),
}
"""Source name -> (module of this package, importer class)."""


def open_importer(source: str, database: str, storage: SessionStorage) -> Importer:
    """The importer of ``source`` (a key of :data:`SOURCES`) from the file ``database``
    into ``storage``; close it with ``aclose``.

    An unknown source raises InvalidArgumentError; a missing framework
    MissingDependencyError naming its extra; a missing or foreign database file
    InvalidArgumentError naming it.
    """
    if source not in SOURCES:
        raise InvalidArgumentError(
            f"unknown import source {source!r}: one of {', '.join(sorted(SOURCES))}"
        )
    module_name, class_name = SOURCES[source]
    module = importlib.import_module(f"{__name__}.{module_name}")
    importer: Importer = getattr(module, class_name)(database, storage)
    return importer
