"""Read-only views of a store, shared by the ``session-storage`` command and its web
browser (``session-storage serve``).

Each view is a frozen value built from the public API (and, for a framework's
layout, from that integration's public reader): a page of session ids, a session's
files and streams, a page of a stream, an OpenAI Agents conversation, a LangGraph
thread and checkpoint, an ADK app, user and session. Nothing here writes: no view
stores, locks or marks anything. Which layout a store holds is found by
:func:`~.layout.detect` from a few listings.

Modules: :mod:`.layout` (detection), :mod:`.store` (sessions, files, streams),
:mod:`.conversation` (OpenAI Agents items as turns), :mod:`.langgraph` (threads and
checkpoints), :mod:`.adk` (apps, users, sessions and events), :mod:`.values` (any
value as JSON).
"""

from __future__ import annotations

from .layout import KINDS, Kind, detect
from .store import NamesPage, names_page

__all__ = ["KINDS", "Kind", "NamesPage", "detect", "names_page"]
