"""The one bounded runner: await many calls, at most ``limit`` at a time, on anyio.

Batch calls, copies between storages, batched deletes and per-file metadata requests
all run through :func:`run_bounded`, so they share one way of bounding concurrency,
of stopping on failure and of cancelling, on asyncio and trio alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

import anyio

__all__ = ["run_bounded"]

T = TypeVar("T")


async def run_bounded(
    call: Callable[[T], Awaitable[Any]], items: Collection[T], limit: int
) -> None:
    """Await ``call(item)`` for every item, at most ``limit`` at once, in the order given.

    The first call to raise stops the others (they are cancelled) and its exception
    is raised as it is, not wrapped in an exception group; items not yet taken are
    never called. Callers that want every item attempted catch inside ``call``.
    Nothing is spawned when the calls run one after another (``limit`` 1, or one item).
    """
    pending = iter(items)
    workers = min(limit, len(items))
    if workers <= 1:
        for item in pending:
            await call(item)
        return
    failures: list[Exception] = []

    async def worker(scope: anyio.CancelScope) -> None:
        # The workers share one iterator: each takes the next item when it is free, so
        # a slow call never holds up a fixed share of the others.
        for item in pending:
            try:
                await call(item)
            except Exception as exc:  # noqa: BLE001 - re-raised below, unwrapped
                failures.append(exc)
                scope.cancel()
                return

    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(worker, tg.cancel_scope)
    if failures:
        raise failures[0]
