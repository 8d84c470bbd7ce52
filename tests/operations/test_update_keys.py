"""Exactly-once updates: ``update_session(..., idempotency_key=...)`` on every backend.

A client that resends a request (its reply was lost, or it timed out) calls again with
the same key: the update must be applied once and the call must return the state
the first call produced. Lost replies between client and server: see
tests/backends/test_lost_replies.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from session_storage import InvalidArgumentError, SessionStorage
from session_storage.operations.update import UPDATE_KEY_WINDOW


class Counter:
    """An update function that counts its own calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, state: dict[str, Any] | None) -> dict[str, Any]:
        self.calls += 1
        return {**(state or {}), "n": (state or {}).get("n", 0) + 1}


async def test_a_repeated_key_applies_once_and_returns_the_same_state(
    make_any_storage: Callable[[], SessionStorage],
) -> None:
    bump = Counter()
    async with make_any_storage() as storage:
        first = await storage.update_session("s", bump, idempotency_key="req-1")
        again = await storage.update_session("s", bump, idempotency_key="req-1")
        third = again
        if storage.backend != "memory":  # a memory storage is private to its object
            # Another storage (another worker or process) sees the key as well.
            async with SessionStorage.from_settings(storage.settings) as other:
                third = await other.update_session("s", bump, idempotency_key="req-1")
        loaded = await storage.load_session("s")
    assert bump.calls == 1
    assert first is not None and first["n"] == 1
    assert again == first == third == loaded


async def test_different_keys_apply_each(
    make_any_storage: Callable[[], SessionStorage],
) -> None:
    bump = Counter()
    async with make_any_storage() as storage:
        await storage.update_session("s", bump, idempotency_key="a")
        await storage.update_session("s", bump, idempotency_key="b")
        await storage.update_session("s", bump)  # no key: always applied
        await storage.update_session("s", bump, idempotency_key="a")
        await storage.update_session("s", bump, idempotency_key="b")
        state = await storage.load_session("s")
    assert bump.calls == 3
    assert state is not None and state["n"] == 3


async def test_keys_expire_after_the_window(
    make_any_storage: Callable[[], SessionStorage],
) -> None:
    """The stamp keeps the last UPDATE_KEY_WINDOW keys: the oldest one beyond is
    forgotten, and the same key then applies again."""
    bump = Counter()
    async with make_any_storage() as storage:
        for i in range(UPDATE_KEY_WINDOW):
            await storage.update_session("s", bump, idempotency_key=f"k{i}")
        await storage.update_session("s", bump, idempotency_key="k0")  # still known
        assert bump.calls == UPDATE_KEY_WINDOW
        await storage.update_session("s", bump, idempotency_key="one-more")
        await storage.update_session("s", bump, idempotency_key="k1")  # still known
        assert bump.calls == UPDATE_KEY_WINDOW + 1
        state = await storage.update_session("s", bump, idempotency_key="k0")  # forgotten
    assert bump.calls == UPDATE_KEY_WINDOW + 2
    assert state is not None and state["n"] == UPDATE_KEY_WINDOW + 2
    assert len(state["_metadata"]["updates"]) == UPDATE_KEY_WINDOW


async def test_keys_survive_unkeyed_updates_and_a_loaded_state_stored_back() -> None:
    bump = Counter()
    async with SessionStorage("memory://update-keys-kept") as storage:
        await storage.update_session("s", bump, idempotency_key="k")
        # fn drops the stamp: the keys come from the state loaded, not from fn's result.
        await storage.update_session("s", lambda s: {"n": (s or {})["n"] + 1})
        loaded = await storage.load_session("s")
        assert loaded is not None
        await storage.store_session("s", loaded)
        await storage.update_session("s", bump, idempotency_key="k")
        assert bump.calls == 1
        # A state stored from scratch has a fresh stamp: the keys are gone.
        await storage.store_session("s", {"n": 0})
        await storage.update_session("s", bump, idempotency_key="k")
    assert bump.calls == 2


async def test_fn_returning_none_does_not_remember_the_key() -> None:
    calls: list[int] = []

    def nothing(state: dict[str, Any] | None) -> None:
        calls.append(1)

    async with SessionStorage("memory://update-keys-none") as storage:
        assert await storage.update_session("s", nothing, idempotency_key="k") is None
        assert await storage.update_session("s", nothing, idempotency_key="k") is None
    assert len(calls) == 2


@pytest.mark.parametrize("key", ["", 7, b"k"])
async def test_a_bad_key_is_refused_before_anything_is_read(key: Any) -> None:
    async with SessionStorage("memory://update-keys-bad") as storage:
        with pytest.raises(InvalidArgumentError, match="idempotency_key"):
            await storage.update_session("s", Counter(), idempotency_key=key)
        assert await storage.list_sessions() == []


def test_the_blocking_facade_takes_the_key() -> None:
    from session_storage import SyncSessionStorage

    bump = Counter()
    with SyncSessionStorage("memory://update-keys-sync") as storage:
        first = storage.update_session("s", bump, idempotency_key="k")
        assert storage.update_session("s", bump, idempotency_key="k") == first
    assert bump.calls == 1
