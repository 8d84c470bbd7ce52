"""Shared fixtures; the helpers they use live in tests/support. The S3 server fixture
(``moto_s3_server``) is the package's own pytest plugin.

Every storage a factory fixture makes gets a bucket (or container) of its own, which
is deleted with its contents when the test ends, so the emulators hold only the data
of running tests.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from session_storage import SessionStorage
from session_storage.pytest_plugin import s3_storage_options

from .support.cloud import (
    FaultyStorageFactory,
    RequestLog,
    delete_azure_container,
    delete_bucket,
    delete_gcs_bucket,
    gcs_endpoint_for,
    gcs_options,
    new_azure_container,
    new_bucket,
    new_gcs_bucket,
)
from .support.emulators import azurite_blob, fake_gcs_server
from .support.faults import FaultProxy, fault_proxy
from .support.gcs_xml_shim import gcs_xml_shim


@pytest.fixture
def make_s3_storage(moto_s3_server: str) -> Iterator[Callable[..., SessionStorage]]:
    """Factory of storages, each on its own new bucket of the moto server; the buckets
    are deleted when the test ends."""
    buckets: list[str] = []

    def make(prefix: str = "", engine: str = "fsspec") -> SessionStorage:
        bucket = new_bucket(moto_s3_server)
        buckets.append(bucket)
        url = f"s3://{bucket}/{prefix}".rstrip("/")
        return SessionStorage(url, s3_storage_options(moto_s3_server), engine=engine)

    yield make
    for bucket in buckets:
        delete_bucket(moto_s3_server, bucket)


@pytest.fixture
def s3_requests(moto_s3_server: str) -> Iterator[RequestLog]:
    """Every request that reaches the moto server during the test, as (method, target)."""
    logger = logging.getLogger("werkzeug")
    handler = RequestLog()
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # count them, do not print them
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    """fake-gcs-server on 127.0.0.1 for the whole run; its endpoint URL."""
    with fake_gcs_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def gcs_xml_endpoint(gcs_endpoint: str) -> Iterator[str]:
    """fake-gcs-server behind the shim that takes XML-API uploads and listings (what
    the obstore engine sends); its endpoint URL. See tests/support/gcs_xml_shim.py."""
    with gcs_xml_shim(gcs_endpoint) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def azurite_connection_string() -> Iterator[str]:
    """Azurite's blob service on 127.0.0.1 for the whole run; its connection string."""
    with azurite_blob() as connection_string:
        yield connection_string


@pytest.fixture
def make_gcs_storage(
    gcs_endpoint: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., SessionStorage]]:
    """Factory of storages, each on its own new bucket of fake-gcs-server (through the
    XML shim for the obstore engine); the buckets are deleted when the test ends."""
    buckets: list[str] = []

    def make(prefix: str = "", engine: str = "fsspec") -> SessionStorage:
        bucket = new_gcs_bucket(gcs_endpoint)
        buckets.append(bucket)
        url = f"gs://{bucket}/{prefix}".rstrip("/")
        options = gcs_options(gcs_endpoint_for(request, engine))
        return SessionStorage(url, options, engine=engine)

    yield make
    for bucket in buckets:
        delete_gcs_bucket(gcs_endpoint, bucket)


@pytest.fixture
def make_azure_storage(azurite_connection_string: str) -> Iterator[Callable[..., SessionStorage]]:
    """Factory of storages, each on its own new container of Azurite; the containers
    are deleted when the test ends."""
    containers: list[str] = []

    def make(prefix: str = "", engine: str = "fsspec") -> SessionStorage:
        container = new_azure_container(azurite_connection_string)
        containers.append(container)
        url = f"az://{container}/{prefix}".rstrip("/")
        options = {"connection_string": azurite_connection_string}
        return SessionStorage(url, options, engine=engine)

    yield make
    for container in containers:
        delete_azure_container(azurite_connection_string, container)


@pytest.fixture(params=["memory", "file", "s3"])
def make(
    request: pytest.FixtureRequest, tmp_path: Path, make_s3_storage: Callable[..., SessionStorage]
) -> Callable[[], SessionStorage]:
    """Fresh, empty storages on memory, local disk and S3 (moto): one parameter each."""
    counter = itertools.count()
    if request.param == "memory":
        return lambda: SessionStorage(f"memory://test-{uuid.uuid4().hex}")
    if request.param == "file":
        return lambda: SessionStorage(tmp_path / f"root-{next(counter)}")
    return make_s3_storage


@pytest.fixture(params=["memory", "file", "s3", "gcs", "azure"])
def make_any_storage(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[], SessionStorage]:
    """Fresh, empty storages of each of the five backends, one parameter each; the
    emulators start only when their parameter runs."""
    counter = itertools.count()
    if request.param == "memory":
        return lambda: SessionStorage(f"memory://test-{uuid.uuid4().hex}")
    if request.param == "file":
        return lambda: SessionStorage(tmp_path / f"root-{next(counter)}")
    factory = {"s3": "make_s3_storage", "gcs": "make_gcs_storage", "azure": "make_azure_storage"}
    make: Callable[..., SessionStorage] = request.getfixturevalue(factory[request.param])
    return lambda: make()


@pytest.fixture
def make_faulty_storage(request: pytest.FixtureRequest) -> Iterator[FaultyStorageFactory]:
    """Factory of ``(storage, proxy)``: a storage on a fresh bucket of the ``backend``'s
    emulator ("s3", "gcs" or "azure"), whose every request passes a fault proxy.

    The emulator itself is reached directly to create the bucket (and to delete it when
    the test ends), so setup and teardown are never faulted. Every proxy stops when the
    test ends.
    """
    with contextlib.ExitStack() as stack:

        def make(
            backend: str, seed: int = 0, engine: str = "fsspec"
        ) -> tuple[SessionStorage, FaultProxy]:
            if backend == "s3":
                endpoint = request.getfixturevalue("moto_s3_server")
                proxy = stack.enter_context(fault_proxy(endpoint, seed))
                bucket = new_bucket(endpoint)
                stack.callback(delete_bucket, endpoint, bucket)
                options = s3_storage_options(proxy.endpoint)
                return SessionStorage(f"s3://{bucket}", options, engine=engine), proxy
            if backend == "gcs":
                # The obstore engine's requests pass the XML shim after the proxy.
                proxy = stack.enter_context(fault_proxy(gcs_endpoint_for(request, engine), seed))
                endpoint = request.getfixturevalue("gcs_endpoint")
                bucket = new_gcs_bucket(endpoint)
                stack.callback(delete_gcs_bucket, endpoint, bucket)
                url = f"gs://{bucket}"
                return SessionStorage(url, gcs_options(proxy.endpoint), engine=engine), proxy
            if backend == "azure":
                connection = request.getfixturevalue("azurite_connection_string")
                blob_endpoint = re.search(r"BlobEndpoint=(http://[^/;]+)", connection)
                assert blob_endpoint is not None
                proxy = stack.enter_context(fault_proxy(blob_endpoint[1], seed))
                container = new_azure_container(connection)
                stack.callback(delete_azure_container, connection, container)
                proxied = connection.replace(blob_endpoint[1], proxy.endpoint)
                options = {"connection_string": proxied}
                return SessionStorage(f"az://{container}", options, engine=engine), proxy
            raise ValueError(f"no emulator for backend {backend!r}")

        yield make
