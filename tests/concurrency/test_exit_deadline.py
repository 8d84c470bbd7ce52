"""Exit is bounded: the exit hooks stop at ``exit_timeout`` or on Ctrl-C and report the
background saves left unwritten.

The report: 160 saves pending against an endpoint that never answered (``timeout=2``)
kept interpreter exit busy for 41 s, longer with more saves, and Ctrl-C did not stop
it. Each test here runs a child interpreter against S3 behind a fault proxy whose
every PUT hangs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from session_storage.concurrency import exit_budget

from ..conftest import FaultyStorageFactory

SAVES = 500
EXIT_TIMEOUT = 3.0
MARGIN = 8.0
"""Seconds past the deadline allowed for stopping the loops and reporting."""

ASYNC_CHILD = """
    import asyncio, json, sys
    from session_storage import SessionStorage

    url, options, saves = json.loads(sys.argv[1])

    async def main():
        storage = SessionStorage(url, options, timeout=2)
        for i in range(saves):
            storage.store_session_nowait(f"s{i}", {"i": i})
        return storage  # asyncio.run ends with every save pending

    kept = asyncio.run(main())
    print("leaving", flush=True)
"""

SYNC_CHILD = """
    import json, sys
    from session_storage import SyncSessionStorage

    url, options, saves = json.loads(sys.argv[1])
    storage = SyncSessionStorage(url, options, timeout=2)
    for i in range(saves):
        storage.store_session_nowait(f"s{i}", {"i": i})
    print("leaving", flush=True)  # left open: its loop thread is closed at exit
"""


def _start(
    make_faulty_storage: FaultyStorageFactory, code: str, exit_timeout: float
) -> subprocess.Popen[str]:
    storage, proxy = make_faulty_storage("s3")
    proxy.inject("hang", methods=["PUT"])
    settings = storage.settings
    argument = json.dumps([settings.url, dict(settings.storage_options), SAVES])
    env = {**os.environ, exit_budget.ENV_VAR: str(exit_timeout)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), argument],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _unwritten_and_failed(err: str) -> tuple[int, int]:
    """The count the stderr report gives, and how many failures were logged."""
    counted = re.findall(r"session-storage: (\d+) background saves of .* were not written", err)
    assert len(counted) == 1, err
    failed = sum(1 for line in err.splitlines() if "background save failed" in line)
    return int(counted[0]), failed


@pytest.mark.parametrize("code", [ASYNC_CHILD, SYNC_CHILD], ids=["asyncio.run", "sync"])
def test_exit_ends_by_the_deadline_and_counts_what_was_not_written(
    make_faulty_storage: FaultyStorageFactory, code: str
) -> None:
    child = _start(make_faulty_storage, code, EXIT_TIMEOUT)
    assert child.stdout is not None
    assert child.stdout.readline() == "leaving\n"
    leaving = time.perf_counter()
    _, err = child.communicate(timeout=120)
    took = time.perf_counter() - leaving
    unwritten, failed = _unwritten_and_failed(err)
    print(
        f"\nexit with {SAVES} saves pending on a hung endpoint, exit_timeout="
        f"{EXIT_TIMEOUT:g}: {took:.1f} s; {unwritten} reported unwritten, {failed} failed"
    )
    assert child.returncode == 0, err
    assert took < EXIT_TIMEOUT + MARGIN
    assert unwritten + failed == SAVES  # every save is accounted for; none was written
    assert "the exit deadline (3 s, SESSION_STORAGE_EXIT_TIMEOUT) passed" in err
    # The ERROR log names the first 20 by session and file, and counts the rest.
    assert f"and {unwritten - 20} more" in err and "file 'state.json'" in err
    assert "Traceback" not in err


def test_ctrl_c_during_the_exit_drain_ends_it_within_seconds(
    make_faulty_storage: FaultyStorageFactory,
) -> None:
    child = _start(make_faulty_storage, ASYNC_CHILD, 600)
    assert child.stderr is not None
    for line in child.stderr:  # the drain logs this right before it starts writing
        if f"writing {SAVES} background saves" in line:
            break
    else:
        pytest.fail(f"the exit drain never started: rc={child.wait()}")
    child.send_signal(signal.SIGINT)
    interrupted = time.perf_counter()
    _, err = child.communicate(timeout=120)
    took = time.perf_counter() - interrupted
    unwritten, failed = _unwritten_and_failed(err)
    print(f"\nCtrl-C during the exit drain: the process ended {took:.1f} s later")
    assert took < 5.0
    assert unwritten + failed == SAVES
    assert "interrupted (Ctrl-C)" in err


def test_exit_timeout_is_checked_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(exit_budget, "_configured", exit_budget._UNSET)
    monkeypatch.delenv(exit_budget.ENV_VAR, raising=False)
    assert exit_budget.exit_timeout() == exit_budget.DEFAULT_EXIT_TIMEOUT == 30.0
    monkeypatch.setenv(exit_budget.ENV_VAR, "2.5")
    assert exit_budget.exit_timeout() == 2.5
    monkeypatch.setenv(exit_budget.ENV_VAR, "none")
    assert exit_budget.exit_timeout() is None
    monkeypatch.setenv(exit_budget.ENV_VAR, "soon")
    assert exit_budget.exit_timeout() == 30.0  # logged, never raised: it is read at exit
    exit_budget.set_exit_timeout(7)
    assert exit_budget.exit_timeout() == 7.0  # the call wins over the environment
    with pytest.raises(ValueError, match="exit_timeout"):
        exit_budget.set_exit_timeout(-1)
