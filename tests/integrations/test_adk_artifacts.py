"""ADK artifacts on every backend, against ADK's own ``InMemoryArtifactService``.

``StorageArtifactService`` is driven call by call beside the reference and must answer
the same (parts, versions, metadata, keys, errors); then what only a store can get
wrong: a session named ``user``, a failed read, two writers racing, the payloads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from google.adk.artifacts import InMemoryArtifactService, artifact_util
from google.adk.errors.input_validation_error import InputValidationError
from google.genai import types

from session_storage import SessionStorage
from session_storage.core.errors import CorruptDataError, InvalidArgumentError, SerializationError
from session_storage.integrations.adk import StorageArtifactService
from session_storage.integrations.adk.artifact_parts import VERSIONS_STREAM, Entry

APP, USER, SESSION = "app", "ann", "s1"
Call = Callable[[Any], Awaitable[Any]]


def _plain(value: Any) -> Any:
    """A comparable form of what a service returned: Parts and versions as dicts; the
    canonical URI and the creation time are the store's own, checked apart."""
    if isinstance(value, types.Part):
        return ("part", value.model_dump(exclude_none=True))
    if hasattr(value, "canonical_uri"):
        return ("version", value.version, value.mime_type, value.custom_metadata)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


async def _outcome(call: Call, service: Any) -> Any:
    try:
        return _plain(await call(service))
    except InputValidationError as exc:
        return ("InputValidationError", str(exc))


def _calls() -> list[Call]:
    """A script of calls, run on both services in order."""
    s = {"app_name": APP, "user_id": USER, "session_id": SESSION}
    u = {"app_name": APP, "user_id": USER}
    image = types.Part.from_bytes(data=bytes(range(256)) * 4, mime_type="image/png")
    ref_ok = artifact_util.get_artifact_uri(APP, USER, "notes.txt", 0, SESSION)
    ref_user = artifact_util.get_artifact_uri(APP, USER, "user:profile", 1)
    ref_other = artifact_util.get_artifact_uri(APP, USER, "notes.txt", 0, "other")
    ref_far = artifact_util.get_artifact_uri(APP, "bob", "user:profile", 0)
    tombstone = artifact_util._new_rewind_tombstone()
    calls: list[Call] = [
        lambda v: v.list_artifact_keys(**s),
        lambda v: v.load_artifact(**s, filename="notes.txt"),
        lambda v: v.list_versions(**s, filename="notes.txt"),
        lambda v: v.list_artifact_versions(**s, filename="notes.txt"),
        lambda v: v.get_artifact_version(**s, filename="notes.txt"),
        lambda v: v.save_artifact(**s, filename="notes.txt", artifact=types.Part(text="one")),
        lambda v: v.save_artifact(
            **s, filename="notes.txt", artifact=types.Part(text="two"), custom_metadata={"k": [1]}
        ),
        lambda v: v.save_artifact(**s, filename="pic.png", artifact=image),
        lambda v: v.save_artifact(  # a dict Part, camelCase as JSON clients send it
            **s,
            filename="d/e.bin",
            artifact={"inlineData": {"mimeType": "application/pdf", "data": "JVBERg=="}},
        ),
        lambda v: v.save_artifact(**u, filename="user:profile", artifact=types.Part(text="p0")),
        lambda v: v.save_artifact(**s, filename="user:profile", artifact=types.Part(text="p1")),
        lambda v: v.save_artifact(
            **s,
            filename="link.txt",
            artifact=types.Part(file_data=types.FileData(file_uri="gs://b/x", mime_type="a/b")),
        ),
        lambda v: v.save_artifact(
            **s,
            filename="ref",
            artifact=types.Part.from_uri(file_uri=ref_ok, mime_type="text/plain"),
        ),
        lambda v: v.save_artifact(
            **s,
            filename="ref",
            artifact=types.Part.from_uri(file_uri=ref_user, mime_type="text/plain"),
        ),
        lambda v: v.save_artifact(
            **s,
            filename="bad",
            artifact=types.Part.from_uri(file_uri=ref_other, mime_type="text/plain"),
        ),
        lambda v: v.save_artifact(
            **s,
            filename="bad",
            artifact=types.Part.from_uri(file_uri=ref_far, mime_type="text/plain"),
        ),
        lambda v: v.save_artifact(
            **s,
            filename="bad",
            artifact=types.Part.from_uri(file_uri="artifact://nonsense", mime_type="text/plain"),
        ),
        lambda v: v.save_artifact(**s, filename="bad", artifact=types.Part()),
        lambda v: v.save_artifact(**u, filename="no-session", artifact=types.Part(text="x")),
        lambda v: v.save_artifact(
            app_name=APP, user_id="../x", filename="f", artifact=types.Part(text="x")
        ),
        lambda v: v.save_artifact(
            app_name=APP,
            user_id="../x",
            session_id=SESSION,
            filename="f",
            artifact=types.Part(text="x"),
        ),
        lambda v: v.load_artifact(**s, filename="ref", version=0),
        lambda v: v.load_artifact(**s, filename="ref"),
        lambda v: v.load_artifact(**s, filename="notes.txt"),
        lambda v: v.load_artifact(**s, filename="notes.txt", version=0),
        lambda v: v.load_artifact(**s, filename="notes.txt", version=2),
        lambda v: v.load_artifact(**s, filename="notes.txt", version=-1),
        lambda v: v.load_artifact(**s, filename="pic.png"),
        lambda v: v.load_artifact(**s, filename="d/e.bin"),
        lambda v: v.load_artifact(**s, filename="link.txt"),
        lambda v: v.load_artifact(**u, filename="user:profile", version=0),
        lambda v: v.load_artifact(**u, filename="notes.txt"),
        lambda v: v.list_artifact_keys(**s),
        lambda v: v.list_artifact_keys(**u),
        lambda v: v.list_artifact_keys(app_name=APP, user_id=USER, session_id="other"),
        lambda v: v.list_versions(**s, filename="notes.txt"),
        lambda v: v.list_versions(**u, filename="user:profile"),
        lambda v: v.list_artifact_versions(**s, filename="notes.txt"),
        lambda v: v.list_artifact_versions(**s, filename="ref"),
        lambda v: v.get_artifact_version(**s, filename="notes.txt"),
        lambda v: v.get_artifact_version(**s, filename="pic.png", version=0),
        lambda v: v.get_artifact_version(**s, filename="notes.txt", version=-1),
        lambda v: v.get_artifact_version(**s, filename="notes.txt", version=5),
        lambda v: v.save_artifact(**s, filename="notes.txt", artifact=tombstone),
        lambda v: v.load_artifact(**s, filename="notes.txt"),
        lambda v: v.load_artifact(**s, filename="notes.txt", version=1),
        lambda v: v.get_artifact_version(**s, filename="notes.txt"),
        lambda v: v.delete_artifact(**s, filename="notes.txt"),
        lambda v: v.delete_artifact(**s, filename="notes.txt"),
        lambda v: v.load_artifact(**s, filename="notes.txt"),
        lambda v: v.list_versions(**s, filename="notes.txt"),
        lambda v: v.list_artifact_keys(**s),
        lambda v: v.save_artifact(**s, filename="notes.txt", artifact=types.Part(text="again")),
        lambda v: v.load_artifact(**s, filename="notes.txt"),
        lambda v: v.delete_artifact(**u, filename="user:profile"),
        lambda v: v.list_artifact_keys(**s),
        lambda v: v.load_artifact(**s, filename="ref", version=1),
    ]
    return calls


