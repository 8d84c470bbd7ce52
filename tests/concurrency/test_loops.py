"""One storage, two event loops in two threads at the same moment: a clear error.

A network filesystem's connections belong to the loop that opened them. Successive
loops (``asyncio.run`` twice) get fresh connections; two loops at once must not
close each other's, so the second one is refused while the first has an operation in
flight.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from session_storage import NotSupportedError, SessionStorage

from ..support.cloud import FaultyStorageFactory


def _wait_for(check: Callable[[], bool], limit: float = 30.0) -> None:
    """Wait (bounded) until ``check()`` holds: a condition, not a fixed pause."""
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


@pytest.mark.parametrize("backend", ["s3", "azure"])
def test_a_second_loop_is_refused_while_the_first_runs_an_operation(
    make_faulty_storage: FaultyStorageFactory, backend: str
) -> None:
    base, proxy = make_faulty_storage(backend)
    settings = base.settings
    # The first loop's call is held in the proxy until the second one was refused; the
    # deadline only bounds a test that goes wrong.
    storage = SessionStorage(settings.url, settings.storage_options, timeout=60)
    asyncio.run(storage.store_session("s", {"n": 1}))  # opens on a first, finished loop

    proxy.inject("hold")  # the next requests wait in the proxy until released
    outcome: list[BaseException | object] = []

    def first() -> None:
        try:
            outcome.append(asyncio.run(storage.load_session("s")))
        except BaseException as exc:  # noqa: BLE001 - the outcome is asserted below
            outcome.append(exc)

    worker = threading.Thread(target=first)
    worker.start()
    _wait_for(lambda: proxy.applied["hold"] >= 1)

    with pytest.raises(NotSupportedError) as refused:
        asyncio.run(storage.load_session("s"))
    message = str(refused.value)
    assert "another event loop" in message and "'s'" in message
    assert refused.value.backend == backend

    proxy.release()  # the first loop's request goes on to the server
    worker.join(90)
    assert not worker.is_alive()
    # The first loop's call, unharmed by the refused one: it loads the state.
    loaded_first = outcome[0]
    assert isinstance(loaded_first, dict) and loaded_first["n"] == 1, outcome

    async def later() -> object:
        async with storage:
            return await storage.load_session("s")

    loaded = asyncio.run(later())
    assert isinstance(loaded, dict) and loaded["n"] == 1
