"""Google Cloud Storage through gcsfs, one JSON-API request per primitive.

gcsfs's high-level calls cost more than one request (``_info`` sends a GET and a LIST)
and its ``_pipe_file`` takes no generation precondition, so the primitives call the
JSON API through gcsfs's ``_call``, which keeps gcsfs's credentials and retries.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timezone
from typing import Any

import anyio

from ..errors import ErrorKind, classify_builtin
from .base import PAGE_SIZE, Driver, ObjectInfo, after_folder
from .loader import close_aiohttp_session, require
from .write_ids import WRITE_ID_KEY, new_write_id

__all__ = ["GCSDriver"]

_DELETE_CONCURRENCY = 16
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


class GCSDriver(Driver):
    """A bucket (and optional prefix) on Google Cloud Storage or fake-gcs-server."""

    name = "gcs"
    scheme = "gs"
    max_key_bytes = 1024
    supports_conditional_writes = True  # ifGenerationMatch on the upload
    # Batches are network-bound: 32 requests in flight keep one aiohttp session busy
    # without queueing for its connection pool (100).
    default_concurrency = 32

    @staticmethod
    def root_path(url: str) -> str:
        for scheme in ("gs://", "gcs://"):
            url = url.removeprefix(scheme)
        return url.strip("/")

    def _open(self) -> Any:
        require("gcsfs", "gcs")
        # The core class, not gcsfs.GCSFileSystem: the latter probes for zonal
        # buckets over gRPC first, which stalls ~60 s against anything but Google.
        from gcsfs.core import GCSFileSystem

        return GCSFileSystem(asynchronous=True, skip_instance_cache=True, **self.options)

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

    @staticmethod
    def _split(path: str) -> tuple[str, str]:
        bucket, _, key = path.partition("/")
        return bucket, key

    async def _call(self, method: str, path: str, *args: str, **kwargs: Any) -> Any:
        return await self.filesystem._call(method, path, *args, **kwargs)

    async def get(self, path: str) -> tuple[bytes, str | None] | None:
        fs = self.filesystem
        try:
            headers, body = await fs._call("GET", fs.url(path))
        except FileNotFoundError:
            return None
        return bytes(body), headers.get("X-Goog-Generation")

    async def put(
        self,
        path: str,
        data: bytes,
        content_type: str,
        *,
        if_version: str | None = None,
        if_absent: bool = False,
        verify_own: bool = True,
    ) -> str:
        fs = self.filesystem
        bucket, key = self._split(path)
        # ifGenerationMatch=0 means "only if absent"; the server checks it atomically
        # and answers 412, which gcsfs raises as FileExistsError.
        match = "0" if if_absent else if_version
        # Recognise this write if a lost reply makes gcsfs resend it.
        write_id = new_write_id() if match is not None and verify_own else None
        metadata = {WRITE_ID_KEY: write_id} if write_id is not None else None
        body, header = _multipart(key, data, content_type, metadata)
        try:
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
        except FileExistsError:
            if write_id is not None:
                own = await self._version_if_written_by(bucket, key, write_id)
                if own is not None:
                    return own  # our first attempt landed; its reply was lost
            raise
        return str(resp["generation"])

    async def _version_if_written_by(self, bucket: str, key: str, write_id: str) -> str | None:
        """The generation of the stored object if ``write_id`` wrote it, else ``None``."""
        try:
            obj = await self._call("GET", "b/{}/o/{}", bucket, key, json_out=True)
        except FileNotFoundError:
            return None
        if (obj.get("metadata") or {}).get(WRITE_ID_KEY) != write_id:
            return None
        return str(obj["generation"])

    async def info(self, path: str) -> ObjectInfo | None:
        bucket, key = self._split(path)
        try:
            obj = await self._call("GET", "b/{}/o/{}", bucket, key, json_out=True)
        except FileNotFoundError:
            return None
        return ObjectInfo(
            size=int(obj["size"]),
            modified=parse_rfc3339(obj["updated"]),
            # Every write makes a new generation, so this is when the current
            # content was created, not when the file first appeared.
            created=parse_rfc3339(obj["timeCreated"]) if obj.get("timeCreated") else None,
            version=str(obj["generation"]),
        )

    async def _list(self, bucket: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        while True:
            page = await self._call("GET", "b/{}/o", bucket, json_out=True, **params)
            yield page
            token = page.get("nextPageToken")
            if not token:
                return
            params["pageToken"] = token

    async def iter_children(
        self,
        folder: str,
        prefix: str = "",
        start_after: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[list[str]]:
        bucket, key = self._split(folder)
        base = f"{key}/" if key else ""
        params: dict[str, Any] = {"prefix": base + prefix, "delimiter": "/"}
        if start_after is not None:
            # startOffset is inclusive; no key of a later folder sorts before this one.
            params["startOffset"] = base + after_folder(start_after)
        cut = len(base)
        remaining = limit
        while remaining is None or remaining > 0:
            # maxResults counts folders and loose objects alike; ask for no more than
            # the caller still wants, so a page of 10 is one request for 10.
            params["maxResults"] = PAGE_SIZE if remaining is None else min(remaining, PAGE_SIZE)
            page = await self._call("GET", "b/{}/o", bucket, json_out=True, **params)
            names = [p[cut:-1] for p in page.get("prefixes", [])]
            if remaining is not None:
                names = names[:remaining]
                remaining -= len(names)
            if names:
                yield names
            token = page.get("nextPageToken")
            if not token:
                return
            params["pageToken"] = token

    async def list_files(self, folder: str) -> list[str]:
        bucket, key = self._split(folder)
        out: list[str] = []
        async for page in self._list(bucket, prefix=f"{key}/" if key else "", maxResults=1000):
            out.extend(f"{bucket}/{item['name']}" for item in page.get("items", []))
        return out

    async def has_files(self, folder: str) -> bool:
        bucket, key = self._split(folder)
        page = await self._call(
            "GET", "b/{}/o", bucket, prefix=f"{key}/" if key else "", maxResults=1, json_out=True
        )
        return bool(page.get("items"))

    async def delete_file(self, path: str, root: str) -> bool:
        bucket, key = self._split(path)
        try:
            await self._call("DELETE", "b/{}/o/{}", bucket, key)
        except FileNotFoundError:  # GCS says 404 for a missing object: one request
            return False
        return True

    async def delete_files(self, paths: Sequence[str], root: str) -> None:
        limiter = anyio.Semaphore(_DELETE_CONCURRENCY)

        async def delete(path: str) -> None:
            async with limiter:
                bucket, key = self._split(path)
                try:
                    await self._call("DELETE", "b/{}/o/{}", bucket, key)
                except FileNotFoundError:
                    pass  # deleted meanwhile: the goal is reached

        async with anyio.create_task_group() as tg:
            for path in paths:
                tg.start_soon(delete, path)
