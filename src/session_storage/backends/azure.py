"""Azure Blob Storage: adlfs for the filesystem and credentials, the SDK for requests.

adlfs's own calls hide the ETag, need two requests for ``_info``, delete blob by blob
and have a broken glob ``rm``; the primitives therefore use the async SDK clients that
adlfs already built (``fs.service_client``), one request each, and batch deletes.
"""

from __future__ import annotations

import weakref
from dataclasses import replace
from typing import Any

from ..core.errors import ErrorKind, classify_builtin
from .base import PAGE_SIZE, ObjectInfo, key_order
from .capabilities import CONDITIONAL
from .clients import close_aiohttp_session, require
from .object_store import ListPage, ListQuery, ObjectHead, ObjectStoreDriver, resend_batch
from .registry import AZURE
from .write_ids import WriteCondition

__all__ = ["AzureDriver"]

_DENIED_CODES = {"AuthenticationFailed", "AuthorizationFailure", "AuthorizationPermissionMismatch"}


def _error_code(exc: BaseException) -> str | None:
    code = getattr(exc, "error_code", None)
    if code is None:
        return None
    return str(getattr(code, "value", code))  # the SDK gives a str enum or a plain str


def _detach_finalizers(fs: Any) -> None:
    """Drop adlfs's exit-time finalizers for ``fs`` once we have closed it ourselves.

    In async mode they call ``sync(None, ...)`` at interpreter exit, which fails with
    "Loop is not running", and they hold ``fs`` alive forever.
    """
    registry = getattr(weakref.finalize, "_registry", None)
    if not isinstance(registry, dict):
        return
    for finalizer in list(registry):
        info = finalizer.peek()
        if info is not None and any(arg is fs for arg in info[2]):
            finalizer.detach()


def _object_info(props: Any) -> ObjectInfo:
    """The SDK's BlobProperties (from a HEAD or a listing) as ObjectInfo."""
    return ObjectInfo(
        size=int(props.size),
        modified=props.last_modified,
        created=props.creation_time,
        version=props.etag,
    )


