"""A counting HTTP/1.1 proxy: relays bytes to a server and records each request line.

Request counts for fake-gcs-server and Azurite are measured here, on the wire, the
same way moto's are read from its access log: every request the client sends counts,
retries included.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

__all__ = [
    "CountingProxy",
    "Handler",
    "counting_proxy",
    "serving",
    "stripping_proxy",
    "upstream_of",
]

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
"""One client connection of a proxy, from accept to close."""


def upstream_of(endpoint: str) -> tuple[str, int]:
    """The host and port a proxy in front of ``endpoint`` (``http://host:port``) dials."""
    parts = urlsplit(endpoint)
    return parts.hostname or "127.0.0.1", parts.port or 80


@contextmanager
def serving(handle: Handler, name: str) -> Iterator[int]:
    """Serve ``handle`` on 127.0.0.1 (a free port) from an event loop in its own thread.

    Yields the port. On exit every open connection is cancelled and closed inside that
    loop, so nothing is left for a closed loop to clean up.
    """
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ports: list[int] = []

    async def main() -> None:
        handlers: set[asyncio.Task[None]] = set()

        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            current = asyncio.current_task()
            assert current is not None
            handlers.add(current)
            try:
                await handle(reader, writer)
            finally:
                handlers.discard(current)
                writer.close()

        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        ports.append(server.sockets[0].getsockname()[1])
        ready.set()
        await stop.wait()
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()

    thread = threading.Thread(
        target=lambda: loop.run_until_complete(main()), name=name, daemon=True
    )
    thread.start()
    if not ready.wait(10):
        raise RuntimeError(f"{name} did not start")
    try:
        yield ports[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


class CountingProxy:
    """Requests seen so far, as (method, target); ``take()`` returns and clears them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[tuple[str, str]] = []
        self.port = 0

    def record(self, method: str, target: str) -> None:
        with self._lock:
            self._requests.append((method, target))

    def take(self) -> list[tuple[str, str]]:
        with self._lock:
            taken, self._requests = self._requests, []
        return taken


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            body += size_line + chunk
            if size == 0:
                return body
    length = int(headers.get(b"content-length", b"0"))
    return await reader.readexactly(length) if length else b""


async def _relay(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except ConnectionError:
        pass
    finally:
        dst.close()


def _counting_handler(
    proxy: CountingProxy, host: str, port: int, rewrite: Callable[[bytes], bytes] | None = None
) -> Handler:
    async def pump(client_r: asyncio.StreamReader, server_w: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await client_r.readuntil(b"\r\n\r\n")
                method, target, _ = head.split(b" ", 2)
                proxy.record(method.decode(), target.decode())
                # The head goes first: a client that sent "Expect: 100-continue" (botocore
                # on PUT) waits for the server's 100 before it sends the body.
                server_w.write(head if rewrite is None else rewrite(head))
                server_w.write(await _read_body(client_r, head))
                await server_w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            server_w.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, port)
        both = [
            asyncio.ensure_future(pump(client_r, server_w)),
            asyncio.ensure_future(_relay(server_r, client_w)),
        ]
        try:
            await asyncio.gather(*both)
        finally:
            for task in both:
                task.cancel()
            await asyncio.gather(*both, return_exceptions=True)

    return handle


@contextmanager
def counting_proxy(endpoint: str) -> Iterator[CountingProxy]:
    """Run a counting proxy in front of ``endpoint`` (``http://host:port``)."""
    proxy = CountingProxy()
    with serving(_counting_handler(proxy, *upstream_of(endpoint)), "counting proxy") as port:
        proxy.port = port
        yield proxy


def _without_headers(names: frozenset[bytes]) -> Callable[[bytes], bytes]:
    def rewrite(head: bytes) -> bytes:
        lines = head.split(b"\r\n")
        kept = [lines[0]] + [
            line for line in lines[1:] if line.partition(b":")[0].strip().lower() not in names
        ]
        return b"\r\n".join(kept)

    return rewrite


@contextmanager
def stripping_proxy(endpoint: str, *headers: str) -> Iterator[CountingProxy]:
    """A counting proxy in front of ``endpoint`` that drops the request ``headers`` (any
    case) on the way: a store that ignores them, as some S3-compatible ones ignore
    ``If-Match`` and ``If-None-Match``."""
    names = frozenset(h.lower().encode() for h in headers)
    proxy = CountingProxy()
    handler = _counting_handler(proxy, *upstream_of(endpoint), _without_headers(names))
    with serving(handler, "stripping proxy") as port:
        proxy.port = port
        yield proxy
