"""Shared fixtures. The S3 server fixture is the package's own pytest plugin."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import re
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from session_storage import SessionStorage
from session_storage.pytest_plugin import s3_storage_options

from .emulators import azurite_blob, fake_gcs_server
from .faults import FaultProxy, fault_proxy
from .gcs_xml_shim import gcs_xml_shim

_REQUEST_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/[\d.]+')
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # werkzeug colours error responses


def new_bucket(endpoint: str) -> str:
    """Create a fresh bucket on the moto server and return its name."""
    import boto3

    bucket = f"test-{uuid.uuid4().hex[:16]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def make_s3_storage(moto_s3_server: str) -> Callable[..., SessionStorage]:
    """Factory of storages, each on its own new bucket of the moto server."""

    def make(prefix: str = "", engine: str = "fsspec") -> SessionStorage:
        bucket = new_bucket(moto_s3_server)
        url = f"s3://{bucket}/{prefix}".rstrip("/")
        return SessionStorage(url, s3_storage_options(moto_s3_server), engine=engine)

    return make


class RequestLog(logging.Handler):
    """Counts the requests moto's server answers, read from werkzeug's access log."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.requests: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = _REQUEST_LINE.search(_ANSI.sub("", record.getMessage()))
        if match:
            self.requests.append((match["method"], match["target"]))

    def take(self) -> list[tuple[str, str]]:
        taken, self.requests = self.requests, []
        return taken


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
    the obstore engine sends); its endpoint URL. See tests/gcs_xml_shim.py."""
    with gcs_xml_shim(gcs_endpoint) as endpoint:
        yield endpoint


def gcs_endpoint_for(request: pytest.FixtureRequest, engine: str) -> str:
    """The fake-gcs-server endpoint a storage of ``engine`` talks to."""
    fixture = "gcs_xml_endpoint" if engine == "obstore" else "gcs_endpoint"
    endpoint: str = request.getfixturevalue(fixture)
    return endpoint


@pytest.fixture(scope="session")
def azurite_connection_string() -> Iterator[str]:
    """Azurite's blob service on 127.0.0.1 for the whole run; its connection string."""
    with azurite_blob() as connection_string:
        yield connection_string


def gcs_options(endpoint: str) -> dict[str, str]:
    return {"endpoint_url": endpoint, "token": "anon", "project": "test"}


def new_gcs_bucket(endpoint: str) -> str:
    """Create a fresh bucket on fake-gcs-server and return its name."""
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    request = urllib.request.Request(
        f"{endpoint}/storage/v1/b?project=test",
        data=json.dumps({"name": bucket}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    return bucket


@pytest.fixture
def make_gcs_storage(
    gcs_endpoint: str, request: pytest.FixtureRequest
) -> Callable[..., SessionStorage]:
    """Factory of storages, each on its own new bucket of fake-gcs-server (through the
    XML shim for the obstore engine)."""

    def make(prefix: str = "", engine: str = "fsspec") -> SessionStorage:
        bucket = new_gcs_bucket(gcs_endpoint)
        url = f"gs://{bucket}/{prefix}".rstrip("/")
        options = gcs_options(gcs_endpoint_for(request, engine))
        return SessionStorage(url, options, engine=engine)

    return make


@pytest.fixture
def make_azure_storage(azurite_connection_string: str) -> Callable[..., SessionStorage]:
    """Factory of storages, each on its own new container of Azurite."""

    def make(prefix: str = "", engine: str = "fsspec") -> SessionStorage:
        container = new_azure_container(azurite_connection_string)
        url = f"az://{container}/{prefix}".rstrip("/")
        options = {"connection_string": azurite_connection_string}
        return SessionStorage(url, options, engine=engine)

    return make


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


FaultyStorageFactory = Callable[..., tuple[SessionStorage, FaultProxy]]


@pytest.fixture
def make_faulty_storage(request: pytest.FixtureRequest) -> Iterator[FaultyStorageFactory]:
    """Factory of ``(storage, proxy)``: a storage on a fresh bucket of the ``backend``'s
    emulator ("s3", "gcs" or "azure"), whose every request passes a fault proxy.

    The emulator itself is reached directly to create the bucket, so setup is never
    faulted. Every proxy stops when the test ends.
    """
    with contextlib.ExitStack() as stack:

        def make(
            backend: str, seed: int = 0, engine: str = "fsspec"
        ) -> tuple[SessionStorage, FaultProxy]:
            if backend == "s3":
                endpoint = request.getfixturevalue("moto_s3_server")
                proxy = stack.enter_context(fault_proxy(endpoint, seed))
                url = f"s3://{new_bucket(endpoint)}"
                options = s3_storage_options(proxy.endpoint)
                return SessionStorage(url, options, engine=engine), proxy
            if backend == "gcs":
                # The obstore engine's requests pass the XML shim after the proxy.
                proxy = stack.enter_context(fault_proxy(gcs_endpoint_for(request, engine), seed))
                url = f"gs://{new_gcs_bucket(request.getfixturevalue('gcs_endpoint'))}"
                return SessionStorage(url, gcs_options(proxy.endpoint), engine=engine), proxy
            if backend == "azure":
                connection = request.getfixturevalue("azurite_connection_string")
                blob_endpoint = re.search(r"BlobEndpoint=(http://[^/;]+)", connection)
                assert blob_endpoint is not None
                proxy = stack.enter_context(fault_proxy(blob_endpoint[1], seed))
                container = new_azure_container(connection)
                proxied = connection.replace(blob_endpoint[1], proxy.endpoint)
                options = {"connection_string": proxied}
                return SessionStorage(f"az://{container}", options, engine=engine), proxy
            raise ValueError(f"no emulator for backend {backend!r}")

        yield make


def new_azure_container(connection_string: str) -> str:
    """Create a fresh container on Azurite and return its name."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    container = f"test-{uuid.uuid4().hex[:16]}"
    with BlobServiceClient.from_connection_string(connection_string) as service:
        try:
            service.create_container(container)
        except ResourceExistsError:
            # The name is fresh: only the client's own retry of a create whose reply came
            # late (a loaded Azurite) finds it existing.
            pass
    return container
