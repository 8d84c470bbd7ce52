"""Requests per operation on S3, GCS and Azure, counted on the wire by a proxy.

The figures are printed (run with ``-s`` to see them) and asserted: a load and a store
are one request each, exists one, a listing one per page (metadata included), a
whole-session delete one listing plus batched deletes. Each cloud is measured on both
engines, and the obstore engine may send no more requests for any call than the
fsspec engine does.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import pytest

from session_storage import SessionStorage
from session_storage.pytest_plugin import s3_storage_options

from ..support.cloud import gcs_endpoint_for, gcs_options, new_azure_container, new_bucket
from ..support.proxy import CountingProxy, counting_proxy

Counts = dict[str, int]


class Requests(Protocol):
    def take(self) -> list[tuple[str, str]]:
        """The requests seen since the last call."""
        ...


async def _s3_counts(request: pytest.FixtureRequest, engine: str) -> Counts:
    # moto's own access log counts S3 requests (the proxy cannot relay the
    # ``Expect: 100-continue`` uploads of botocore).
    endpoint: str = request.getfixturevalue("moto_s3_server")
    log: Requests = request.getfixturevalue("s3_requests")
    url = f"s3://{new_bucket(endpoint)}"
    return await _measure(SessionStorage(url, s3_storage_options(endpoint), engine=engine), log)


def _proxied_gcs(
    make_gcs_storage: Callable[..., SessionStorage], proxy: CountingProxy, engine: str = "fsspec"
) -> SessionStorage:
    """A storage on a fresh bucket of fake-gcs-server whose requests pass ``proxy``."""
    storage = make_gcs_storage(engine=engine)
    options = gcs_options(f"http://127.0.0.1:{proxy.port}")
    return SessionStorage(storage.url, options, engine=engine)


def _proxied_azure(
    azurite_connection_string: str, proxy: CountingProxy, engine: str = "fsspec"
) -> SessionStorage:
    """A storage on a fresh container of Azurite whose requests pass ``proxy``."""
    container = new_azure_container(azurite_connection_string)
    proxied = re.sub(
        r"BlobEndpoint=http://[^/;]+",
        f"BlobEndpoint=http://127.0.0.1:{proxy.port}",
        azurite_connection_string,
    )
    return SessionStorage(f"az://{container}", {"connection_string": proxied}, engine=engine)


async def _gcs_counts(request: pytest.FixtureRequest, engine: str) -> Counts:
    # The obstore engine reaches fake-gcs-server through the XML shim: the proxy sits
    # in front of it, so what is counted is what the client sends.
    with counting_proxy(gcs_endpoint_for(request, engine)) as proxy:
        make = request.getfixturevalue("make_gcs_storage")
        return await _measure(_proxied_gcs(make, proxy, engine), proxy)


async def _azure_counts(request: pytest.FixtureRequest, engine: str) -> Counts:
    connection: str = request.getfixturevalue("azurite_connection_string")
    endpoint = re.search(r"BlobEndpoint=(http://[^/;]+)", connection)
    assert endpoint is not None
    with counting_proxy(endpoint[1]) as proxy:
        return await _measure(_proxied_azure(connection, proxy, engine), proxy)


async def _drain(items: AsyncIterator[object]) -> list[object]:
    return [item async for item in items]


async def _measure(storage: SessionStorage, proxy: Requests) -> Counts:
    counts: Counts = {}
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
    print(f"\n{storage.backend} ({storage.engine}) requests: {counts}")
    return counts


def _assert_no_more_than(obstore: Counts, fsspec: Counts) -> None:
    assert obstore.keys() == fsspec.keys()
    more = {name: (fsspec[name], n) for name, n in obstore.items() if n > fsspec[name]}
    assert not more, f"the obstore engine sends more requests (fsspec, obstore): {more}"


async def test_s3_request_counts(request: pytest.FixtureRequest) -> None:
    # The fsspec figures on S3 are asserted in test_s3.py; here, the comparison.
    _assert_no_more_than(await _s3_counts(request, "obstore"), await _s3_counts(request, "fsspec"))


async def test_gcs_request_counts(request: pytest.FixtureRequest) -> None:
    counts = await _gcs_counts(request, "fsspec")
    assert counts["store"] == counts["load"] == counts["load missing"] == 1
    assert counts["exists"] == counts["metadata"] == counts["list 2 sessions"] == 1
    assert counts["list files"] == counts["delete one file"] == 1
    assert counts["metadata of 2 files"] == 1  # the listing carries it: no request per file
    # One listing, then the six deletes (sent concurrently, one request each).
    assert counts["delete session of 6 files"] == 1 + 6
    _assert_event_and_update_counts(counts)
    _assert_no_more_than(await _gcs_counts(request, "obstore"), counts)


async def test_azure_request_counts(request: pytest.FixtureRequest) -> None:
    counts = await _azure_counts(request, "fsspec")
    assert counts["store"] == counts["load"] == counts["load missing"] == 1
    assert counts["exists"] == counts["metadata"] == counts["list 2 sessions"] == 1
    assert counts["list files"] == counts["delete one file"] == 1
    assert counts["metadata of 2 files"] == 1  # the listing carries it: no request per file
    # One listing, then one Blob Batch request for up to 256 deletes.
    assert counts["delete session of 6 files"] == 2
    _assert_event_and_update_counts(counts)
    _assert_no_more_than(await _azure_counts(request, "obstore"), counts)


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
