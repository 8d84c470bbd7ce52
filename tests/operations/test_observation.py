"""Observation: a DEBUG line per backend operation, an OpenTelemetry span per public
operation, and nothing at all (not even a wrapper) when nobody listens."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from session_storage import SessionStorage
from session_storage.backends.observed import ObservedDriver
from session_storage.operations.spans import public_operations
from session_storage.pytest_plugin import s3_storage_options
from session_storage.storage import scope_of
from tests.support.cloud import delete_bucket, new_bucket
from tests.support.observed_calls import CALLS, SILENT, seed

ROOT = Path(__file__).resolve().parents[2]
SECRET = "observation-secret-value"


def test_every_public_operation_has_a_call() -> None:
    assert set(CALLS) == set(public_operations(SessionStorage))


def _storage(backend: str, tmp_path: Path, moto: str | None) -> SessionStorage:
    if backend == "memory":
        return SessionStorage("memory://observed")
    if backend == "file":
        return SessionStorage(tmp_path / "store")
    assert moto is not None
    options = {**s3_storage_options(moto), "secret": SECRET}
    return SessionStorage(f"s3://{new_bucket(moto)}/app", options)


@pytest.mark.parametrize("backend", ["memory", "file", "s3"])
async def test_a_debug_line_per_backend_operation_of_every_public_operation(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest
) -> None:
    moto = request.getfixturevalue("moto_s3_server") if backend == "s3" else None
    caplog.set_level(logging.DEBUG, logger="session_storage")
    storage = _storage(backend, tmp_path, moto)
    assert isinstance(scope_of(storage).driver, ObservedDriver)
    try:
        await seed(storage)
        for name, call in CALLS.items():
            caplog.clear()
            await call(storage)
            lines = [r for r in caplog.records if r.name == "session_storage" and hasattr(r, "ms")]
            if name in SILENT:
                continue
            assert lines, f"{name} logged no backend operation"
            for record in lines:
                assert record.levelno == logging.DEBUG
                assert record.backend == backend  # type: ignore[attr-defined]
                assert record.operation and record.path and record.status  # type: ignore[attr-defined]
                assert record.bytes >= 0 and record.ms >= 0  # type: ignore[attr-defined]
                message = record.getMessage()
                assert record.operation in message and SECRET not in message  # type: ignore[attr-defined]
        # A load's line carries the bytes read; a missing file says so.
        caplog.clear()
        await storage.load_session("nobody")
        (missing,) = [r for r in caplog.records if hasattr(r, "ms")]
        assert (missing.operation, missing.status, missing.bytes) == ("get", "missing", 0)  # type: ignore[attr-defined]
    finally:
        await storage.aclose()
        if moto is not None:
            delete_bucket(moto, storage.url.removeprefix("s3://").split("/")[0])


def test_nobody_listening_adds_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="session_storage")
    storage = SessionStorage("memory://unobserved")
    # Not wrapped at all: no call of any store or load passes through observation code.
    assert not isinstance(scope_of(storage).driver, ObservedDriver)
    assert "store_session" not in vars(storage)  # the class's own methods, no span wrapper


_SPANS_CHILD = """
import asyncio, json, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from session_storage import SessionStorage, SyncSessionStorage
from tests.support.observed_calls import CALLS, seed

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

async def main():
    storage = SessionStorage(sys.argv[1])
    await seed(storage)
    exporter.clear()
    for call in CALLS.values():
        await call(storage)
    await storage.narrow("view").session_exists("s")  # a view follows its owner
    try:
        await SessionStorage(sys.argv[1]).store_session("s", {"bad": object()})
    except Exception:
        pass

asyncio.run(main())
with SyncSessionStorage(sys.argv[1]) as sync:
    sync.load_session("s")
print(json.dumps([
    {"name": s.name, "attributes": dict(s.attributes), "status": s.status.status_code.name}
    for s in exporter.get_finished_spans()
]))
"""


@pytest.mark.parametrize("backend", ["memory", "file"])
def test_a_span_per_public_operation(backend: str, tmp_path: Path) -> None:
    url = "memory://spans" if backend == "memory" else str(tmp_path / "store")
    done = subprocess.run(
        [sys.executable, "-c", _SPANS_CHILD, url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    spans = json.loads(done.stdout)
    names = [span["name"] for span in spans]
    for operation in CALLS:
        assert f"session_storage.{operation}" in names, operation
    by_name: dict[str, dict[str, Any]] = {}
    for span in spans:
        by_name.setdefault(span["name"], span)  # the first of each name
    for operation in CALLS:
        attributes = by_name[f"session_storage.{operation}"]["attributes"]
        assert attributes["session_storage.backend"] == backend
        assert attributes["session_storage.engine"] == "fsspec"
        if operation not in SILENT:
            assert attributes["session_storage.requests"] >= 1, operation
    load = by_name["session_storage.load_session"]["attributes"]
    assert load["session_storage.requests"] == 1 and load["session_storage.bytes_read"] > 0
    store = by_name["session_storage.store_session"]["attributes"]
    assert store["session_storage.bytes_written"] > 0
    # The failed store: its span says so, and it made no request (nothing written).
    failed = [s for s in spans if s["name"] == "session_storage.store_session"][-1]
    assert failed["status"] == "ERROR" and failed["attributes"]["session_storage.requests"] == 0
    # The sync twin's call is traced too.
    assert names.count("session_storage.load_session") == 2
    # A narrowed view of a traced storage is traced too.
    assert names.count("session_storage.session_exists") == 2
