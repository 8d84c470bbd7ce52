"""A child process that appends to an event stream and rewrites a state without pause,
for copies taken of a store that is in use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from session_storage import SyncSessionStorage

SESSION, STREAM = "chat", "log"
READY_AT = 300  # events before the writer says it runs: two sealed segments below
BATCHES = (3, 17, 40, 1, 70)  # batch sizes taken in turn: many seals, some of several

# The event at index i holds the item i, so any consistent snapshot is range(k). The
# state says how many events were appended before it, padded to a size that changes
# with it, so a half-written copy of it would not parse or would not add up.
_WRITER = """
import json, os, sys
from session_storage import SyncSessionStorage
url, options, stop = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
batches, ready_at, cut_every = json.loads(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
with SyncSessionStorage(url, options) as storage:
    count, turn, said = storage.event_count("chat", "log"), 0, False
    while not os.path.exists(stop):
        size = batches[turn % len(batches)]
        turn += 1
        assert storage.append_events("chat", "log", list(range(count, count + size))) == count
        count += size
        if cut_every and turn % cut_every == 0 and count > ready_at:
            # Drop the last 150 events (a sealed segment leaves the chain and is deleted);
            # the items appended next are their indices again.
            storage.truncate_events("chat", "log", count - 150)
            count -= 150
        storage.store_session("chat", {"count": count, "turn": turn, "pad": "x" * (count % 997)})
        if count >= ready_at and not said:
            print("ready", flush=True)
            said = True
print(count, flush=True)
"""


@dataclass
class Writer:
    """The running writer: ``appended`` is known once it has stopped."""

    url: str
    options: dict[str, Any]
    appended: int = -1

    def count(self) -> int:
        with SyncSessionStorage(self.url, self.options) as storage:
            return storage.event_count(SESSION, STREAM)

    def wait_for_appends(self, appends: int, timeout: float = 30.0) -> None:
        """Wait until the writer has made ``appends`` more appends (as its state says)."""
        deadline = time.monotonic() + timeout
        with SyncSessionStorage(self.url, self.options) as storage:
            start = _turn(storage.load_session(SESSION))
            while _turn(storage.load_session(SESSION)) < start + appends:
                assert time.monotonic() < deadline, "the writer stopped appending"
                time.sleep(0.02)


def _turn(state: dict[str, Any] | None) -> int:
    assert state is not None
    turn: int = state["turn"]
    return turn


@contextmanager
def appending(
    url: str, options: dict[str, Any], workdir: Path, cut_every: int = 0
) -> Iterator[Writer]:
    """Run a writer on ``url`` until the block ends; it has appended READY_AT events
    when the block starts, and keeps appending until it ends. With ``cut_every``, every
    that many appends it also truncates the last 150 events (and appends them again)."""
    stop = workdir / f"stop-{os.getpid()}-{time.monotonic_ns()}"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _WRITER,
            url,
            json.dumps(options),
            str(stop),
            json.dumps(BATCHES),
            str(READY_AT),
            str(cut_every),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    writer = Writer(url, options)
    try:
        assert child.stdout is not None and child.stderr is not None
        line = child.stdout.readline()
        assert line == "ready\n", f"the writer did not start: {line!r} {child.stderr.read()!r}"
        yield writer
    finally:
        stop.touch()
        out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    writer.appended = int(out.split()[-1])


def check_snapshot(events: list[Any], state: Any, at_least: int) -> None:
    """A copied stream is the first k items the writer appended, k >= ``at_least``,
    and the copied state is one the writer stored, whole."""
    assert len(events) >= at_least
    assert events == list(range(len(events)))
    assert isinstance(state, dict)
    assert state["pad"] == "x" * (state["count"] % 997)
