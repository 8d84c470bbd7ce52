"""pytest fixtures for testing code that uses session-storage, with no cloud account.

Registered through the ``pytest11`` entry point, so installing the package makes these
fixtures available; the S3 ones need the ``testing`` extra
(``pip install "session-storage[testing]"``: moto, Flask, the s3 extra, pytest-asyncio),
and without it fail with one line that says so:

- ``moto_s3_server`` (session scope): a moto S3 server on 127.0.0.1, port 0; yields
  its endpoint URL.
- ``s3_session_settings``: StorageSettings for a fresh, empty bucket of that server,
  for ``SessionStorage.from_settings`` or ``SyncSessionStorage.from_settings``.
- ``s3_session_storage``: a :class:`SessionStorage` on a fresh bucket of that server.
- ``memory_session_storage``: a :class:`SessionStorage` in memory, private to the test.
- ``file_session_storage``: a :class:`SessionStorage` in the test's ``tmp_path``.

The storages are closed (background saves flushed) after the test. The async
fixtures run on pytest-asyncio. moto, boto3 and s3fs are imported only when an S3
fixture is used, so the plugin costs nothing in other test runs.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .settings import StorageSettings
from .storage import SessionStorage

F = TypeVar("F", bound=Callable[..., Any])


def _async_fixture(fn: F) -> F:
    """pytest-asyncio's fixture decorator; the plugin must load even without it."""
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - exercised only without pytest-asyncio
        return pytest.fixture(fn)  # type: ignore[return-value]
    return pytest_asyncio.fixture(fn)  # type: ignore[return-value]


__all__ = [
    "file_session_storage",
    "memory_session_storage",
    "moto_s3_server",
    "s3_session_settings",
    "s3_session_storage",
    "s3_storage_options",
]

# moto accepts any credentials; fixed ones keep botocore from searching the machine.
_CREDENTIALS = {"key": "testing", "secret": "testing"}


def s3_storage_options(endpoint: str) -> dict[str, Any]:
    """fsspec storage options that point s3fs at a local S3 server such as moto."""
    return {"endpoint_url": endpoint, **_CREDENTIALS}


class _OneWriteAtATime:
    """WSGI middleware that lets one writing request (PUT, POST, DELETE) run at a time.

    moto checks If-None-Match / If-Match and then stores the object in two steps, so
    two racing conditional PUTs on its threaded server could both pass the check.
    S3 decides them atomically; serializing writes makes the emulator do the same.
    Reads still run in parallel.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in ("PUT", "POST", "DELETE"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


# What the S3 fixtures import, and the package each comes from.
_S3_FIXTURE_NEEDS = {
    "moto": "moto",
    "flask": "flask",
    "flask_cors": "flask-cors",
    "boto3": "boto3",
    "s3fs": "s3fs",
}
TESTING_EXTRA = 'pip install "session-storage[testing]"'


def _require_testing_extra() -> None:
    """Fail the test with one line naming the extra if an S3 fixture cannot work here."""
    missing = []
    for module, package in _S3_FIXTURE_NEEDS.items():
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        pytest.fail(
            f"session-storage's S3 fixtures need {', '.join(missing)}, not installed: "
            f"{TESTING_EXTRA}",
            pytrace=False,
        )


def _moto_server() -> Any:
    """A ThreadedMotoServer whose conditional writes are atomic, as on S3."""
    from moto.server import ThreadedMotoServer

    try:
        from moto.moto_server import werkzeug_app
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server
    except ImportError:  # pragma: no cover - a moto that moved its internals
        return ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    # Older moto (5.1.5 among them) serves with werkzeug's own handler (None here).
    handler = getattr(werkzeug_app, "MotoRequestHandler", None)

    class AtomicMotoServer(ThreadedMotoServer):
        # ThreadedMotoServer._server_entry, with the app wrapped.
        def _server_entry(self) -> None:
            app = _OneWriteAtATime(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=handler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return AtomicMotoServer(ip_address="127.0.0.1", port=0, verbose=False)


@pytest.fixture(scope="session")
def moto_s3_server() -> Iterator[str]:
    """Start moto's S3 server on 127.0.0.1 (a free port) for the session; yield its URL.

    Writes are serialized so that conditional writes are atomic, as on S3. Without
    the ``testing`` extra, fails the test with one line saying how to install it.
    """
    _require_testing_extra()
    # werkzeug would log every request to stderr.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = _moto_server()
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _create_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=_CREDENTIALS["key"],
        aws_secret_access_key=_CREDENTIALS["secret"],
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=bucket)


@pytest.fixture
def s3_session_settings(moto_s3_server: str) -> StorageSettings:
    """Settings for a new, empty bucket of the moto server (one bucket per test)."""
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    _create_bucket(moto_s3_server, bucket)
    return StorageSettings(f"s3://{bucket}", s3_storage_options(moto_s3_server))


@_async_fixture
async def s3_session_storage(
    s3_session_settings: StorageSettings,
) -> AsyncIterator[SessionStorage]:
    """A SessionStorage on a new, empty bucket of the moto server; closed after the test."""
    async with SessionStorage.from_settings(s3_session_settings) as storage:
        yield storage


@_async_fixture
async def memory_session_storage() -> AsyncIterator[SessionStorage]:
    """A SessionStorage in memory that no other test or storage can see."""
    async with SessionStorage(f"memory://test-{uuid.uuid4().hex}") as storage:
        yield storage


@_async_fixture
async def file_session_storage(tmp_path: Path) -> AsyncIterator[SessionStorage]:
    """A SessionStorage in a folder of the test's own ``tmp_path``."""
    async with SessionStorage(tmp_path / "sessions") as storage:
        yield storage