async def test_behaves_like_in_memory_artifact_service(
    make_any_storage: Callable[[], SessionStorage],
) -> None:
    reference = InMemoryArtifactService()
    async with make_any_storage() as storage:
        ours = StorageArtifactService(storage)
        before = time.time()
        for n, call in enumerate(_calls()):
            mine, theirs = await _outcome(call, ours), await _outcome(call, reference)
            assert mine == theirs, f"call {n}"
        versions = await ours.list_artifact_versions(
            app_name=APP, user_id=USER, session_id=SESSION, filename="pic.png"
        )
    assert len(versions) == 1
    assert before <= versions[0].create_time <= time.time()
    url = storage.url.rstrip("/")
    assert versions[0].canonical_uri.startswith(f"{url}/{APP}/artifacts/{USER}/sessions/{SESSION}/")
    assert versions[0].canonical_uri.endswith(".bin")


async def test_a_session_named_user_is_not_the_user_scope(tmp_path: Path) -> None:
    async with SessionStorage(tmp_path) as storage:
        service = StorageArtifactService(storage)
        common = {"app_name": APP, "user_id": USER}
        await service.save_artifact(**common, filename="user:a", artifact=types.Part(text="u"))
        assert (
            await service.save_artifact(
                **common, session_id="user", filename="a", artifact=types.Part(text="s")
            )
            == 0
        )
        assert await service.list_artifact_keys(**common) == ["user:a"]
        assert await service.list_artifact_keys(**common, session_id="user") == ["a", "user:a"]
        loaded = await service.load_artifact(**common, session_id="user", filename="a")
        assert loaded == types.Part(text="s")
        assert await service.list_versions(**common, filename="user:a") == [0]


