"""Requests per operation on GCS and Azure, counted on the wire by a proxy.

The figures are printed (run with ``-s`` to see them) and asserted: a load and a store
are one request each, exists one, a listing one per page (metadata included), a
whole-session delete one listing plus batched deletes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from session_storage import SessionStorage

from .conftest import gcs_options
from .proxy import CountingProxy, counting_proxy


@pytest.fixture
def gcs_proxy(gcs_endpoint: str) -> Iterator[CountingProxy]:
    with counting_proxy(gcs_endpoint) as proxy:
        yield proxy


@pytest.fixture
def azure_proxy(azurite_connection_string: str) -> Iterator[CountingProxy]:
    endpoint = re.search(r"BlobEndpoint=(http://[^/;]+)", azurite_connection_string)
    assert endpoint is not None
    with counting_proxy(endpoint[1]) as proxy:
        yield proxy


def _proxied_gcs(
    make_gcs_storage: Callable[..., SessionStorage], proxy: CountingProxy
) -> SessionStorage:
    storage = make_gcs_storage()
    options = gcs_options(f"http://127.0.0.1:{proxy.port}")
    return SessionStorage(storage.url, options)


def _proxied_azure(azurite_connection_string: str, proxy: CountingProxy) -> SessionStorage:
    from azure.storage.blob import BlobServiceClient

    container = f"test-{uuid.uuid4().hex[:16]}"
    with BlobServiceClient.from_connection_string(azurite_connection_string) as service:
        service.create_container(container)
    proxied = re.sub(
        r"BlobEndpoint=http://[^/;]+",
        f"BlobEndpoint=http://127.0.0.1:{proxy.port}",
        azurite_connection_string,
    )
    return SessionStorage(f"az://{container}", {"connection_string": proxied})


async def _drain(items: AsyncIterator[object]) -> list[object]:
    return [item async for item in items]


async def _measure(storage: SessionStorage, proxy: CountingProxy) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with storage:
        await storage.store_session("warm", {})
        proxy.take()

        async def count(name: str, call: object) -> None:
            await call  # type: ignore[misc]
            counts[name] = len(proxy.take())

        await count("store", storage.store_session("abc", {"v": 1}))
        await count("store bytes", storage.store_bytes("abc", "x.bin", b"x"))
        await count("load", storage.load_session("abc"))
        await count("load missing", storage.load_session("missing"))
        await count("exists", storage.session_exists("abc"))
        await count("metadata", storage.get_session_metadata("abc"))
        await count("list 2 sessions", storage.list_sessions())
        await count("list files", storage.list_files("abc"))
        await count("metadata of 2 files", _drain(storage.iter_file_metadata("abc")))
        await count("delete one file", storage.delete_session("abc", "x.bin"))
        for i in range(5):
            await storage.store_bytes("abc", f"f{i}", b"x")
        proxy.take()
        await count("delete session of 6 files", storage.delete_session("abc"))
        await count("first append (finds the end)", storage.append_event("chat", "log", 0))
        await count("append", storage.append_event("chat", "log", 1))
        await count("append with new key", storage.append_event("chat", "log", 2, "k2"))
        await count("append with used key", storage.append_event("chat", "log", 9, "k2"))
        await count("update_session", storage.update_session("chat", lambda s: {"n": 1}))
        await count("update_session again", storage.update_session("chat", lambda s: {"n": 2}))
    print(f"\n{storage.backend} requests: {counts}")
    return counts


async def test_gcs_request_counts(
    make_gcs_storage: Callable[..., SessionStorage], gcs_proxy: CountingProxy
) -> None:
    counts = await _measure(_proxied_gcs(make_gcs_storage, gcs_proxy), gcs_proxy)
    assert counts["store"] == counts["load"] == counts["load missing"] == 1
    assert counts["exists"] == counts["metadata"] == counts["list 2 sessions"] == 1
    assert counts["list files"] == counts["delete one file"] == 1
    assert counts["metadata of 2 files"] == 1  # the listing carries it: no request per file
    # One listing, then the six deletes (sent concurrently, one request each).
    assert counts["delete session of 6 files"] == 1 + 6
    _assert_event_and_update_counts(counts)


async def test_azure_request_counts(
    azurite_connection_string: str, azure_proxy: CountingProxy
) -> None:
    counts = await _measure(_proxied_azure(azurite_connection_string, azure_proxy), azure_proxy)
    assert counts["store"] == counts["load"] == counts["load missing"] == 1
    assert counts["exists"] == counts["metadata"] == counts["list 2 sessions"] == 1
    assert counts["list files"] == counts["delete one file"] == 1
    assert counts["metadata of 2 files"] == 1  # the listing carries it: no request per file
    # One listing, then one Blob Batch request for up to 256 deletes.
    assert counts["delete session of 6 files"] == 2
    _assert_event_and_update_counts(counts)


def _assert_event_and_update_counts(counts: dict[str, int]) -> None:
    # A single writer that knows the stream's tail appends with one conditional PUT of
    # it, a new idempotency key included (the tail remembers keys); a used key is
    # answered from one GET of the fresh tail and writes nothing.
    assert counts["first append (finds the end)"] == 2
    assert counts["append"] == 1
    assert counts["append with new key"] == 1
    assert counts["append with used key"] == 1
    # Load with version + conditional store; a missing file is created with if_absent.
    assert counts["update_session"] == counts["update_session again"] == 2
