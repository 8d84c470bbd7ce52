"""A moto S3 server in its own process, counting the requests it answers.

Run by the benchmarks as ``python -m benchmarks.moto_server``: it prints its port on
the first line of stdout and serves until stdin closes. Running it in another process
keeps the server's work off the benchmark's CPU core and out of its GIL.

``GET /__requests__`` (answered here, not by moto) returns the requests served since
the previous such call as a JSON list of kinds (GET, PUT, HEAD, DELETE, LIST,
DELETE_BATCH, ...), and starts a new count.

Conditional writes (``If-Match``, ``If-None-Match``) are served one at a time: moto
checks the condition and then stores the object in two steps, so two racing ones
could both pass, where S3 decides them atomically (the test suite's moto serializes
every write for the same reason; here only conditional ones, so that the figures of
plain concurrent writes stay as they were).

``POST /__fill__`` with ``{"bucket", "keys", "body"}`` puts ``body`` at every key
straight into moto's store, not counted: set-up for the listing benchmarks, which
would otherwise spend a minute sending ten thousand PUTs through HTTP.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

COUNTER_PATH = "/__requests__"
FILL_PATH = "/__fill__"

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]


def kind(method: str, query: str) -> str:
    """Name a request by what it does on S3."""
    if method == "GET" and ("list-type=2" in query or "delimiter=" in query):
        return "LIST"
    if method == "POST" and "delete" in query:
        return "DELETE_BATCH"
    return method


class Counting:
    """WSGI middleware that records each request's kind before moto answers it."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.seen: list[str] = []

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == FILL_PATH:
            size = int(environ.get("CONTENT_LENGTH") or 0)
            request = json.loads(environ["wsgi.input"].read(size))
            _fill(request["bucket"], request["keys"], request["body"].encode())
            start_response("204 No Content", [])
            return [b""]
        if environ.get("PATH_INFO") == COUNTER_PATH:
            with self.lock:
                taken, self.seen = self.seen, []
            body = json.dumps(taken).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        with self.lock:
            self.seen.append(kind(environ["REQUEST_METHOD"], environ.get("QUERY_STRING", "")))
        return self.app(environ, start_response)


class AtomicConditions:
    """WSGI middleware that serves one conditional write at a time (see above)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        conditional = "HTTP_IF_MATCH" in environ or "HTTP_IF_NONE_MATCH" in environ
        if environ.get("REQUEST_METHOD") not in ("PUT", "POST") or not conditional:
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


def _fill(bucket: str, keys: list[str], body: bytes) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key in keys:
        backend.put_object(bucket, key, body)


def main() -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    app = Counting(AtomicConditions(DomainDispatcherApplication(create_backend_app)))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # the parent closes our stdin (or exits) to stop us
    server.shutdown()


if __name__ == "__main__":
    main()
