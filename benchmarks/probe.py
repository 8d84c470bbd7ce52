"""Peak memory of one listing, measured in a fresh process.

``python -m benchmarks.probe URL OPTIONS_JSON MODE`` lists every session under
``URL`` (MODE ``iter``: ``iter_sessions``; ``list``: ``list_sessions``) and prints
``{"count", "seconds", "peak_bytes"}``. The process's peak resident size covers
everything it ever held; comparing it with a run on an empty folder leaves what the
listing itself needed.

The peak is Linux's ``VmHWM``, which starts afresh with the program. ``ru_maxrss``
would not do: Linux carries it over from the parent that forked us, so a benchmark
process that had grown large would hide the probe's own peak under its own.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

from session_storage import SessionStorage


async def main(url: str, options: dict[str, object], mode: str) -> dict[str, float]:
    async with SessionStorage(url, options) as storage:
        start = time.perf_counter()
        if mode == "iter":
            count = 0
            async for _ in storage.iter_sessions():
                count += 1
        else:
            count = len(await storage.list_sessions())
        seconds = time.perf_counter() - start
    return {"count": count, "seconds": seconds, "peak_bytes": peak_bytes()}


def peak_bytes() -> int:
    """This process's peak resident size, in bytes."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024  # bytes there, KiB here


if __name__ == "__main__":
    url, options, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    print(json.dumps(asyncio.run(main(url, options, mode))))
