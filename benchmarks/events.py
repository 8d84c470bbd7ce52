"""(5) Event logs: appends, batch appends, full and tail reads by a cold storage.

Requests are counted as driver calls of the storage under test (each one request:
the streams here are far below a listing page), so every backend gets the figure,
not only the ones whose server counts. Targets are the issue's budgets.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from session_storage import SessionStorage

from .backends import Backend
from .measure import Row, log

_COUNTED = ("get", "put", "info", "list_files", "delete_files", "delete_file")


class _Counter:
    """Counts the driver calls of one storage."""

    def __init__(self, storage: SessionStorage) -> None:
        self.calls = 0
        self._in_batch = 0
        driver = storage._scope.driver
        for name in _COUNTED:
            setattr(driver, name, self._wrap(getattr(driver, name)))
        driver.get_many = self._wrap_batch(driver.get_many)  # type: ignore[method-assign]

    def _wrap(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += not self._in_batch
            return await method(*args, **kwargs)

        return counted

    def _wrap_batch(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        # A batch read counts one request per file, whether the driver sends one GET
        # each (the default, whose gets are not counted twice) or reads them all in one
        # thread hop (local disk).
        async def counted(paths: list[str], *args: Any) -> Any:
            self.calls += len(paths)
            self._in_batch += 1
            try:
                return await method(paths, *args)
            finally:
                self._in_batch -= 1

        return counted

    def take(self) -> int:
        taken, self.calls = self.calls, 0
        return taken


async def run(backend: Backend, appends: int, long: tuple[int, ...]) -> list[Row]:
    rows: list[Row] = []
    storage = backend.storage()
    async with storage:
        counter = _Counter(storage)
        await storage.store_session("warm", {})
        counter.take()
        started = time.perf_counter()
        for i in range(appends):
            await storage.append_event("bench", "single", {"role": "user", "text": f"m{i}"})
        took = time.perf_counter() - started
        rows.append(
            _row(
                f"append_event x{appends}, per append",
                backend,
                took / appends,
                counter.take() / appends,
                "≤ 1.05 requests",
            )
        )
        batch = [{"role": "tool", "text": "x" * 200, "n": i} for i in range(20)]
        started = time.perf_counter()
        for _ in range(20):
            await storage.append_events("bench", "batches", batch)
        took = time.perf_counter() - started
        rows.append(
            _row(
                "append_events of 20, per call",
                backend,
                took / 20,
                counter.take() / 20,
                "≤ 2 requests",
            )
        )
        # Untimed: the first concurrent fetch of a process imports anyio's asyncio
        # backend (~55 ms), a one-time cost that is not the cost of a read.
        storage._scope.shared.event_logs.forget(storage._scope.root)
        await storage.read_events("bench", "batches")
        counter.take()
        for size in long:
            stream = f"long-{size}"
            for start in range(0, size, 100):
                await storage.append_events(
                    "bench", stream, [{"n": n} for n in range(start, start + 100)]
                )
            log(f"  events on {backend.name}: {size} events written")
            for what, start_at, budget in (
                (f"read_events of {size}, cold", 0, "≤ 25 requests" if size <= 2000 else ""),
                (f"read_events(start=-50) of {size}, cold", -50, "≤ 4 requests"),
            ):
                if backend.name == "memory":
                    # A memory store is private to its storage: cold = caches dropped.
                    storage._scope.shared.event_logs.forget(storage._scope.root)
                    counter.take()
                    started = time.perf_counter()
                    got = await storage.read_events("bench", stream, start_at)
                    took, calls = time.perf_counter() - started, counter.take()
                else:
                    async with SessionStorage.from_settings(storage.settings) as cold:
                        cold_counter = _Counter(cold)
                        await cold.store_session("warm", {})
                        cold_counter.take()
                        started = time.perf_counter()
                        got = await cold.read_events("bench", stream, start_at)
                        took, calls = time.perf_counter() - started, cold_counter.take()
                assert len(got) == (size if start_at == 0 else 50)
                rows.append(_row(what, backend, took, calls, budget))
        await storage.delete_session("bench")
    return rows


def _row(bench: str, backend: Backend, seconds: float, requests: float, target: str) -> Row:
    limit = float(target.split()[1]) if target else None
    return Row(
        bench=f"events: {bench}",
        backend=backend.name,
        ours=f"{seconds * 1000:,.1f} ms, {requests:.3g} requests",
        target=target,
        met=None if limit is None else requests <= limit,
    )
