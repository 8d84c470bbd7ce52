"""Hung endpoints and broken connections: a deadline per operation, clear errors.

A fault proxy that reads each request and never answers stands in for a hung
endpoint; a port nobody listens on for a closed one. Each case runs in a child
process, which must get its error within the bound and then exit cleanly (exit code
0, no traceback on stderr). Run with ``-s`` to see the times.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from session_storage import (
    BackendUnavailableError,
    ConfigurationError,
    SessionStorage,
    StorageSettings,
    StorageTimeoutError,
)
from session_storage.pytest_plugin import s3_storage_options

from ..support.cloud import FaultyStorageFactory

# The child: load a session with timeout=3 and report how it ended (a timeout is also
# a BackendUnavailableError).
_CHILD = """
import asyncio, json, sys, time
from session_storage import BackendUnavailableError, SessionStorage

url, options, engine = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]

async def main() -> None:
    async with SessionStorage(url, options, timeout=3, engine=engine) as storage:
        storage.filesystem  # import and build the client first: no I/O, not timed
        start = time.monotonic()
        try:
            await storage.load_session("s")
        except BackendUnavailableError as exc:
            assert exc.backend and exc.session_id == "s" and exc.filename == "state.json"
            seconds = time.monotonic() - start
            print(json.dumps({"error": type(exc).__name__, "seconds": seconds, "why": str(exc)}))
        else:
            print(json.dumps({"error": None}))

asyncio.run(main())
if engine == "obstore":
    # obstore's shared Tokio runtime is never shut down before the interpreter
    # finalizes; a worker thread still busy then (a refused connection being retried)
    # can abort the process with SIGABRT after everything above has finished. That is
    # the client's exit, not the library's timeout: leave without finalizing.
    import os
    sys.stdout.flush()
    os._exit(0)
"""


def _run_child(url: str, options: dict[str, Any], engine: str) -> dict[str, Any]:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, url, json.dumps(options), engine],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,  # the exit code is asserted below, with stderr in the message
    )
    total = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "Loop is not running" not in done.stderr, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process seconds"] = total
    return result


ENGINES = ["fsspec", "obstore"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("backend", ["s3", "gcs", "azure"])
def test_hung_endpoint_fails_within_the_timeout(
    make_faulty_storage: FaultyStorageFactory, backend: str, engine: str
) -> None:
    storage, proxy = make_faulty_storage(backend, engine=engine)
    proxy.inject("hang")  # every request: read it, never answer
    result = _run_child(storage.url, dict(storage.settings.storage_options), engine)
    print(f"\n{backend} ({engine}) hung endpoint, timeout=3: {result}")
    assert result["error"] == "StorageTimeoutError"
    assert result["seconds"] <= 5
    assert proxy.applied["hang"] >= 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nobody listens here now


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("backend", ["s3", "azure"])
def test_closed_port_is_reported_as_refused_within_the_timeout(backend: str, engine: str) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    if backend == "s3":
        url, options = "s3://bucket", s3_storage_options(endpoint)
    else:
        url = "az://container"
        options = {
            "connection_string": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            "AccountKey=" + "A" * 86 + "==;"
            f"BlobEndpoint={endpoint}/devstoreaccount1;"
        }
    result = _run_child(url, options, engine)
    print(f"\n{backend} ({engine}) closed port, timeout=3: {result}")
    # fsspec's clients retry a refused connection until the deadline, obstore's gives
    # up sooner; either way the error says the connection was refused, not that the
    # backend did not answer.
    assert result["error"] == "BackendUnavailableError"
    assert f"connection refused by 127.0.0.1:{endpoint.rsplit(':', 1)[1]}" in result["why"]
    assert result["seconds"] <= 5
    # The deadline plus interpreter start-up and the cloud client's imports, which
    # take several seconds on a loaded machine.
    assert result["process seconds"] <= 20


@pytest.mark.parametrize("engine", ENGINES)
async def test_cut_connection_is_backend_unavailable(
    make_faulty_storage: FaultyStorageFactory, engine: str
) -> None:
    # Every request is cut half-way: "Connection was closed before we received a
    # valid response" must say the backend is unavailable, not that it failed.
    storage, proxy = make_faulty_storage("s3", engine=engine)
    options = {
        **storage.settings.storage_options,
        "config_kwargs": {"retries": {"max_attempts": 1}},  # fail fast
    }
    proxy.inject("cut")
    async with SessionStorage(storage.url, options, timeout=None, engine=engine) as cut:
        with pytest.raises(BackendUnavailableError) as info:
            await cut.store_session("s", {"v": 1})
    assert not isinstance(info.value, StorageTimeoutError)
    assert info.value.session_id == "s" and info.value.backend == "s3"
    assert proxy.applied["cut"] >= 1


def test_timeout_settings() -> None:
    assert StorageSettings().timeout == 30.0
    assert StorageSettings.from_env({}).timeout == 30.0
    assert StorageSettings.from_env({"SESSION_STORAGE_TIMEOUT": "2.5"}).timeout == 2.5
    assert StorageSettings.from_env({"SESSION_STORAGE_TIMEOUT": "none"}).timeout is None
    for bad in ("abc", "0", "-1", "inf"):
        with pytest.raises(ConfigurationError):
            StorageSettings.from_env({"SESSION_STORAGE_TIMEOUT": bad})
    with pytest.raises(ConfigurationError):
        SessionStorage("memory://t", timeout=0)
    storage = SessionStorage.from_settings(StorageSettings("memory://t", {}, 7.0))
    assert storage.settings.timeout == 7.0
    assert SessionStorage("memory://t", timeout=None).settings.timeout is None


def test_cli_timeout_option() -> None:
    from session_storage.cli.commands import settings_for
    from session_storage.cli.parser import build_parser

    parser = build_parser()
    assert settings_for(parser.parse_args(["--timeout", "4", "ls"])).timeout == 4.0
    assert settings_for(parser.parse_args(["ls", "--timeout", "none"])).timeout is None
    assert settings_for(parser.parse_args(["ls"])).timeout == 30.0
    with pytest.raises(SystemExit):
        parser.parse_args(["--timeout", "soon", "ls"])
