"""The rules every request of the web browser passes, before any page runs.

- only GET and HEAD: anything else is 405, so no request can change the store;
- with a token, a request carries it as ``Authorization: Bearer <token>``, or as the
  cookie that ``?token=<token>`` sets once (HttpOnly, SameSite=Strict; the answer is
  a redirect to the same address without the token, so it leaves the address bar);
  anything else is 401;
- without a token (the server listens on 127.0.0.1 only), the Host header must name
  the loopback, so a page of another site cannot reach the server through a DNS name
  that resolves to 127.0.0.1;
- every answer carries a Content-Security-Policy that lets scripts and styles come
  from this server alone (no ``'unsafe-inline'``), denies framing, sends no referrer
  and is not cached.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

__all__ = ["COOKIE", "CSP", "SecurityMiddleware", "host_allowed", "needs_token"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "session_storage_token"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
_LOOPBACK = {"127.0.0.1", "localhost", "[::1]"}
TOKENLESS_HOST = "127.0.0.1"
"""The one address the server listens on without a token."""


def needs_token(host: str) -> bool:
    """Whether listening on ``host`` needs a token: any host but 127.0.0.1 does."""
    return host != TOKENLESS_HOST


def host_allowed(header: str) -> bool:
    """Whether a Host header (with or without its port) names the loopback."""
    name = header.rsplit(":", 1)[0] if not header.endswith("]") else header
    return name.lower() in _LOOPBACK


class SecurityMiddleware:
    """Wraps the app with the rules of this module's docstring."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no websockets, no lifespan: nothing to serve there
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + _HEADERS
            await send(message)

        if scope["method"] not in ("GET", "HEAD"):
            extra = [(b"allow", b"GET, HEAD")]
            return await _plain(secured, 405, "405 Method Not Allowed: read-only", extra)
        if self.token is None:
            if not host_allowed(headers.get("host", "")):
                return await _plain(secured, 403, "403 Forbidden: not a loopback Host")
            return await self.app(scope, receive, secured)
        if self._authorized(headers):
            return await self.app(scope, receive, secured)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), True)
        given = [v for k, v in query if k == "token"]
        if given and _same(given[-1], self.token):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = scope["path"] + (f"?{rest}" if rest else "")
            cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            extra = [(b"location", location.encode()), (b"set-cookie", cookie.encode())]
            return await _plain(secured, 303, "303 See Other", extra)
        return await _plain(secured, 401, "401 Unauthorized: a token is needed")

    def _authorized(self, headers: dict[str, str]) -> bool:
        assert self.token is not None
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and _same(auth[7:].strip(), self.token):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 (a malformed cookie is no token)
            return False
        morsel = cookie.get(COOKIE)
        return morsel is not None and _same(morsel.value, self.token)


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


async def _plain(
    send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = (text + "\n").encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    headers += [(b"content-length", str(len(body)).encode())] + (extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
