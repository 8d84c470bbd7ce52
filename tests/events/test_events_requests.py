"""Requests per event-log call, asserted against the issue's budgets.

S3 is counted at the moto server (its access log), GCS and Azure on the wire by a
counting proxy. Run with ``-s`` to see the figures.

| call | budget |
|---|---|
| append_event, single writer, 200 appends (sealing included) | <= 1.05 each |
| append_events of 100 items | <= 2 (1 when the tail has room) |
| read_events of 2,000 events, cold | <= 25 |
| read_events(start=-50), cold | <= 4 |
| event_count, cold | <= 3 |
| list_streams of a session with 4 streams | 1 |
| append after another worker truncated / deleted the stream | <= 4 |
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

import pytest

from session_storage import SessionStorage

from ..backends.test_requests_cloud import _proxied_azure, _proxied_gcs
from ..support.cloud import RequestLog
from ..support.proxy import CountingProxy, counting_proxy


class Counter(Protocol):
    def take(self) -> list[tuple[str, str]]: ...


async def _measure(storage: SessionStorage, counter: Counter) -> dict[str, float]:
    figures: dict[str, float] = {}
    async with storage:
        await storage.store_session("warm", {})  # connections open, bucket checked
        counter.take()
        for i in range(200):
            await storage.append_event("chat", "single", i)
        figures["append_event x200, per append"] = len(counter.take()) / 200
        await storage.append_events("chat", "batch", list(range(20)))
        counter.take()
        await storage.append_events("chat", "batch", list(range(100)))
        figures["append_events 100, tail has room"] = len(counter.take())
        await storage.append_events("chat", "batch", list(range(100)))
        figures["append_events 100, seals"] = len(counter.take())
        await storage.append_events("chat", "turn", list(range(5)), idempotency_key="t1")
        counter.take()
        await storage.append_events("chat", "turn", list(range(5)), idempotency_key="t2")
        figures["append_events 5 with key"] = len(counter.take())

        for start in range(0, 2000, 100):
            await storage.append_events("chat", "long", list(range(start, start + 100)))
        counter.take()
        async with SessionStorage.from_settings(storage.settings) as cold:
            await cold.store_session("warm", {})
            counter.take()
            assert await cold.read_events("chat", "long") == list(range(2000))
            figures["read 2000, cold"] = len(counter.take())
        async with SessionStorage.from_settings(storage.settings) as cold:
            await cold.store_session("warm", {})
            counter.take()
            assert await cold.read_events("chat", "long", -50) == list(range(1950, 2000))
            figures["read start=-50, cold"] = len(counter.take())
            assert await cold.event_count("chat", "long") == 2000
            counter.take()
        async with SessionStorage.from_settings(storage.settings) as cold:
            await cold.store_session("warm", {})
            counter.take()
            assert await cold.event_count("chat", "long") == 2000
            figures["event_count, cold"] = len(counter.take())
            assert await cold.list_streams("chat") == ["batch", "long", "single", "turn"]
            figures["list_streams"] = len(counter.take())

            # The stale worker (storage) knows its tails; another one rewinds them.
            await storage.append_events("chat", "rewound", [1, 2, 3])
            await cold.truncate_events("chat", "rewound", 1)
            counter.take()
            assert await storage.append_event("chat", "rewound", "x") == 1
            figures["append after a truncate elsewhere"] = len(counter.take())
            await cold.delete_session("chat")
            counter.take()
            assert await storage.append_event("chat", "single", "y") == 0
            figures["append after a delete elsewhere"] = len(counter.take())
    print(f"\n{storage.backend} event-log requests: {figures}")
    return figures


def _assert_budgets(figures: dict[str, float]) -> None:
    assert figures["append_event x200, per append"] <= 1.05
    assert figures["append_events 100, tail has room"] == 1
    assert figures["append_events 100, seals"] <= 2
    assert figures["append_events 5 with key"] == 1
    assert figures["read 2000, cold"] <= 25
    assert figures["read start=-50, cold"] <= 4
    assert figures["event_count, cold"] <= 3
    assert figures["list_streams"] == 1
    assert figures["append after a truncate elsewhere"] <= 4
    assert figures["append after a delete elsewhere"] <= 4


async def test_s3_event_budgets(
    make_s3_storage: Callable[..., SessionStorage], s3_requests: RequestLog
) -> None:
    _assert_budgets(await _measure(make_s3_storage(), s3_requests))


@pytest.fixture
def gcs_proxy(gcs_endpoint: str) -> Iterator[CountingProxy]:
    with counting_proxy(gcs_endpoint) as proxy:
        yield proxy


@pytest.fixture
def azure_proxy(azurite_connection_string: str) -> Iterator[CountingProxy]:
    import re

    endpoint = re.search(r"BlobEndpoint=(http://[^/;]+)", azurite_connection_string)
    assert endpoint is not None
    with counting_proxy(endpoint[1]) as proxy:
        yield proxy


async def test_gcs_event_budgets(
    make_gcs_storage: Callable[..., SessionStorage], gcs_proxy: CountingProxy
) -> None:
    _assert_budgets(await _measure(_proxied_gcs(make_gcs_storage, gcs_proxy), gcs_proxy))


async def test_azure_event_budgets(
    azurite_connection_string: str, azure_proxy: CountingProxy
) -> None:
    storage = _proxied_azure(azurite_connection_string, azure_proxy)
    _assert_budgets(await _measure(storage, azure_proxy))
