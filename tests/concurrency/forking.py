"""Running code in forked children with a bound, for the fork tests.

multiprocessing's "fork" start method, as pre-fork servers use: each child is a copy
of the test process, storages, loop threads and connection pools included.
"""

from __future__ import annotations

import multiprocessing
import time
import traceback
from collections.abc import Callable
from typing import Any

FORK = multiprocessing.get_context("fork")

BOUND = 15.0
"""Seconds all children of one run may take together: well under the storages' 30 s
timeout, so a child that waits for the timeout (or forever) fails the test."""


def run_forked(work: Callable[[int], Any], children: int = 2) -> list[Any]:
    """``work(i)`` in ``children`` forked processes at once; what each returned.

    A child that raises fails the test with its traceback; a child still running after
    :data:`BOUND` seconds fails it too, and is killed. What ``work`` returns must be
    picklable.
    """
    queue = FORK.SimpleQueue()

    def child(i: int) -> None:
        started = time.monotonic()
        try:
            queue.put((i, "ok", work(i), time.monotonic() - started))
        except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
            queue.put((i, "raised", traceback.format_exc(), time.monotonic() - started))

    processes = [FORK.Process(target=child, args=(i,), daemon=True) for i in range(children)]
    deadline = time.monotonic() + BOUND
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
        alive = [i for i, process in enumerate(processes) if process.is_alive()]
        assert not alive, f"children {alive} still running after {BOUND} s"
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
    outcomes: dict[int, tuple[str, Any, float]] = {}
    while not queue.empty():
        i, status, value, seconds = queue.get()
        outcomes[i] = (status, value, seconds)
    assert sorted(outcomes) == list(range(children)), f"children reported {sorted(outcomes)}"
    for i, (status, value, seconds) in sorted(outcomes.items()):
        assert status == "ok", f"child {i} raised after {seconds:.1f} s:\n{value}"
    print("child seconds:", [round(outcomes[i][2], 2) for i in range(children)])
    assert [p.exitcode for p in processes] == [0] * children
    return [outcomes[i][1] for i in range(children)]