class AzureDriver(ObjectStoreDriver):
    """A container (and optional prefix) on Azure Blob Storage or Azurite."""

    backend = AZURE
    capabilities = replace(CONDITIONAL, notes="If-None-Match: * and If-Match: <ETag> on the upload")
    list_page_size = 5000  # the most blobs one List Blobs request returns
    delete_batch_size = 256  # the most sub-requests one Blob Batch request takes
    delete_concurrency = 4

    def _open(self) -> Any:
        adlfs = require("adlfs", AZURE)
        options = dict(self.options)
        if self.timeout is not None:
            options.setdefault("connection_timeout", self.timeout)
            options.setdefault("read_timeout", self.timeout)
        fs = adlfs.AzureBlobFileSystem(asynchronous=True, skip_instance_cache=True, **options)
        _prompt_retries(fs)
        return fs

    def endpoint(self) -> str | None:
        client = getattr(self._fs, "service_client", None)
        return None if client is None else str(client.url)

    async def _close(self, fs: Any) -> None:
        _detach_finalizers(fs)
        await fs.service_client.close()
        credential = getattr(fs, "credential", None)
        if credential is not None and hasattr(credential, "close"):
            await credential.close()

    def _abandon(self, fs: Any) -> None:
        _detach_finalizers(fs)
        # The SDK's aiohttp transport holds one ClientSession.
        transport = getattr(getattr(fs.service_client, "_pipeline", None), "_transport", None)
        session = getattr(transport, "session", None)
        if session is not None:
            close_aiohttp_session(session)

    def classify(self, exc: BaseException) -> ErrorKind:
        code = _error_code(exc)
        names = {cls.__name__ for cls in type(exc).__mro__}
        if code == "ContainerNotFound":
            return "missing_storage"
        if code in _DENIED_CODES or "ClientAuthenticationError" in names:
            return "denied"
        if "ResourceExistsError" in names or "ResourceModifiedError" in names:
            return "conflict"
        # ServiceRequestError: the request could not be sent (refused, cut);
        # ServiceResponseError: the connection broke or timed out before the answer.
        if "ServiceRequestError" in names or "ServiceResponseError" in names:
            return "unreachable"
        return classify_builtin(exc)

    def _container(self, container: str) -> Any:
        return self.filesystem.service_client.get_container_client(container)

    def _blob(self, path: str) -> Any:
        container, blob = self._split(path)
        return self.filesystem.service_client.get_blob_client(container, blob)

    async def get(self, path: str) -> tuple[bytes, str | None] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            stream = await self._blob(path).download_blob()
            body: bytes = await stream.readall()
        except ResourceNotFoundError as exc:
            if _error_code(exc) == "ContainerNotFound":
                raise
            return None
        return body, stream.properties.etag

    async def _put(
        self, path: str, data: bytes, content_type: str, condition: WriteCondition | None
    ) -> str:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
        from azure.storage.blob import ContentSettings

        kwargs: dict[str, Any] = {}
        if condition is not None:
            if condition.if_absent:
                kwargs["if_none_match"] = "*"
            if condition.if_version is not None:
                kwargs["etag"] = condition.if_version
                kwargs["match_condition"] = MatchConditions.IfNotModified
            if metadata := condition.metadata():
                kwargs["metadata"] = metadata
        try:
            resp = await self._blob(path).upload_blob(
                data,
                overwrite=True,
                content_settings=ContentSettings(content_type=content_type),
                **kwargs,
            )
        except (ResourceExistsError, ResourceModifiedError) as exc:
            # 409 BlobAlreadyExists for if_none_match, 412 ConditionNotMet for etag.
            raise FileExistsError(f"precondition failed for {path}") from exc
        return str(resp["etag"])

    async def _head(self, path: str) -> ObjectHead | None:
        # One HEAD: the blob's properties.
        from azure.core.exceptions import ResourceNotFoundError

        try:
            props = await self._blob(path).get_blob_properties()
        except ResourceNotFoundError:
            return None
        return ObjectHead(_object_info(props), props.metadata)

    async def _list_page(self, query: ListQuery) -> ListPage:
        from azure.storage.blob.aio import BlobPrefix

        container = self._container(query.bucket)
        if query.delimiter:
            # Azure's listing has no StartAfter: earlier names are read and skipped
            # here, so only a listing from the start can ask for just what it needs.
            per_page = query.max_keys if query.start_after is None else PAGE_SIZE
            items = container.walk_blobs(
                name_starts_with=query.prefix, delimiter="/", results_per_page=per_page
            )
        else:
            items = container.list_blobs(
                name_starts_with=query.prefix, results_per_page=query.max_keys
            )
        after = None if query.start_after is None else key_order(query.start_after)
        pages = items.by_page(continuation_token=query.token)
        folders: list[str] = []
        files: list[tuple[str, ObjectInfo]] = []
        async for page in pages:  # the first page only: one request
            async for item in page:
                if not isinstance(item, BlobPrefix):
                    files.append((item.name, _object_info(item)))
                elif after is None or item.name > after:
                    folders.append(item.name)
            break
        return ListPage(folders, files, pages.continuation_token or None)

    async def delete_file(self, path: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            await self._blob(path).delete_blob()
        except ResourceNotFoundError as exc:
            if _error_code(exc) == "ContainerNotFound":
                raise
            return False
        return True

    async def _delete_batch(self, bucket: str, keys: list[str]) -> None:
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError

        container = self._container(bucket)
        # With the SDK's own retry off: it resends a consumed body and hangs.
        results = await resend_batch(
            lambda: container.delete_blobs(*keys, raise_on_any_failure=False, retry_total=0),
            lambda exc: isinstance(exc, (ServiceRequestError, ServiceResponseError)),
        )
        statuses = [r.status_code async for r in results]
        # 202: deleted; 404: already gone, which is what we wanted.
        pairs = zip(keys, statuses, strict=True)
        failed = [(b, s) for b, s in pairs if s not in (200, 202, 204, 404)]
        if failed:
            blob, status = failed[0]
            raise OSError(
                f"{len(failed)} of {len(keys)} deletes failed, first {blob!r}: HTTP {status}"
            )


# The SDK's default exponential retry waits 15 s (+-3) before its first resend, a
# schedule meant for a throttled account: one lost reply then costs half the default
# 30 s deadline and two in one operation exceed it. adlfs builds the client and takes
# no retry settings, so the policy every pipeline of the client shares is tuned here:
# resends after about 0.2, 2.2 and 4.2 s (the SDK adds increment_base ** attempt),
# still backing off for throttling, within one deadline.
_FIRST_BACKOFF = 0.2
_BACKOFF_BASE = 2
_JITTER = 0.2


def _prompt_retries(fs: Any) -> None:
    """Shorten the Azure SDK's retry backoff on ``fs``'s client, if it has the policy."""
    config = getattr(getattr(fs, "service_client", None), "_config", None)
    policy = getattr(config, "retry_policy", None)
    if policy is None or not hasattr(policy, "initial_backoff"):
        return  # another SDK layout, or a linear policy: leave the client as it is
    policy.initial_backoff = _FIRST_BACKOFF
    policy.increment_base = _BACKOFF_BASE
    policy.random_jitter_range = _JITTER
