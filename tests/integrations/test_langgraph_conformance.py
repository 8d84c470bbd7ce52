"""LangGraph's published checkpointer contract, base and every extended capability, on
every backend; the report is printed (``-s`` shows it)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import ALL_CAPABILITIES
from langgraph.checkpoint.conformance.report import CapabilityReport

from session_storage import SessionStorage, SyncSessionStorage
from session_storage.integrations.langgraph import StorageSaver


def _check(report: CapabilityReport) -> None:
    report.print_report()
    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    assert failures == {}
    for capability in ALL_CAPABILITIES:
        result = report.results[capability.value]
        assert result.detected, f"{capability.value} not implemented"
        assert result.passed is True, f"{capability.value}: {result}"
    assert report.passed_all_base() and report.passed_all()
    assert report.conformance_level() == "FULL"


async def test_conformance_on_every_backend(
    make_any_storage: Callable[[], SessionStorage],
) -> None:
    storage = make_any_storage()

    @checkpointer_test(name=f"StorageSaver[{storage.backend}]")
    async def saver() -> AsyncIterator[StorageSaver]:
        # A fresh root per capability suite, as the suite asks.
        yield StorageSaver(storage.narrow(uuid.uuid4().hex))

    async with storage:
        _check(await validate(saver))


async def test_conformance_through_a_blocking_storage() -> None:
    """The async methods of a saver on a SyncSessionStorage hop to its loop thread."""
    with SyncSessionStorage(f"memory://lg-{uuid.uuid4().hex}") as sync:

        @checkpointer_test(name="StorageSaver[memory, SyncSessionStorage]")
        async def saver() -> AsyncIterator[StorageSaver]:
            yield StorageSaver(sync.narrow(uuid.uuid4().hex))

        _check(await validate(saver))
