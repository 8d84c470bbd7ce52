"""LangGraph checkpoints on any storage: ``StorageSaver``, a ``BaseCheckpointSaver``.

One line switches a graph onto a bucket::

    graph = builder.compile(checkpointer=StorageSaver(SyncSessionStorage("s3://bucket/lg")))

What is stored where is described in :mod:`.layout`, and how a thread's values are
stored once, growing lists as what they gained, in :mod:`.deltas`. Costs on object
stores, for a thread of any length: ``put`` is two PUTs at once, the checkpoint and the
namespace's ``latest`` (three when the metadata carries a ``run_id``: the run's index
entry); ``put_writes`` one conditional PUT (a GET more after another process wrote
there); ``get_tuple`` of the latest checkpoint a GET of ``latest`` then a LIST of its
folder (and a GET of its writes when it has some); of a given checkpoint two GETs run
together, then one per older checkpoint holding a piece of its values (about log2 of
their versions at most), run together; ``list`` one LIST per 100 checkpoints read, two
GETs per checkpoint and the few older pieces they need.

Needs the ``langgraph`` extra: ``pip install 'session-storage[langgraph]'``; without it
importing this package raises MissingDependencyError.

Modules: :mod:`.saver` (the saver: blocking and async methods, and the loop each runs
on), :mod:`.checkpoints` (reading and writing checkpoints), :mod:`.deltas` (values as
locators and pieces), :mod:`.reading` (pieces back into values), :mod:`.writes`
(merging tasks' writes), :mod:`.heads` (what a saver remembers; keeping ``latest``
current), :mod:`.maintenance` (deleting, copying and pruning threads), :mod:`.layout`
(names and bytes).
"""

from __future__ import annotations

from .. import require

require("langgraph.checkpoint.base", "langgraph")

from .saver import StorageSaver  # noqa: E402

__all__ = ["StorageSaver"]
