"""Batch calls: one operation per session id, run with bounded concurrency.

A batch is built in two steps. :func:`prepare` checks the input of every id (the id
itself, the state to store) and builds its operation; if any input is bad it raises
one :class:`BatchError` naming every bad id, before anything is sent. :func:`run`
then runs the operations, at most ``concurrency`` at a time, attempts every one of
them whatever happens to the others, and raises a :class:`BatchError` carrying the
results of the ids that succeeded and the exception of each id that failed.

Each operation is exactly what the single call does for that id, so a batch returns
the same results and raises the same errors, per id, as the single calls would.
:func:`load_sessions`, :func:`store_sessions` and :func:`delete_sessions` build their
operations from the single calls' prepare steps (:mod:`.state`, :mod:`.files`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from ..concurrency.bounded import run_bounded
from ..core.arguments import check_int
from ..core.errors import BatchError, InvalidArgumentError, InvalidKeyError, SessionStorageError
from . import files, state
from .scope import Scope

__all__ = [
    "Operation",
    "check_concurrency",
    "delete_sessions",
    "load_sessions",
    "prepare",
    "run",
    "run_batch",
    "store_sessions",
]

T = TypeVar("T")
Operation = Callable[[], Awaitable[T]]
"""One id's share of a batch: a call that performs it when awaited."""

_SHOWN_ERRORS = 3  # how many per-id errors a BatchError message spells out


def check_concurrency(value: object) -> int:
    """``value`` if it is a usable concurrency bound (an int of at least 1)."""
    return check_int("max_concurrency", value, 1)


async def run_batch(
    scope: Scope,
    action: str,
    ids: Iterable[str],
    build: Callable[[str], Operation[T]],
    max_concurrency: int | None,
) -> dict[str, T]:
    """Prepare every id's operation (bad input raises first), then run them all.

    ``max_concurrency`` defaults to the storage's.
    """
    limit = scope.shared.max_concurrency if max_concurrency is None else max_concurrency
    limit = check_concurrency(limit)
    where = {"action": action, "backend": scope.backend, "url": scope.url()}
    return await run(prepare(ids, build, **where), limit, **where)


async def load_sessions(
    scope: Scope, ids: Iterable[str], filename: str, max_concurrency: int | None
) -> dict[str, dict[str, Any] | None]:
    """Load many sessions at once: ``{id: state}``, ``None`` for a missing one.

    At most ``max_concurrency`` at a time (default: the storage's); a repeated id is
    loaded once; results keep the order of first appearance. Every id is attempted;
    failures come in one :class:`BatchError` with the loaded states in ``results`` and
    each id's error in ``errors``. Invalid ids raise a BatchError naming them all
    before anything is read.
    """

    def build(session_id: str) -> Operation[dict[str, Any] | None]:
        load = state.prepare_load(scope, session_id, filename)

        async def state_only() -> dict[str, Any] | None:
            return (await load()).state

        return state_only

    return await run_batch(scope, "load_sessions", ids, build, max_concurrency)


async def store_sessions(
    scope: Scope,
    states: Mapping[str, Mapping[str, Any]],
    filename: str,
    max_concurrency: int | None,
) -> dict[str, str]:
    """Store many sessions at once from ``{id: state}``; returns ``{id: version}``.

    Every id and state is checked first: if any is bad, a :class:`BatchError` naming
    each bad id is raised and nothing is written. The writes then run at most
    ``max_concurrency`` at a time; failures come in one BatchError with the written
    versions in ``results``. Not a transaction: what succeeded stays.
    """
    if not isinstance(states, Mapping):
        raise InvalidArgumentError(
            f"{scope.backend}: store_sessions takes a mapping of session id to state, "
            f"got {type(states).__name__}",
            backend=scope.backend,
        )

    def build(session_id: str) -> Operation[str]:
        return state.prepare_store(scope, session_id, states[session_id], filename)[1]

    return await run_batch(scope, "store_sessions", states, build, max_concurrency)


