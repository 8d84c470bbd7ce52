"""Batch calls: one operation per session id, run with bounded concurrency.

A batch is built in two steps. :func:`prepare` checks the input of every id (the id
itself, the state to store) and builds its operation; if any input is bad it raises
one :class:`BatchError` naming every bad id, before anything is sent. :func:`run`
then runs the operations, at most ``concurrency`` at a time, attempts every one of
them whatever happens to the others, and raises a :class:`BatchError` carrying the
results of the ids that succeeded and the exception of each id that failed.

Each operation is exactly what the single call does for that id, so a batch returns
the same results and raises the same errors, per id, as the single calls would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TypeVar

from .bounded import run_bounded
from .errors import BatchError, InvalidArgumentError, InvalidKeyError, SessionStorageError

__all__ = ["Operation", "check_concurrency", "prepare", "run"]

T = TypeVar("T")
Operation = Callable[[], Awaitable[T]]
"""One id's share of a batch: a call that performs it when awaited."""

_SHOWN_ERRORS = 3  # how many per-id errors a BatchError message spells out


def check_concurrency(value: object) -> int:
    """``value`` if it is a usable concurrency bound (an int of at least 1)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"max_concurrency must be an int >= 1, got {value!r}")
    return value


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
