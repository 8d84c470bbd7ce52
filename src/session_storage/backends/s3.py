"""Amazon S3 and S3-compatible stores (MinIO, R2, Ceph) through s3fs.

Every primitive is one request through s3fs's ``_call_s3`` (which keeps s3fs's
credentials, retries and error translation): s3fs's own ``_cat_file`` would send a
HEAD before each GET, and its ``_rm`` on a glob lists once per match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..core.errors import ErrorKind, classify_builtin
from .base import ObjectInfo, after_folder
from .capabilities import CONDITIONAL
from .clients import botocore_session, close_aiohttp_session, require
from .object_store import ListPage, ListQuery, ObjectHead, ObjectStoreDriver
from .registry import S3
from .write_ids import WriteCondition

__all__ = ["S3Driver"]

POOL_CONNECTIONS = 64
"""Default connection pool size, and so the default concurrency of batch calls.

botocore's default pool holds 10 connections, which caps a batch at 10 requests in
flight: at S3's 10-30 ms per small request that is a few hundred per second. 64 in
flight reach a few thousand per second, still below S3's per-prefix limits (3,500
writes and 5,500 reads per second), and cost one socket each. Set
``config_kwargs={"max_pool_connections": n}`` to change both.
"""
_DENIED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
}
_CONDITION_FAILED = {"PreconditionFailed", "ConditionalRequestConflict"}
# botocore's transport failures: ConnectionError covers refused and timed-out
# connects, HTTPClientError a connection that broke mid-request (ConnectionClosedError,
# "Connection was closed before we received a valid response") or timed out reading.
_UNREACHABLE = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "HTTPClientError",
    "ConnectionError",
}


def _error_code(exc: BaseException) -> str | None:
    """The S3 error code behind an s3fs-translated exception, if there is one."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            return str(code) if code is not None else None
        seen = seen.__cause__ or seen.__context__
    return None


