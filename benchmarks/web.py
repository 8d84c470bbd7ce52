"""(8) ``session-storage serve``: the time of each page on a large store.

A store of 100,000 sessions, one of which holds a 10,000-event stream and an OpenAI
Agents conversation; each page is asked of the web app in process (no socket), so
the figure is the server's time: the store's reads, the view and the template. The
target: every page under 300 ms on local disk. Other backends are not timed here:
their requests per page are counted in ``tests/web/test_web_app.py``.
"""

from __future__ import annotations

import statistics
import time

import anyio.to_thread

from .backends import Backend
from .listing import _write_folders
from .measure import Row, log, ms

SESSIONS = 100_000
EVENTS = 10_000
TARGET = 0.300
PAGES = {
    "home": "/",
    "home, a page in the middle": "/?after=s050000",
    "search by prefix": "/?prefix=s0999",
    "a session": "/session?id=big",
    "a state": "/file?session=big&name=state.json",
    "a stream, newest page": "/stream?session=big&name=log",
    "a stream, oldest page": "/stream?session=big&name=log&before=100",
    "a conversation": "/stream?session=big&name=openai-agents",
}


async def run(backend: Backend, runs: int, scale: float = 1.0) -> list[Row]:
    if backend.name != "file":
        return []
    import httpx

    from session_storage.web import create_app

    sessions = max(1000, int(SESSIONS * scale))
    storage = backend.storage(bulk=True)
    async with storage:
        started = time.perf_counter()
        root = storage.url.removeprefix("file://")
        ids = [f"s{i:06d}" for i in range(sessions)]
        await anyio.to_thread.run_sync(_write_folders, root, ids)
        await storage.store_session("big", {"user": "ada", "turns": list(range(50))})
        for start in range(0, EVENTS, 500):
            items = [{"n": n, "text": f"event {n}"} for n in range(start, start + 500)]
            await storage.append_events("big", "log", items)
        items = [{"role": "user", "content": f"message {n}"} for n in range(200)]
        await storage.append_events("big", "openai-agents", items)
        log(f"  web on file: {sessions} sessions set up in {time.perf_counter() - started:.0f} s")
        app = create_app(storage, "plain", None)
        transport = httpx.ASGITransport(app=app)
        rows = []
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for name, path in PAGES.items():
                await client.get(path)  # warm: the first read of a stream walks its chain
                times = []
                for _ in range(max(3, runs)):
                    start = time.perf_counter()
                    response = await client.get(path)
                    times.append(time.perf_counter() - start)
                    assert response.status_code == 200, (path, response.status_code)
                median = statistics.median(times)
                rows.append(
                    Row(
                        bench=f"web page: {name}",
                        backend=backend.name,
                        ours=ms(median),
                        target="< 300 ms",
                        met=median < TARGET,
                        note=f"{sessions} sessions, a {EVENTS}-event stream; {backend.bulk_note}",
                    )
                )
    return rows
