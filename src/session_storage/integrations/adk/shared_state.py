"""The ``app:`` and ``user:`` states ADK shares between sessions, and how deltas split.

A shared state is stored as ``{"state": {...}}`` (see :mod:`session_storage.integrations.adk`
for where). Deltas are merged into it key by key with conditional writes, retried on
conflict, so workers never lose each other's keys.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from ...core.errors import ConflictError
from ...core.lru import LRU
from ...storage import SessionStorage
from .errors import corrupt, merge_failed
from .framework import State, to_jsonable_python

__all__ = ["Scoped", "Shared", "SharedStates", "Versions", "split"]

_MERGE_RETRIES = 16  # conflicting writes in a row before a shared-state merge gives up
_MERGE_PAUSE = 0.005  # seconds; the random pause after a conflict doubles each time

Versions = LRU[Hashable, tuple[str | None, Any]]
"""The version and value the service last read or wrote per object.

Only a first guess for a conditional write: a stale entry makes the write fail, and
the caller then reads the object afresh. Values are never handed out uncopied.
"""


@dataclass(frozen=True, slots=True)
class Scoped:
    """A state or delta split by scope; ``temp:`` keys dropped, values made JSON-safe."""

    app: dict[str, Any]
    user: dict[str, Any]
    session: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Shared:
    """Where one shared state (an app's, or a user's in an app) is stored."""

    store: SessionStorage
    key: str
    cache_key: tuple[str, ...]


class SharedStates:
    """Reads and merges shared states, remembering their versions in ``versions``."""

    def __init__(self, versions: Versions) -> None:
        self._versions = versions

    async def read(self, shared: Shared) -> tuple[str | None, dict[str, Any]]:
        """A shared state and its version; ``(None, {})`` if it was never written."""
        stored, version = await shared.store.load_session(shared.key, with_version=True)
        state: dict[str, Any] = {}
        if stored is not None:
            found = stored.get("state")
            if not isinstance(found, dict):
                raise corrupt(shared.store, shared.key, "its 'state' is not an object")
            state = found
        self._versions.put(shared.cache_key, (version, state))
        return version, state

    async def write_or_read(
        self, shared: Shared, delta: dict[str, Any], *, merge_only: bool = False
    ) -> dict[str, Any]:
        """Merge ``delta`` into a shared state (conditional writes, retried) and return
        the result; with no delta, read it (or, with ``merge_only``, do nothing)."""
        if not delta:
            return {} if merge_only else (await self.read(shared))[1]
        cached = self._versions.get(shared.cache_key)
        for attempt in range(_MERGE_RETRIES):
            version, state = cached if cached is not None else await self.read(shared)
            merged = {**state, **delta}
            try:
                written = await shared.store.store_session(
                    shared.key, {"state": merged}, if_version=version, if_absent=version is None
                )
            except ConflictError:
                cached = None  # somebody else wrote it: merge into theirs
                await anyio.sleep(random.uniform(0, _MERGE_PAUSE * 2 ** min(attempt, 6)))
                continue
            self._versions.put(shared.cache_key, (written, merged))
            return merged
        raise merge_failed(shared.store, shared.key, _MERGE_RETRIES)


def split(state: Mapping[str, Any]) -> Scoped:
    """Split a state or delta by scope, as ADK's services do; values JSON-safe."""
    scoped = Scoped({}, {}, {})
    for key, value in _json_safe(state).items():
        if key.startswith(State.APP_PREFIX):
            scoped.app[key.removeprefix(State.APP_PREFIX)] = value
        elif key.startswith(State.USER_PREFIX):
            scoped.user[key.removeprefix(State.USER_PREFIX)] = value
        elif not key.startswith(State.TEMP_PREFIX):
            scoped.session[key] = value
    return scoped


def _json_safe(state: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON form of ``state`` as ADK's database service makes it: rich values
    (datetimes, models) faithfully; anything else as its ``repr``, with a warning."""
    try:
        safe = to_jsonable_python(dict(state))
    except Exception:  # pydantic raises several types here; all mean the same thing
        warnings.warn(
            "ADK state holds values that are not JSON-serializable; they are stored as "
            "their repr()",
            stacklevel=3,
        )
        safe = to_jsonable_python(dict(state), fallback=repr)
    result: dict[str, Any] = safe
    return result
