"""Two writers on one root, as two processes would be: two blocking storages of the same
settings, and calls started together in threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from session_storage import SessionStorage, SyncSessionStorage

__all__ = ["at_once", "two_storages"]


@contextmanager
def two_storages(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[SyncSessionStorage, SyncSessionStorage]]:
    """Two storages of one fresh root on ``backend`` ("file" or "s3", on moto)."""
    if backend == "file":
        settings = SessionStorage(tmp_path).settings
    else:
        settings = request.getfixturevalue("make_s3_storage")().settings
    with (
        SyncSessionStorage.from_settings(settings) as first,
        SyncSessionStorage.from_settings(settings) as second,
    ):
        yield first, second


def at_once(*calls: Callable[[], object]) -> None:
    """Run ``calls`` each in its own thread, all released together; re-raise the first
    error any of them raised."""
    gate = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        gate.wait()
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
