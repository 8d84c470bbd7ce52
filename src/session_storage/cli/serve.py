"""``session-storage serve``: checks the bind rule, opens the store, runs the browser."""

from __future__ import annotations

import argparse
import os
import re

from ..settings import StorageSettings
from ..storage import SessionStorage
from ..views import detect
from .exits import EXIT_OK, UsageError

__all__ = ["TOKEN_ENV", "serve"]

TOKEN_ENV = "SESSION_STORAGE_SERVE_TOKEN"
_TOKEN = re.compile(r"[A-Za-z0-9._~-]{8,}")


def token_for(args: argparse.Namespace) -> str | None:
    """``--token``, else SESSION_STORAGE_SERVE_TOKEN, else None; UsageError for one
    that would not survive a URL or a cookie, or for a non-loopback host without one."""
    from ..web.security import TOKENLESS_HOST, needs_token

    token = args.token or os.environ.get(TOKEN_ENV) or None
    if token is not None and not _TOKEN.fullmatch(token):
        raise UsageError(
            "the token must be at least 8 characters of A-Z a-z 0-9 . _ ~ - "
            f"(from {'--token' if args.token else TOKEN_ENV})"
        )
    if token is None and needs_token(args.host):
        raise UsageError(
            f"serve --host {args.host} needs --token (or {TOKEN_ENV}): without one it "
            f"listens on {TOKENLESS_HOST} only"
        )
    return token


async def serve(args: argparse.Namespace, settings: StorageSettings) -> int:
    from .. import web
    from ..web.server import bind, url_of

    token = token_for(args)
    async with SessionStorage.from_settings(settings) as storage:
        kind = args.view if args.view != "auto" else await detect(storage)
        app = web.create_app(storage, kind, token)
        try:
            sock = bind(args.host, args.port)
        except OSError as exc:
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
        port = sock.getsockname()[1]
        await web.serve(app, sock, url_of(args.host, port, token), open_browser=args.open)
    return EXIT_OK
