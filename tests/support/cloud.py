"""Buckets and containers on the emulators, and what the tests need to reach them.

Every ``new_*`` call makes a fresh, uniquely named bucket (or container); the matching
``delete_*`` removes it with everything in it, best effort, so that an emulator holds
only the data of the tests that are running. Azurite in particular slows down and then
stalls for tens of seconds once it holds the blobs of thousands of finished tests.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import logging
import re
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from session_storage import SessionStorage

from .faults import FaultProxy

__all__ = [
    "FaultyStorageFactory",
    "RequestLog",
    "delete_azure_container",
    "delete_bucket",
    "delete_gcs_bucket",
    "gcs_endpoint_for",
    "gcs_options",
    "new_azure_container",
    "new_bucket",
    "new_gcs_bucket",
]

FaultyStorageFactory = Callable[..., tuple[SessionStorage, FaultProxy]]
"""``make(backend, seed=0, engine="fsspec") -> (storage, proxy)``: see the
``make_faulty_storage`` fixture."""

_REQUEST_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/[\d.]+')
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # werkzeug colours error responses


# -- S3 (moto) ---------------------------------------------------------------------


@functools.cache
def _s3_client(endpoint: str) -> Any:
    """One boto3 client per moto server (building one takes ~50 ms; they are
    thread-safe)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
        # A teardown that cannot delete gives up quickly rather than retrying.
        config=Config(connect_timeout=10, read_timeout=30, retries={"max_attempts": 2}),
    )


def new_bucket(endpoint: str) -> str:
    """Create a fresh bucket on the moto server and return its name."""
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    _s3_client(endpoint).create_bucket(Bucket=bucket)
    return bucket


def delete_bucket(endpoint: str, bucket: str) -> None:
    """Delete ``bucket`` and its objects from the moto server; best effort."""
    client = _s3_client(endpoint)
    with contextlib.suppress(Exception):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        client.delete_bucket(Bucket=bucket)


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


# -- GCS (fake-gcs-server) -----------------------------------------------------------


def gcs_options(endpoint: str) -> dict[str, str]:
    return {"endpoint_url": endpoint, "token": "anon", "project": "test"}


def gcs_endpoint_for(request: pytest.FixtureRequest, engine: str) -> str:
    """The fake-gcs-server endpoint a storage of ``engine`` talks to."""
    fixture = "gcs_xml_endpoint" if engine == "obstore" else "gcs_endpoint"
    endpoint: str = request.getfixturevalue(fixture)
    return endpoint


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


def delete_gcs_bucket(endpoint: str, bucket: str) -> None:
    """Delete ``bucket`` and its objects from fake-gcs-server; best effort.

    The server refuses to delete a bucket that holds objects (412, as GCS does), and
    has no bulk delete: one DELETE per object, on one kept-alive connection.
    """
    url = urllib.parse.urlsplit(endpoint)
    connection = http.client.HTTPConnection(url.netloc, timeout=10)
    base = f"{url.path.rstrip('/')}/storage/v1/b/{bucket}"

    def call(method: str, path: str) -> tuple[int, bytes]:
        connection.request(method, base + path)
        response = connection.getresponse()
        return response.status, response.read()

    with contextlib.suppress(Exception), contextlib.closing(connection):
        token = ""
        while True:
            query = urllib.parse.urlencode(
                {"fields": "items(name),nextPageToken", "pageToken": token} if token else {}
            )
            status, body = call("GET", f"/o?{query}")
            if status != 200:
                return
            page = json.loads(body)
            for item in page.get("items", []):
                call("DELETE", "/o/" + urllib.parse.quote(item["name"], safe=""))
            token = page.get("nextPageToken", "")
            if not token:
                break
        call("DELETE", "")


# -- Azure (Azurite) ------------------------------------------------------------------


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


def delete_azure_container(connection_string: str, container: str) -> None:
    """Delete ``container`` with its blobs from Azurite (one request); best effort.

    One attempt with short timeouts: the SDK's default retries on a busy Azurite held a
    teardown for minutes.
    """
    from azure.storage.blob import BlobServiceClient

    with (
        contextlib.suppress(Exception),
        BlobServiceClient.from_connection_string(
            connection_string, retry_total=0, connection_timeout=5, read_timeout=10
        ) as service,
    ):
        service.delete_container(container)
