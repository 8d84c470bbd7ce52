"""The one bounded runner: await many calls, at most ``limit`` at a time, on anyio.

Batch calls, copies between storages, batched deletes, per-file metadata requests and
the framework integrations' concurrent reads all run through :func:`run_bounded` (or
:func:`map_bounded`, for the results), so they share one way of bounding concurrency,
of stopping on failure and of cancelling, on asyncio and trio alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, TypeVar, cast

import anyio

__all__ = ["map_bounded", "run_bounded"]

T = TypeVar("T")
R = TypeVar("R")


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


async def map_bounded(call: Callable[[T], Awaitable[R]], items: Sequence[T], limit: int) -> list[R]:
    """The results of ``call(item)`` for every item, in the order of ``items``, the
    calls run as :func:`run_bounded` runs them (the first failure cancels the rest
    and is raised as it is)."""
    results: list[R | None] = [None] * len(items)

    async def one(position: int) -> None:
        results[position] = await call(items[position])

    await run_bounded(one, range(len(items)), limit)
    return cast("list[R]", results)  # every position was filled, or run_bounded raised
