"""Google Cloud Storage through gcsfs, one JSON-API request per primitive.

gcsfs's high-level calls cost more than one request (``_info`` sends a GET and a LIST)
and its ``_pipe_file`` takes no generation precondition, so the primitives call the
JSON API through gcsfs's ``_call``, which keeps gcsfs's credentials and retries.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from ..core.errors import ErrorKind, classify_builtin
from .base import ObjectInfo, after_folder
from .capabilities import CONDITIONAL
from .clients import close_aiohttp_session, require
from .object_store import ListPage, ListQuery, ObjectHead, ObjectStoreDriver
from .registry import GCS
from .write_ids import WriteCondition

__all__ = ["GCSDriver"]

_RFC3339 = re.compile(
    r"(?P<base>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?(?P<tz>Z|[+-]\d{2}:\d{2})?"
)


def parse_rfc3339(value: str) -> datetime:
    """GCS timestamps (``2026-11-23T10:00:00.123456789Z``) as aware UTC datetimes.

    ``datetime.fromisoformat`` on Python 3.10 takes neither ``Z`` nor nanoseconds.
    """
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    tz = match["tz"] or "Z"
    text = f"{match['base']}.{frac}{'+00:00' if tz == 'Z' else tz}"
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def _object_info(obj: dict[str, Any]) -> ObjectInfo:
    """An object resource of the JSON API (from a GET or a listing) as ObjectInfo."""
    return ObjectInfo(
        size=int(obj["size"]),
        modified=parse_rfc3339(obj["updated"]),
        # Every write makes a new generation, so this is when the current content was
        # created, not when the file first appeared.
        created=parse_rfc3339(obj["timeCreated"]) if obj.get("timeCreated") else None,
        version=str(obj["generation"]),
    )


def _multipart(
    key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None
) -> tuple[bytes, str]:
    # A random boundary: gcsfs's fixed one breaks on payloads that contain it.
    boundary = uuid.uuid4().hex
    b = boundary.encode()
    resource: dict[str, Any] = {"name": key, "contentType": content_type}
    if metadata:
        resource["metadata"] = metadata
    body = b"".join(
        [
            b"--" + b + b"\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n",
            json.dumps(resource).encode(),
            b"\r\n--" + b + b"\r\nContent-Type: " + content_type.encode() + b"\r\n\r\n",
            data,
            b"\r\n--" + b + b"--\r\n",
        ]
    )
    return body, f'multipart/related; boundary="{boundary}"'


class GCSDriver(ObjectStoreDriver):
    """A bucket (and optional prefix) on Google Cloud Storage or fake-gcs-server."""

    backend = GCS
    capabilities = replace(CONDITIONAL, notes="ifGenerationMatch on the upload (0: create-only)")
    # One DELETE request per key, many in flight.
    delete_batch_size = 1
    delete_concurrency = 16

    def _open(self) -> Any:
        require("gcsfs", GCS)
        # The core class, not gcsfs.GCSFileSystem: the latter probes for zonal
        # buckets over gRPC first, which stalls ~60 s against anything but Google.
        from gcsfs.core import GCSFileSystem

        return GCSFileSystem(asynchronous=True, skip_instance_cache=True, **self.options)

    def endpoint(self) -> str | None:
        location = getattr(self._fs, "_location", None)
        return None if location is None else str(location)

    async def _close(self, fs: Any) -> None:
        session = getattr(fs, "_session", None)
        fs._session = None
        if session is not None and not session.closed:
            await session.close()

    def _abandon(self, fs: Any) -> None:
        session = getattr(fs, "_session", None)
        fs._session = None
        if session is not None:
            close_aiohttp_session(session)

    def classify(self, exc: BaseException) -> ErrorKind:
        code = getattr(exc, "code", None)
        if code in (401, 403) or str(exc).startswith("Forbidden"):
            return "denied"
        names = {cls.__name__ for cls in type(exc).__mro__}
        # aiohttp's ClientConnectionError covers refused connects, a server that
        # closed the connection before answering, and socket timeouts.
        if names & {"ClientConnectionError", "ClientConnectorError", "ServerDisconnectedError"}:
            return "unreachable"
        return classify_builtin(exc)

    async def _call(self, method: str, path: str, *args: str, **kwargs: Any) -> Any:
        return await self.filesystem._call(method, path, *args, **kwargs)

    async def get(self, path: str) -> tuple[bytes, str | None] | None:
        fs = self.filesystem
        try:
            headers, body = await fs._call("GET", fs.url(path))
        except FileNotFoundError:
            return None
        return bytes(body), headers.get("X-Goog-Generation")

    async def _put(
        self, path: str, data: bytes, content_type: str, condition: WriteCondition | None
    ) -> str:
        fs = self.filesystem
        bucket, key = self._split(path)
        # ifGenerationMatch=0 means "only if absent"; the server checks it atomically
        # and answers 412, which gcsfs raises as FileExistsError.
        match = None
        if condition is not None:
            match = "0" if condition.if_absent else condition.if_version
        metadata = condition.metadata() if condition is not None else None
        body, header = _multipart(key, data, content_type, metadata)
        resp = await fs._call(
            "POST",
            f"{fs._location}/upload/storage/v1/b/{{}}/o",
            bucket,
            uploadType="multipart",
            ifGenerationMatch=match,
            headers={"Content-Type": header},
            data=body,
            json_out=True,
        )
        return str(resp["generation"])

    async def _head(self, path: str) -> ObjectHead | None:
        # One GET of the object resource (its metadata) from the JSON API.
        bucket, key = self._split(path)
        try:
            obj: dict[str, Any] = await self._call("GET", "b/{}/o/{}", bucket, key, json_out=True)
        except FileNotFoundError:
            return None
        return ObjectHead(_object_info(obj), obj.get("metadata"))

    async def _list_page(self, query: ListQuery) -> ListPage:
        params: dict[str, Any] = {"prefix": query.prefix, "maxResults": query.max_keys}
        if query.delimiter:
            params["delimiter"] = "/"
        if query.start_after is not None:
            # startOffset is inclusive; no key of a later folder sorts before this one.
            params["startOffset"] = after_folder(query.start_after)
        if query.token is not None:
            params["pageToken"] = query.token
        page = await self._call("GET", "b/{}/o", query.bucket, json_out=True, **params)
        return ListPage(
            folders=list(page.get("prefixes", [])),
            files=[(item["name"], _object_info(item)) for item in page.get("items", [])],
            token=page.get("nextPageToken") or None,
        )

    async def delete_file(self, path: str) -> bool:
        bucket, key = self._split(path)
        try:
            await self._call("DELETE", "b/{}/o/{}", bucket, key)
        except FileNotFoundError:  # GCS says 404 for a missing object: one request
            return False
        return True

    async def _delete_batch(self, bucket: str, keys: list[str]) -> None:
        for key in keys:
            await self.delete_file(f"{bucket}/{key}")  # a missing key is no error
