"""Running the browser: one socket, uvicorn on the caller's event loop, the URL first."""

from __future__ import annotations

import asyncio
import socket
import sys
import webbrowser
from typing import Any

import uvicorn

__all__ = ["bind", "serve", "url_of"]


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (port 0: one the system picks)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def url_of(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


async def serve(app: Any, sock: socket.socket, url: str, *, open_browser: bool = False) -> None:
    """Serve ``app`` on ``sock`` until interrupted; ``url`` is printed first, alone on
    its line, so a script can read where the server is."""
    print(url, flush=True)
    print("session-storage: serving read-only; press Ctrl-C to stop", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    if open_browser:
        asyncio.get_running_loop().run_in_executor(None, webbrowser.open, url)
    await server.serve(sockets=[sock])