class S3Driver(ObjectStoreDriver):
    """A bucket (and optional prefix) on S3 or an S3-compatible server."""

    backend = S3
    capabilities = replace(CONDITIONAL, notes="If-None-Match: * and If-Match: <ETag> on PutObject")
    delete_batch_size = 1000  # the most keys one DeleteObjects request takes
    delete_concurrency = 8

    def __init__(self, root: str, options: Mapping[str, Any]) -> None:
        super().__init__(root, options)
        config = dict(self.options.get("config_kwargs") or {})
        config.setdefault("max_pool_connections", POOL_CONNECTIONS)
        self.options["config_kwargs"] = config
        # More operations in flight than pooled connections would only queue for one.
        self.default_concurrency = int(config["max_pool_connections"])

    def _open(self) -> Any:
        s3fs = require("s3fs", S3)
        # Listing caches would hide a store from the next list_sessions.
        options = {"use_listings_cache": False, **self.options}
        if self.timeout is not None:
            config = dict(options.get("config_kwargs") or {})
            config.setdefault("connect_timeout", self.timeout)
            config.setdefault("read_timeout", self.timeout)
            options["config_kwargs"] = config
        fs = s3fs.S3FileSystem(asynchronous=True, skip_instance_cache=True, **options)
        if fs.session is None:  # not given by the caller: one sharing parsed data files
            fs.session = botocore_session(fs.kwargs)
        return fs

    def endpoint(self) -> str | None:
        client = getattr(self._fs, "_s3", None)  # the client, once a call has made it
        url = getattr(getattr(client, "meta", None), "endpoint_url", None)
        return None if url is None else str(url)

    async def _close(self, fs: Any) -> None:
        client = getattr(fs, "_s3", None)
        if client is not None:
            fs._s3 = None
            await client.__aexit__(None, None, None)

    def _abandon(self, fs: Any) -> None:
        client = getattr(fs, "_s3", None)
        fs._s3 = None
        http = getattr(getattr(client, "_endpoint", None), "http_session", None)
        sessions = getattr(http, "_sessions", None) or {}
        for session in list(sessions.values()):
            close_aiohttp_session(session)

    def classify(self, exc: BaseException) -> ErrorKind:
        code = _error_code(exc)
        if code in ("NoSuchBucket",):
            return "missing_storage"
        if code in _DENIED:
            return "denied"
        if code in _CONDITION_FAILED:
            return "conflict"
        names = {cls.__name__ for cls in type(exc).__mro__}
        if names & _UNREACHABLE or "ClientConnectorError" in names:
            return "unreachable"
        if "NoCredentialsError" in names or "PartialCredentialsError" in names:
            return "denied"
        return classify_builtin(exc)

    async def _call(self, method: str, **kwargs: Any) -> Any:
        return await self.filesystem._call_s3(method, **kwargs)

    async def get(self, path: str) -> tuple[bytes, str | None] | None:
        bucket, key = self._split(path)
        try:
            resp = await self._call("get_object", Bucket=bucket, Key=key)
        except FileNotFoundError as exc:
            if _error_code(exc) == "NoSuchBucket":
                raise
            return None
        try:
            body: bytes = await resp["Body"].read()
        finally:
            resp["Body"].close()
        return body, resp.get("ETag")

    async def _put(
        self, path: str, data: bytes, content_type: str, condition: WriteCondition | None
    ) -> str:
        bucket, key = self._split(path)
        kwargs: dict[str, Any] = {}
        if condition is not None:
            if condition.if_absent:
                kwargs["IfNoneMatch"] = "*"
            if condition.if_version is not None:
                kwargs["IfMatch"] = condition.if_version
            if metadata := condition.metadata():
                kwargs["Metadata"] = metadata
        try:
            resp = await self._call(
                "put_object", Bucket=bucket, Key=key, Body=data, ContentType=content_type, **kwargs
            )
        except OSError as exc:
            # s3fs turns a failed If-None-Match into FileExistsError but a failed
            # If-Match into a plain OSError(EINVAL); S3 answers 409 when two
            # conditional writes race, and 404 to If-Match on a missing key. All of
            # them mean: the condition did not hold.
            code = _error_code(exc)
            if condition is not None and (
                code in _CONDITION_FAILED
                or (condition.if_version is not None and code == "NoSuchKey")
            ):
                raise FileExistsError(f"precondition failed for {path}") from exc
            raise
        etag: str = resp["ETag"]
        return etag

    async def _head(self, path: str) -> ObjectHead | None:
        # One HeadObject request.
        bucket, key = self._split(path)
        try:
            resp: dict[str, Any] = await self._call("head_object", Bucket=bucket, Key=key)
        except FileNotFoundError:
            return None
        info = ObjectInfo(
            size=int(resp["ContentLength"]),
            modified=resp["LastModified"],
            created=None,  # S3 keeps no creation time apart from the last write
            version=resp.get("ETag"),
        )
        return ObjectHead(info, resp.get("Metadata"))

    async def _list_page(self, query: ListQuery) -> ListPage:
        kwargs: dict[str, Any] = {
            "Bucket": query.bucket,
            "Prefix": query.prefix,
            "MaxKeys": query.max_keys,
        }
        if query.delimiter:
            kwargs["Delimiter"] = "/"
        if query.start_after is not None:
            kwargs["StartAfter"] = after_folder(query.start_after)
        if query.token is not None:
            kwargs["ContinuationToken"] = query.token
        resp = await self._call("list_objects_v2", **kwargs)
        return ListPage(
            folders=[p["Prefix"] for p in resp.get("CommonPrefixes", [])],
            files=[
                (
                    obj["Key"],
                    ObjectInfo(
                        size=int(obj["Size"]),
                        modified=obj["LastModified"],
                        created=None,
                        version=obj.get("ETag"),
                    ),
                )
                for obj in resp.get("Contents", [])
            ],
            token=resp.get("NextContinuationToken") if resp.get("IsTruncated") else None,
        )

    async def delete_file(self, path: str) -> bool:
        # S3 answers DELETE with 204 whether or not the object existed, so "did it
        # exist" costs a HEAD first.
        if await self.info(path) is None:
            return False
        bucket, key = self._split(path)
        await self._call("delete_object", Bucket=bucket, Key=key)
        return True

    async def _delete_batch(self, bucket: str, keys: list[str]) -> None:
        resp = await self._call(
            "delete_objects",
            Bucket=bucket,
            Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True},
        )
        errors = resp.get("Errors") or []
        if errors:
            first = errors[0]
            raise OSError(
                f"{len(errors)} of {len(keys)} deletes failed, first "
                f"{first.get('Key')!r}: {first.get('Code')} {first.get('Message')}"
            )