async def test_an_empty_part_loads_as_none_and_bad_input_writes_nothing(tmp_path: Path) -> None:
    async with SessionStorage(tmp_path) as storage:
        service = StorageArtifactService(storage)
        common = {"app_name": APP, "user_id": USER, "session_id": SESSION}
        root = storage.narrow(APP, "artifacts", USER, "sessions", SESSION)
        # An empty Part cannot be saved through ADK; one stored all the same loads as None.
        await root.store_bytes("e", "parts/0.json", b"{}")
        await root.append_event(
            "e", VERSIONS_STREAM, Entry("parts/0.json", 1.0, None, {}).to_json()
        )
        assert await service.load_artifact(**common, filename="e") is None
        for metadata in ({"t": {1}}, {1: "int key"}, {"n": [float("nan")]}, {"b": b"x"}):
            with pytest.raises(SerializationError, match="custom_metadata"):
                await service.save_artifact(
                    **common, filename="f", artifact=types.Part(text="x"), custom_metadata=metadata
                )
        assert await root.list_sessions() == ["e"]  # nothing of "f", not even its payload
        with pytest.raises(InvalidArgumentError):
            StorageArtifactService("not a storage")  # type: ignore[arg-type]


async def test_a_failed_read_raises_and_never_restarts_at_version_0(tmp_path: Path) -> None:
    async with SessionStorage(tmp_path) as storage:
        service = StorageArtifactService(storage)
        common = {"app_name": APP, "user_id": USER, "session_id": SESSION}
        for text in ("a", "b"):
            await service.save_artifact(**common, filename="f", artifact=types.Part(text=text))
        tail = next(tmp_path.rglob("tail.json"))
        kept = tail.read_bytes()
        tail.write_bytes(b"not json")
        calls: list[Call] = [
            lambda v: v.list_versions(**common, filename="f"),
            lambda v: v.list_artifact_versions(**common, filename="f"),
            lambda v: v.load_artifact(**common, filename="f"),
            lambda v: v.get_artifact_version(**common, filename="f"),
            lambda v: v.save_artifact(**common, filename="f", artifact=types.Part(text="c")),
        ]
        for call in calls:
            with pytest.raises(CorruptDataError):
                await call(StorageArtifactService(SessionStorage(tmp_path)))
        tail.write_bytes(kept)
        fresh = StorageArtifactService(SessionStorage(tmp_path))
        assert await fresh.list_versions(**common, filename="f") == [0, 1]
        assert await fresh.load_artifact(**common, filename="f", version=0) == types.Part(text="a")
        assert await fresh.save_artifact(**common, filename="f", artifact=types.Part(text="c")) == 2


async def test_a_version_whose_payload_is_gone_is_reported(tmp_path: Path) -> None:
    async with SessionStorage(tmp_path) as storage:
        service = StorageArtifactService(storage)
        common = {"app_name": APP, "user_id": USER, "session_id": SESSION}
        await service.save_artifact(**common, filename="f", artifact=types.Part(text="a"))
        for payload in tmp_path.rglob("parts/*"):
            payload.unlink()
        with pytest.raises(CorruptDataError, match="payload"):
            await service.load_artifact(**common, filename="f")


@pytest.mark.parametrize("backend", ["file", "s3"])
async def test_two_writers_get_distinct_consecutive_versions(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two services on two storages of one root, as two processes, save one artifact
    at once: every save gets its own version, 0 to n-1, holding what it saved."""
    if backend == "file":
        first, second = SessionStorage(tmp_path), SessionStorage(tmp_path)
    else:
        first = request.getfixturevalue("make_s3_storage")("art")
        second = SessionStorage(first.url, first.settings.storage_options)
    common = {"app_name": APP, "user_id": USER, "session_id": SESSION, "filename": "f"}
    async with first, second:
        services = [StorageArtifactService(first), StorageArtifactService(second)]

        async def writer(k: int) -> list[tuple[int, str]]:
            got = []
            for n in range(8):
                text = f"{k}-{n}"
                got.append(
                    (
                        await services[k].save_artifact(**common, artifact=types.Part(text=text)),
                        text,
                    )
                )
            return got

        saved = [pair for pairs in await asyncio.gather(writer(0), writer(1)) for pair in pairs]
        assert sorted(v for v, _ in saved) == list(range(16))
        assert await services[0].list_versions(**common) == list(range(16))
        for version, text in saved:
            loaded = await services[1].load_artifact(**common, version=version)
            assert loaded == types.Part(text=text)
