"""Read-modify-write with optimistic concurrency: ``update_session``.

Each attempt loads the state with its version, asks the caller's function for the new
state and stores it on condition that nobody wrote in between (``if_version``, or
``if_absent`` for a new file). A lost race costs one retry after a randomized,
exponentially growing pause ("full jitter"), which spreads competing writers apart
instead of letting them collide again in lock step.

Tasks that update the same file through one storage take turns (:class:`.KeyedLocks`):
racing each other would only burn requests on conflicts that the process can see
coming, and many tasks racing on one counter each need many attempts per update
where, taking turns, each needs one. Conflicts then come from other processes and
machines only.

Exactly-once updates: an ``idempotency_key`` is remembered (as a 96-bit digest, see
:func:`.events.idempotency.digest`) in the stamp of the state it produced, written by
the same conditional write as the state itself, so the state and the record that it
was applied cannot part. An update whose key is in the stamp of the state it loads
calls nothing and writes nothing: a client resending a request, or a write whose
reply was lost and whose resend then conflicts, finds its own key on the next load.
The stamp keeps the last :data:`UPDATE_KEY_WINDOW` keys; an older one is forgotten,
as a stream's tail forgets old append keys.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ..core.arguments import check_int, check_number, invalid
from ..core.document import stamped_updates
from ..core.errors import ConflictError, NotSupportedError
from ..core.versions import VersionedState
from ..events.idempotency import digest
from . import state as json_state
from .scope import FileRef, Scope

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_MAX_BACKOFF",
    "DEFAULT_RETRIES",
    "UPDATE_KEY_WINDOW",
    "StateUpdate",
    "update",
    "update_state",
]

State = dict[str, Any]
StateUpdate = Callable[[State | None], State | None | Awaitable[State | None]]
"""``fn(state_or_None) -> new_state | None``, plain or async."""

DEFAULT_RETRIES = 16
"""Retries after the first attempt: many writers hammering one file from different
processes get through with a handful each, so sixteen leaves a wide margin."""
DEFAULT_BACKOFF = 0.005
"""Upper bound of the first pause, in seconds; it doubles on every conflict."""
DEFAULT_MAX_BACKOFF = 0.5
"""The pause never exceeds this, in seconds."""
UPDATE_KEY_WINDOW = 64
"""Idempotency keys a state's stamp remembers (the most recent): 64 digests cost about
1.8 KB in the file, and a client's resend comes long before 64 other keyed updates."""


async def update(
    scope: Scope,
    session_id: str,
    fn: StateUpdate,
    filename: str,
    retries: int,
    backoff: float,
    max_backoff: float,
    idempotency_key: str | None = None,
) -> State | None:
    """Read-modify-write the session's state without losing concurrent updates.

    Calls ``fn(state)`` (``None`` if the file is missing; plain or async) and stores
    the result only if nobody wrote in between; on a conflict it pauses (randomly,
    from ``backoff`` doubling up to ``max_backoff`` seconds) and calls ``fn`` again on
    the fresh state, so ``fn`` must have no other effects. Updates through one storage
    take turns. Returns the state as stored; if ``fn`` returns ``None`` nothing is
    written and the state is returned as loaded. Raises ConflictError after
    ``retries`` conflicting retries; an exception from ``fn`` propagates with nothing
    written.

    With ``idempotency_key``, an update whose key the state's stamp remembers (one of
    the last :data:`UPDATE_KEY_WINDOW` keyed updates of the file) calls nothing,
    writes nothing and returns the state as loaded: the state that call produced,
    plus whatever was written after it. Lost replies, retries and resends by any
    process are covered; a store or delete that replaces the stamp forgets the keys
    (a loaded state stored back keeps them). If ``fn`` returns ``None`` the key is
    not remembered (nothing was written).
    """
    ref = scope.file(session_id, filename)
    where = scope.where("update", ref)
    check_int("retries", retries, 0, where=where)
    check_number("backoff", backoff, where=where)
    check_number("max_backoff", max_backoff, where=where)
    if not callable(fn):
        raise invalid(f"fn must be callable, got {type(fn).__name__}", where=where)
    if idempotency_key is not None and (
        not isinstance(idempotency_key, str) or not idempotency_key
    ):
        problem = f"idempotency_key must be a non-empty str, got {idempotency_key!r}"
        raise invalid(problem, where=where)
    key = None if idempotency_key is None else digest(idempotency_key)
    scope.require_conditions("update", ref)

    async def load() -> VersionedState:
        loaded = await json_state.load(scope, ref)
        if loaded.state is not None and loaded.version is None:
            raise NotSupportedError(
                f"{where}: the backend gave no version for the file, so it cannot be "
                "updated safely",
                backend=scope.backend,
                session_id=session_id,
                filename=filename,
            )
        return loaded

    def applied(current: VersionedState) -> bool:
        return key is not None and key in stamped_updates(current.state)

    async def store(new_state: State, current: VersionedState) -> State:
        # The keys come from the state loaded, not from fn's result (which may have
        # dropped the stamp): unkeyed updates keep them too.
        updates = stamped_updates(current.state)
        if key is not None:
            updates = [*updates, key][-UPDATE_KEY_WINDOW:]
        version = current.version
        stored, _ = await json_state.store(
            scope,
            session_id,
            new_state,
            filename,
            if_version=version,
            if_absent=version is None,
            updates=updates,
        )
        return stored

    def exhausted(attempts: int, last: ConflictError) -> ConflictError:
        return _exhausted(scope, ref, where, retries, attempts, last)

    async with scope.shared.update_locks.hold(ref.path):
        return await update_state(
            load,
            store,
            fn,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            exhausted=exhausted,
            applied=applied,
        )


def _exhausted(
    scope: Scope, ref: FileRef, where: str, retries: int, attempts: int, last: ConflictError
) -> ConflictError:
    return ConflictError(
        f"{where}: still conflicting after {attempts} attempts (retries={retries}): "
        f"other writers kept changing the file; last: {last}",
        backend=scope.backend,
        session_id=ref.session_id,
        filename=ref.filename,
        url=scope.url(ref.path),
    )


async def update_state(
    load: Callable[[], Awaitable[VersionedState]],
    store: Callable[[State, VersionedState], Awaitable[State]],
    fn: StateUpdate,
    *,
    retries: int,
    backoff: float,
    max_backoff: float,
    exhausted: Callable[[int, ConflictError], ConflictError],
    applied: Callable[[VersionedState], bool] = lambda current: False,
) -> State | None:
    """Run the optimistic loop; returns the stored state (or the current one, unchanged).

    ``store(new_state, current)`` must write only if the file is still at
    ``current.version`` (absent when it is None) and raise ConflictError otherwise.
    When ``applied(current)`` says the update is already in the state loaded, the
    loop returns that state without calling ``fn``. When every attempt conflicts,
    raises ``exhausted(attempts, last_conflict)``.
    """
    last: ConflictError | None = None
    for attempt in range(retries + 1):
        if attempt:
            await anyio.sleep(random.uniform(0, min(max_backoff, backoff * 2 ** (attempt - 1))))
        current = await load()
        if applied(current):
            return current.state  # an earlier call (or attempt) with this key landed
        result = fn(current.state)
        new_state = await result if isinstance(result, Awaitable) else result
        if new_state is None:
            return current.state  # nothing to change: write nothing
        try:
            return await store(new_state, current)
        except ConflictError as exc:
            last = exc
    assert last is not None
    raise exhausted(retries + 1, last) from last
