"""The one bounded runner: await many calls, at most ``limit`` at a time, on anyio.

Batch calls, copies between storages, batched deletes and per-file metadata requests
all run through :func:`run_bounded`, so they share one way of bounding concurrency,
of stopping on failure and of cancelling, on asyncio and trio alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any

import anyio

__all__ = ["run_bounded"]


async def run_bounded(calls: Collection[Callable[[], Awaitable[Any]]], limit: int) -> None:
    """Await every call, at most ``limit`` at once, in the order given.

    The first call to raise stops the others (they are cancelled) and its exception
    is raised as it is, not wrapped in an exception group; calls that never started
    are not started. Callers that want every call attempted catch inside the call.
    Nothing is spawned when the calls run one after another (``limit`` 1, or one call).
    """
    pending = iter(calls)
    workers = min(limit, len(calls))
    if workers <= 1:
        for call in pending:
            await call()
        return
    failures: list[Exception] = []

    async def worker(scope: anyio.CancelScope) -> None:
        # The workers share one iterator: each takes the next call when it is free, so
        # a slow call never holds up a fixed share of the others.
        for call in pending:
            try:
                await call()
            except Exception as exc:  # noqa: BLE001 - re-raised below, unwrapped
                failures.append(exc)
                scope.cancel()
                return

    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(worker, tg.cancel_scope)
    if failures:
        raise failures[0]
