"""Backpressure: a storage holds at most ``max_pending`` unwritten background saves.

The report: against an endpoint that never answered (``timeout=2``), 100,000
``store_session_nowait`` calls were accepted in 2 s and the process grew by ~500 MB.
Past ``max_pending`` a save is now refused with TooManyPendingSavesError; a newer
state replacing a waiting one of the same file is not refused and does not count.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest

from session_storage import SessionStorage, TooManyPendingSavesError
from session_storage.concurrency.background import DEFAULT_MAX_PENDING, BackgroundSaver

from ..conftest import FaultyStorageFactory

ATTEMPTS = 50_000
RSS_BOUND_MB = 200


async def test_saves_past_max_pending_are_refused_and_replacements_are_not() -> None:
    saver = BackgroundSaver(concurrency=1, max_pending=3)
    never: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def hang() -> str:
        return await never

    accepted = [saver.submit(f"/s{i}/state.json", hang, f"s{i}", "state.json") for i in range(3)]
    await asyncio.sleep(0)  # the first write starts; two states wait
    # Replacing a waiting state does not count: as many as anyone likes.
    again = [saver.submit("/s2/state.json", hang, "s2", "state.json") for _ in range(1000)]
    assert saver.pending == 3
    with pytest.raises(TooManyPendingSavesError, match=r"max_pending=3") as info:
        saver.submit("/s9/state.json", hang, "s9", "state.json")
    assert info.value.session_id == "s9" and info.value.filename == "state.json"
    assert saver.pending == 3  # nothing was queued
    never.set_result("v1")
    await saver.flush()
    assert [h.result() for h in accepted[:1]] == ["v1"]
    assert all(h.done() for h in accepted + again)
    saver.submit("/s9/state.json", hang, "s9", "state.json")  # room again
    await saver.flush()


def test_max_pending_is_a_constructor_argument() -> None:
    storage = SessionStorage("memory://bounded", max_pending=5)
    assert storage._scope.shared.saver._max_pending == 5
    assert SessionStorage("memory://default")._scope.shared.saver._max_pending == (
        DEFAULT_MAX_PENDING
    )
    with pytest.raises(ValueError, match="max_pending"):
        SessionStorage("memory://x", max_pending=0)


CHILD = """
    import asyncio, json, resource, sys, time
    from session_storage import SessionStorage, TooManyPendingSavesError

    url, options, attempts = json.loads(sys.argv[1])
    STATE = {"messages": [{"role": "user", "content": "x" * 400}], "turn": 0}

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def now_mb():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() / 2**20

    async def main():
        storage = SessionStorage(url, options, timeout=2)
        await storage.load_session("warm-up")  # GETs pass: the client is loaded and warm
        before, current = peak_mb(), now_mb()
        accepted = refused = 0
        started = time.perf_counter()
        for i in range(attempts):
            try:
                storage.store_session_nowait(f"s{i}", dict(STATE, turn=i))
                accepted += 1
            except TooManyPendingSavesError:
                refused += 1
            if i % 1000 == 0:
                await asyncio.sleep(0)  # let writes start, as a busy server would
        elapsed = time.perf_counter() - started
        print(json.dumps({"accepted": accepted, "refused": refused, "seconds": elapsed,
                          "grew_mb": peak_mb() - before, "peak_mb": peak_mb(),
                          "held_mb": now_mb() - current}), flush=True)

    asyncio.run(main())
    import os
    os._exit(0)  # the exit drain's deadline is tested elsewhere
"""


def test_a_hung_backend_costs_bounded_memory(make_faulty_storage: FaultyStorageFactory) -> None:
    storage, proxy = make_faulty_storage("s3")
    proxy.inject("hang", methods=["PUT"])
    settings = storage.settings
    argument = json.dumps([settings.url, dict(settings.storage_options), ATTEMPTS])
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), argument],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    print(
        f"\n{ATTEMPTS} saves against a hung S3 endpoint: {figures['accepted']} accepted, "
        f"{figures['refused']} refused in {figures['seconds']:.1f} s; peak RSS grew "
        f"{figures['grew_mb']:.0f} MB (peak {figures['peak_mb']:.0f} MB), RSS now "
        f"{figures['held_mb']:.0f} MB above the start"
    )
    assert figures["accepted"] + figures["refused"] == ATTEMPTS
    # Each hung write fails at its 2 s deadline and frees a place: 8 (the background
    # concurrency) every 2 s at most.
    freed = 8 * (figures["seconds"] / 2 + 1)
    assert figures["refused"] > 0 and figures["accepted"] <= DEFAULT_MAX_PENDING + freed
    assert figures["grew_mb"] < RSS_BOUND_MB and figures["held_mb"] < RSS_BOUND_MB
