"""A user's own test file, run by `make test-testing-extra` in a virtual environment
that has only `pip install ".[testing]"`: the pytest plugin's fixtures must work there,
S3 included, with nothing from this repository's test requirements."""

from __future__ import annotations

import pytest


@pytest.mark.asyncio
async def test_saves_on_s3(s3_session_storage):  # type: ignore[no-untyped-def]
    await s3_session_storage.store_session("chat-1", {"last_message": "hello"})
    state = await s3_session_storage.load_session("chat-1")
    assert state["last_message"] == "hello"
    assert await s3_session_storage.list_sessions() == ["chat-1"]


def test_blocking_api_on_s3(s3_session_settings):  # type: ignore[no-untyped-def]
    from session_storage import SyncSessionStorage

    with SyncSessionStorage.from_settings(s3_session_settings) as storage:
        storage.update_session("c", lambda s: {"n": 1}, idempotency_key="k")
        assert storage.load_session("c")["n"] == 1


@pytest.mark.asyncio
async def test_in_memory(memory_session_storage):  # type: ignore[no-untyped-def]
    assert await memory_session_storage.list_sessions() == []
