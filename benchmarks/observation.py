"""(obs) What observation costs a memory store+load of 1 KiB.

Logging and spans are decided when a storage is created (``core.observation``): a
storage created with nobody listening runs the very code it ran before observation
existed. The first row compares a storage created after ``opentelemetry.trace`` was
imported with no tracer provider (the ``[otel]`` extra installed, nothing set up)
against one created before it was ever imported (target: within 3%). The other rows
say, for information, what a listener costs: DEBUG logging into a handler that drops
the lines, and spans recorded by an SDK tracer provider with no exporter.
"""

from __future__ import annotations

import importlib
import logging
import uuid

from session_storage import SessionStorage

from .backends import Backend
from .measure import Row, compare, us
from .overhead import state_of_one_kib

TARGET = 1.03


async def run(backend: Backend, runs: int, pairs: int) -> list[Row]:
    if backend.name != "memory":
        return []
    plain = SessionStorage(f"memory://obs-{uuid.uuid4().hex}")
    try:
        importlib.import_module("opentelemetry.trace")
    except ImportError:
        return [Row("observation", "memory", "–", note="opentelemetry-api not installed")]
    unobserved = SessionStorage(f"memory://obs-{uuid.uuid4().hex}")
    rows = [await _row("store+load, otel installed, no provider", unobserved, plain, runs, pairs)]
    rows[0] = _with_target(rows[0])

    logger = logging.getLogger("session_storage")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        logged = SessionStorage(f"memory://obs-{uuid.uuid4().hex}")
        rows.append(await _row("store+load, DEBUG lines (dropped)", logged, plain, runs, pairs))
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)

    try:
        sdk = importlib.import_module("opentelemetry.sdk.trace")
    except ImportError:
        return rows
    trace = importlib.import_module("opentelemetry.trace")
    trace.set_tracer_provider(sdk.TracerProvider())  # last: it cannot be unset
    traced = SessionStorage(f"memory://obs-{uuid.uuid4().hex}")
    rows.append(await _row("store+load, spans (SDK provider)", traced, plain, runs, pairs))
    return rows


async def _row(
    bench: str, storage: SessionStorage, plain: SessionStorage, runs: int, pairs: int
) -> Row:
    state = state_of_one_kib()

    def job(target: SessionStorage):  # type: ignore[no-untyped-def]
        async def pairs_of() -> None:
            for i in range(pairs):
                await target.store_session(f"s{i % 50}", state)
                await target.load_session(f"s{i % 50}")

        return pairs_of

    result = await compare(job(storage), job(plain), runs)
    return Row(
        bench=bench,
        backend="memory",
        ours=us(result.ours / pairs),
        baseline=f"no observation {us(result.theirs / pairs)}",
        ratio=result.ratio,
    )


def _with_target(row: Row) -> Row:
    met = row.ratio is not None and row.ratio <= TARGET
    return Row(**{**row.__dict__, "target": f"<= {TARGET:.2f}", "met": met})
