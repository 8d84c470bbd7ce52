"""LangGraph checkpoints on any storage: ``StorageSaver``, a ``BaseCheckpointSaver``.

One line switches a graph onto a bucket::

    graph = builder.compile(checkpointer=StorageSaver(SyncSessionStorage("s3://bucket/lg")))

What is stored where is described in :mod:`.layout`. Costs on object stores,
for a thread of any length: ``put`` is one PUT (two when the metadata carries a
``run_id``: the run's index entry); ``put_writes`` one GET and one conditional PUT;
``get_tuple`` of the latest checkpoint one LIST of a single name and two GETs run
together (checkpoint and writes), of a given checkpoint the two GETs; ``list`` one
LIST per 100 checkpoints read and two GETs per checkpoint.

Needs the ``langgraph`` extra: ``pip install 'session-storage[langgraph]'``; without it
importing this package raises MissingDependencyError.

Modules: :mod:`.saver` (the saver: blocking and async methods, and the loop each runs
on), :mod:`.checkpoints` (reading and writing checkpoints), :mod:`.maintenance`
(deleting, copying and pruning threads), :mod:`.layout` (names and bytes).
"""

from __future__ import annotations

from .. import require

require("langgraph.checkpoint.base", "langgraph")

from .saver import StorageSaver  # noqa: E402

__all__ = ["StorageSaver"]
