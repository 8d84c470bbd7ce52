"""A fault-injecting HTTP/1.1 proxy between a storage client and an emulator.

The proxy reads each request whole (head and body, by ``Content-Length`` or chunked
encoding), so it can act per request on a keep-alive connection, and decides what to
do with it from the rules the test set:

- ``"drop_reply"``: forward the request, wait for the server's whole reply, then close
  the client's connection without sending it. The server applied the request; the
  client saw the connection die (the "lost reply" of a real network).
- ``"hang"``: read the request and never answer, until the proxy stops.
- ``"hold"``: read the request and keep it until :meth:`FaultProxy.release`, then
  forward it as usual: a request in flight for exactly as long as the test needs.
- ``"cut"``: forward the head and half of the body, then close both connections: the
  server never gets a whole request, the client gets no reply.
- ``"delay"``: wait ``seconds``, then forward as usual.

Rules are tried in the order they were added; the first whose method matches, whose
remaining ``count`` is not used up and whose dice roll (a seeded RNG, so a run can be
repeated) hits decides. Requests no rule takes pass through. Every decision is
counted in :attr:`FaultProxy.applied`.

The proxy runs its own event loop on a thread and closes every connection it opened
when its ``with`` block ends.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from .proxy import Handler, serving, upstream_of

__all__ = ["Action", "FaultProxy", "fault_proxy"]

Action = Literal["pass", "drop_reply", "hang", "hold", "cut", "delay"]

_NO_BODY_STATUS = (204, 304)


@dataclass
class _Rule:
    action: Action
    methods: frozenset[str] | None
    probability: float
    remaining: int | None
    seconds: float


class FaultProxy:
    """The control panel of one running proxy; thread-safe."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._random = random.Random(seed)
        self.applied: Counter[str] = Counter()
        """How many requests each action took, ``"pass"`` included."""
        self.port = 0
        self._holding: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._released = False

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``: point the client here instead of at the server."""
        return f"http://127.0.0.1:{self.port}"

    def inject(
        self,
        action: Action,
        *,
        methods: Collection[str] | None = None,
        probability: float = 1.0,
        count: int | None = None,
        seconds: float = 0.0,
    ) -> None:
        """Apply ``action`` to requests of ``methods`` (all if None).

        Each matching request is hit with ``probability``; with ``count`` the rule
        applies that many times and then retires. ``seconds`` is the pause of
        ``"delay"``. A ``"hold"`` rule added after :meth:`release` holds again.
        """
        rule = _Rule(
            action,
            None if methods is None else frozenset(m.upper() for m in methods),
            probability,
            count,
            seconds,
        )
        with self._lock:
            self._rules.append(rule)
            if action == "hold":
                self._released = False

    def clear(self) -> None:
        """Remove every rule: from now on every request passes."""
        with self._lock:
            self._rules.clear()

    def release(self) -> None:
        """Forward every held request and hold no more: removes every rule, as
        :meth:`clear` does."""
        with self._lock:
            self._rules.clear()
            self._released = True
            holding, self._holding = self._holding, []
        for loop, event in holding:
            loop.call_soon_threadsafe(event.set)

    async def hold(self) -> None:
        """Wait, in the proxy's loop, until :meth:`release` is called."""
        event = asyncio.Event()
        with self._lock:
            if self._released:
                return
            self._holding.append((asyncio.get_running_loop(), event))
        await event.wait()

    def decide(self, method: str) -> tuple[Action, float]:
        """The action for the next request of ``method``, and its delay."""
        with self._lock:
            for rule in self._rules:
                if rule.methods is not None and method not in rule.methods:
                    continue
                if rule.remaining is not None and rule.remaining <= 0:
                    continue
                if self._random.random() >= rule.probability:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                self.applied[rule.action] += 1
                return rule.action, rule.seconds
            self.applied["pass"] += 1
            return "pass", 0.0


# -- HTTP/1.1 framing -------------------------------------------------------------------


def _headers(head: bytes) -> dict[bytes, bytes]:
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name:
            headers[name.strip().lower()] = value.strip()
    return headers


def _without_header(head: bytes, name: bytes) -> bytes:
    lines = head.split(b"\r\n")
    kept = [ln for ln in lines[1:] if ln.partition(b":")[0].strip().lower() != name]
    return b"\r\n".join([lines[0], *kept])


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        body += size_line
        if size == 0:
            # Optional trailers, then the empty line that ends the message.
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                body += line
            return body + b"\r\n"
        body += await reader.readexactly(size + 2)


async def _read_body(reader: asyncio.StreamReader, headers: dict[bytes, bytes]) -> bytes:
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        return await _read_chunked(reader)
    length = int(headers.get(b"content-length", b"0"))
    return await reader.readexactly(length) if length else b""


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[bytes, bool]:
    """One whole response (interim 1xx ones included) and whether the connection stays."""
    out = b""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        headers = _headers(head)
        out += head
        if 100 <= status < 200:
            continue  # "100 Continue": the final response follows
        keep = headers.get(b"connection", b"").lower() != b"close"
        if method == "HEAD" or status in _NO_BODY_STATUS:
            return out, keep
        if b"content-length" in headers or b"transfer-encoding" in headers:
            return out + await _read_body(reader, headers), keep
        return out + await reader.read(), False  # delimited by the end of the connection


# -- serving ------------------------------------------------------------------------------


def _fault_handler(proxy: FaultProxy, host: str, port: int) -> Handler:

    async def exchange(
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        upstream: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
    ) -> bool:
        """Handle one request; whether the client connection stays open."""
        try:
            head = await client_r.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return False
        method = head.split(b" ", 1)[0].decode()
        headers = _headers(head)
        if headers.get(b"expect", b"").lower() == b"100-continue":
            # The client (botocore) waits for this before sending the body. Answer it
            # here and forward the request without the header, so the server sends
            # no interim reply of its own.
            client_w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await client_w.drain()
            head = _without_header(head, b"expect")
        body = await _read_body(client_r, headers)
        action, seconds = proxy.decide(method)
        if action == "hang":
            await asyncio.Event().wait()  # until the proxy stops and cancels us
        if action == "hold":
            await proxy.hold()
        if action == "delay":
            await asyncio.sleep(seconds)
        if not upstream:
            server_r, server_w = await asyncio.open_connection(host, port)
            upstream.append((server_r, server_w))
        server_r, server_w = upstream[0]
        if action == "cut":
            server_w.write(head + body[: len(body) // 2])
            await server_w.drain()
            return False
        server_w.write(head + body)
        await server_w.drain()
        response, keep = await _read_response(server_r, method)
        if action == "drop_reply":
            return False  # the server applied it; the client never hears
        client_w.write(response)
        await client_w.drain()
        return keep

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        upstream: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        try:
            while await exchange(client_r, client_w, upstream):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # either side went away: end this connection
        finally:
            for _, writer in upstream:
                writer.close()

    return handle


@contextmanager
def fault_proxy(endpoint: str, seed: int = 0) -> Iterator[FaultProxy]:
    """Run a fault-injecting proxy in front of ``endpoint`` (``http://host:port``)."""
    proxy = FaultProxy(seed)
    with serving(_fault_handler(proxy, *upstream_of(endpoint)), "fault proxy") as port:
        proxy.port = port
        yield proxy