async def delete_sessions(
    scope: Scope, ids: Iterable[str], filename: str | None, max_concurrency: int | None
) -> dict[str, bool]:
    """Delete many sessions (or one ``filename`` of each): ``{id: existed}``.

    Each id is deleted as :func:`session_storage.operations.files.prepare_delete` deletes it, at
    most ``max_concurrency`` at a time. Every id is attempted; failures are reported
    per id in a :class:`BatchError` raised after all have finished, and an invalid id
    raises one before anything is deleted.
    """

    def build(session_id: str) -> Operation[bool]:
        return files.prepare_delete(scope, session_id, filename)

    return await run_batch(scope, "delete_sessions", ids, build, max_concurrency)


def prepare(
    ids: Iterable[str],
    build: Callable[[str], Operation[T]],
    *,
    action: str,
    backend: str,
    url: str,
) -> dict[str, Operation[T]]:
    """The operation of every id, in the order given; repeated ids count once.

    ``build`` checks one id's input and raises a :class:`SessionStorageError` if it
    is bad. The bad ids are collected, and if there is any the whole batch is
    refused with a BatchError whose ``errors`` name each of them: nothing runs.
    """
    if isinstance(ids, (str, bytes, bytearray)):
        raise InvalidArgumentError(
            f"{backend}: {action} takes a collection of session ids, not one "
            f"{type(ids).__name__}: {ids!r}",
            backend=backend,
        )
    if not isinstance(ids, Iterable):
        raise InvalidArgumentError(
            f"{backend}: {action} takes a collection of session ids, got {type(ids).__name__}",
            backend=backend,
        )
    ops: dict[str, Operation[T]] = {}
    bad: dict[str, Exception] = {}
    for session_id in ids:
        if not isinstance(session_id, str):
            # Not even a key for the result dict: the caller's code is wrong.
            raise InvalidKeyError(
                f"{backend}: {action}: session id must be a str, got "
                f"{type(session_id).__name__}: {session_id!r}",
                backend=backend,
            )
        if session_id in ops or session_id in bad:
            continue
        try:
            ops[session_id] = build(session_id)
        except SessionStorageError as exc:
            bad[session_id] = exc
    if bad:
        total = len(ops) + len(bad)
        headline = f"{action}: bad input for {len(bad)} of {total} sessions, nothing was done"
        raise _batch_error(headline, {}, bad, backend, url)
    return ops


async def run(
    ops: Mapping[str, Operation[T]],
    concurrency: int,
    *,
    action: str,
    backend: str,
    url: str,
) -> dict[str, T]:
    """Run every operation, at most ``concurrency`` at once; results in input order.

    Every id is attempted. If any failed, raises a BatchError with the results of
    the others and the exception of each failed id. Cancellation is not a failure
    of one id: it stops the whole batch.
    """
    results: dict[str, T] = {}
    errors: dict[str, Exception] = {}

    async def attempt(item: tuple[str, Operation[T]]) -> None:
        session_id, op = item
        try:
            results[session_id] = await op()
        except Exception as exc:  # noqa: BLE001 - reported per id, after the others ran
            errors[session_id] = exc

    await run_bounded(attempt, ops.items(), concurrency)
    if errors:
        ordered = {sid: errors[sid] for sid in ops if sid in errors}
        kept = {sid: results[sid] for sid in ops if sid in results}
        headline = f"{action}: {len(errors)} of {len(ops)} sessions failed"
        raise _batch_error(headline, kept, ordered, backend, url)
    return {sid: results[sid] for sid in ops}


def _batch_error(
    headline: str,
    results: dict[str, T],
    errors: dict[str, Exception],
    backend: str,
    url: str,
) -> BatchError[T]:
    shown = "; ".join(f"{sid!r}: {exc}" for sid, exc in list(errors.items())[:_SHOWN_ERRORS])
    more = len(errors) - _SHOWN_ERRORS
    if more > 0:
        shown += f"; and {more} more"
    message = f"{backend}: {headline} ({url}): {shown}"
    error: BatchError[T] = BatchError(
        message, results=results, errors=errors, backend=backend, url=url
    )
    error.__cause__ = next(iter(errors.values()))
    return error
