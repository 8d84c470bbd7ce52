"""Memory of an appending process: what the event caches count is what they hold.

orjson returns ``bytes`` that keep their whole build buffer (4 KiB for a 95-byte
event), which ``sys.getsizeof`` does not show: a cache bounded by the events' lengths
held 50 times its bound, and a process appending small events grew by about 4 MB per
1,000 of them.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc

import orjson

from session_storage.core.document import fitted, utc_now_iso
from session_storage.events.cache import StreamCache
from session_storage.events.documents import Doc, Events, encode_event

ITEM = {"text": "x" * 43, "n": 1}
"""60 bytes of JSON."""


def test_item_is_60_bytes() -> None:
    assert len(orjson.dumps(ITEM)) == 60


def test_fitted_bytes_hold_their_length_only() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [fitted(orjson.dumps({"t": utc_now_iso(), "v": ITEM})) for _ in range(1000)]
        held = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    assert kept[0] == orjson.dumps({"t": kept[0][6:38].decode(), "v": ITEM})
    print(f"\n{held:.0f} bytes held per fitted {len(kept[0])}-byte event")
    assert held < 2 * len(kept[0])


def _segment(first: int) -> Doc:
    now = utc_now_iso()
    return Doc(first, Events.of(tuple(encode_event(ITEM, now) for _ in range(128))), None, "n")


def test_a_full_segment_cache_holds_about_its_bound() -> None:
    """Filled with five times what it may hold, the cache keeps between 70% and 115% of
    its bound in memory as tracemalloc measures it (the documents' own objects)."""
    bound = 2 * 1024 * 1024
    cache = StreamCache(bound)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(400):  # about 5 x 2 MiB of 128-event segments
            cache.segments.put(f"seg-{i}", _segment(128 * i))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    kept = len(cache.segments.keys())
    print(f"\n{kept} of 400 segments kept, {held / 2**20:.2f} MiB held, bound 2 MiB")
    assert 0 < kept < 400
    assert 0.7 * bound < held < 1.15 * bound


CHILD = """
    import asyncio, resource, sys, tempfile
    from session_storage import SessionStorage

    def rss_mb():
        # Peak RSS. Linux carries ru_maxrss over from the parent across exec (here the
        # test runner's, larger than this child's): VmHWM starts afresh with the exec.
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    async def main(url, options, warm, total):
        async with SessionStorage(url, storage_options=options) as storage:
            item = {"text": "x" * 43, "n": 1}
            for _ in range(warm):
                await storage.append_event("s", "events", item)
            low = rss_mb()
            for _ in range(total - warm):
                await storage.append_event("s", "events", item)
            high = rss_mb()
            assert await storage.event_count("s", "events") == total
            print(low, high)

    url = sys.argv[1] if sys.argv[1] != "file" else tempfile.mkdtemp()
    options = {"fsync": False} if sys.argv[1] == "file" else None
    asyncio.run(main(url, options, int(sys.argv[2]), int(sys.argv[3])))
"""


def _growth(url: str, warm: int, total: int) -> tuple[float, float]:
    """Peak RSS (MB) of a child after ``warm`` appends and after ``total``."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), url, str(warm), str(total)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    low, high = map(float, done.stdout.split())
    return low, high


def test_appending_grows_memory_by_little_per_event() -> None:
    """20,000 appends of a 60-byte item: peak RSS grows < 1 MB per 1,000 events past
    the first 2,000 (4.2 MB per 1,000 before the fix) on memory and local disk."""
    for url, warm, total in (("memory://appending", 2_000, 20_000), ("file", 2_000, 12_000)):
        low, high = _growth(url, warm, total)
        slope = (high - low) / (total - warm) * 1000
        print(
            f"\n{url}: peak RSS {low:.1f} MB after {warm} appends, {high:.1f} MB after "
            f"{total}: {slope:.2f} MB per 1,000 events"
        )
        assert slope < 1.0
