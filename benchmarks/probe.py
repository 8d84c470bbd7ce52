"""Peak memory of one listing, measured in a fresh process.

``python -m benchmarks.probe URL OPTIONS_JSON MODE`` lists every session under
``URL`` (MODE ``iter``: ``iter_sessions``; ``list``: ``list_sessions``) and prints
``{"count", "seconds", "maxrss_kib"}``. The process's peak resident size
(``ru_maxrss``) covers everything it ever held; comparing it with a run on an empty
folder leaves what the listing itself needed.
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
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"count": count, "seconds": seconds, "maxrss_kib": maxrss}


if __name__ == "__main__":
    url, options, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    print(json.dumps(asyncio.run(main(url, options, mode))))
