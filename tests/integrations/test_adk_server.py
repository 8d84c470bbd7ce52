"""ADK's own API server on our store: ``adk api_server`` started with
``session-storage+...`` URIs, driven over HTTP with a pure-Python agent, and what it
stored read back with our services; and the URI schemes themselves."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from google.adk.cli.service_registry import ServiceRegistry, _register_services_from_yaml_config
from google.genai import types

from session_storage import SessionStorage
from session_storage.core.errors import ConfigurationError
from session_storage.integrations.adk import (
    SCHEMES,
    StorageArtifactService,
    StorageSessionService,
    register_uri_schemes,
    storage_from_uri,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "adk_server_example.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("adk_server_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_adk_api_server_keeps_sessions_and_artifacts_on_s3(
    make_s3_storage: Callable[..., SessionStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``adk api_server`` with both services on S3 (moto): two turns over HTTP; the events,
    state and artifact versions are read back from the bucket with our services, and
    through the server's own artifact routes. (On local disk:
    ``tests/test_examples.py::test_adk_server_example_runs_adks_api_server_on_local_files``.)
    """
    example = _example()
    bucket = make_s3_storage("adk")
    monkeypatch.setenv("SESSION_STORAGE_OPTIONS", json.dumps(bucket.settings.storage_options))
    uri = f"session-storage+{bucket.url}"
    server = example.Server(uri, example.free_port())  # inherits SESSION_STORAGE_OPTIONS
    try:
        server.wait_until_ready()
        replies = [example.converse(server.port, message) for message in ("hello", "again")]
        base = "/apps/notes_agent/users/ann/sessions/demo/artifacts/notes.txt"
        assert example.call(server.port, "GET", base) == {"text": "turn 2: again"}
        assert example.call(server.port, "GET", f"{base}/versions") == [0, 1]
    finally:
        server.stop()
    assert replies == [
        ["#1: noted 'hello' as notes.txt version 0"],
        ["#2: noted 'again' as notes.txt version 1"],
    ]
    authors, notes, turns = asyncio.run(example.read_back(uri))
    assert authors == ["user", "notes", "user", "notes"]
    assert notes == ["turn 1: hello", "turn 2: again"]
    assert turns == 2


async def test_uris_give_our_services_on_the_named_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = ServiceRegistry()
    register_uri_schemes(registry)
    uri = f"session-storage+file://{tmp_path}"
    sessions = registry.create_session_service(uri, agents_dir=str(tmp_path))
    artifacts = registry.create_artifact_service(uri, agents_dir=str(tmp_path))
    assert isinstance(sessions, StorageSessionService)
    assert isinstance(artifacts, StorageArtifactService)
    assert sessions.storage.url == artifacts.storage.url == f"file://{tmp_path}"
    monkeypatch.setenv("SESSION_STORAGE_URL", "memory://from-env")
    for scheme in SCHEMES:
        rest = "" if scheme == "session-storage" else str(tmp_path) if "file" in scheme else "b/p"
        made = registry.create_artifact_service(f"{scheme}://{rest}")
        assert isinstance(made, StorageArtifactService), scheme

    await artifacts.save_artifact(
        app_name="a", user_id="u", session_id="s", filename="f", artifact=types.Part(text="t")
    )
    async with SessionStorage(tmp_path) as storage:  # the files are where the URI says
        again = StorageArtifactService(storage)
        loaded = await again.load_artifact(app_name="a", user_id="u", session_id="s", filename="f")
        assert loaded == types.Part(text="t")
    await artifacts.storage.aclose()

    # session-storage:// alone: the storage the environment describes.
    assert storage_from_uri("session-storage://").url == "memory://from-env"
    monkeypatch.setenv("SESSION_STORAGE_OPTIONS", '{"anon": true}')
    assert storage_from_uri("session-storage+s3://b/p").settings.storage_options == {"anon": True}
    for bad in ("s3://b/p", "session-storage+://x", "session-storage://x", "session-storage"):
        with pytest.raises(ConfigurationError, match="session-storage\\+"):
            storage_from_uri(bad)


def test_services_yaml_can_name_the_factories(tmp_path: Path) -> None:
    """ADK's services.yaml route (no Python): each entry names a factory, called with uri=."""
    registry = ServiceRegistry()
    config = {
        "services": [
            {
                "scheme": "session-storage+file",
                "type": kind,
                "class": f"session_storage.integrations.adk.{kind}_service_from_uri",
            }
            for kind in ("session", "artifact")
        ]
    }
    _register_services_from_yaml_config(config, registry)
    uri = f"session-storage+file://{tmp_path}"
    assert isinstance(registry.create_session_service(uri), StorageSessionService)
    assert isinstance(registry.create_artifact_service(uri), StorageArtifactService)
