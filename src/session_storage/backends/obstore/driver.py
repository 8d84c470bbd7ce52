"""The obstore engine: S3, GCS and Azure through obstore's Rust client.

The same primitives as the fsspec drivers (one request per get, put, head and delete,
conditional writes enforced by the server, write ids for lost replies), at a fraction
of the client CPU: request signing, HTTP and XML parsing happen in Rust.

obstore's Python API lists by whole path segments only and has no delimiter listing
that pages, so listings here are flat listings that start after a key (S3
``start-after``, GCS ``start-after``, Azure ``startFrom``): a listing of folders reads
the keys in order and, when a page ends inside a folder, starts the next request after
that folder. Each request answers one page of at most 1000 keys; memory holds one page.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from ...core.errors import ConfigurationError, ErrorKind, classify_builtin, import_optional
from ..base import PAGE_SIZE, ObjectInfo, after_folder
from ..capabilities import CONDITIONAL
from ..object_store import ListPage, ListQuery, ObjectHead, ObjectStoreDriver, resend_batch
from ..registry import AZURE, GCS, S3
from ..write_ids import WriteCondition
from . import runtime
from .config import StoreArgs, azure_args, gcs_args, s3_args

__all__ = ["ObstoreAzureDriver", "ObstoreDriver", "ObstoreGCSDriver", "ObstoreS3Driver"]

POOL_CONNECTIONS = 64
"""Requests in flight at once per storage and event loop, and the batch concurrency.

obstore's HTTP client opens a connection for every request in flight, without a
bound: a thousand concurrent stores would open a thousand sockets at once, and a
server (or an emulator) that accepts them slowly fails them by timeout. The fsspec
engine's clients queue at their pool of 64 connections; this engine queues here.
``config_kwargs={"max_pool_connections": n}`` changes it, as on the fsspec engine.
"""
_CONTENT_TYPE = "Content-Type"
_LAST = "~"
"""Sorts after every character of an encoded name (``A-Z a-z 0-9 _ - . %``)."""
_UNREACHABLE_TEXT = (
    "error sending request",
    "connection refused",
    "connection reset",
    "connection closed",
    "timed out",
    "operation timed out",
    "dns error",
    "tcp connect error",
)


def _obstore() -> Any:
    return import_optional(
        "obstore", 'the obstore engine needs obstore: pip install "session-storage[obstore]"'
    )


def start_below(key: str) -> str:
    """A key that sorts before ``key`` and after every shorter-named sibling of it.

    Listings take "start after" keys; to begin at the first key that starts with
    ``key`` (a name prefix), start after the name one character smaller, then
    ``~``. Encoded names hold no ``~`` and no character above it.
    """
    last = key[-1]
    return key[:-1] + chr(ord(last) - 1) + _LAST


class ObstoreDriver(ObjectStoreDriver):
    """A bucket (and optional prefix) through one obstore store per bucket."""

    engine: ClassVar[str] = "obstore"
    capabilities = replace(CONDITIONAL, notes="obstore put modes: create, and UpdateVersion")
    # obstore's stores own no asyncio resources: their connections live in obstore's
    # own runtime, so one store serves every event loop and needs no closing.
    loop_bound = False
    delete_batch_size = 1000
    delete_concurrency = 8
    missing_bucket_codes: ClassVar[tuple[str, ...]] = ()
    """Words in a 404 reply that mean the bucket, not the object, is missing."""

    def __init__(self, root: str, options: Mapping[str, Any]) -> None:
        super().__init__(root, options)
        self._obs = _obstore()
        self._stores: dict[str, Any] = {}
        # Check the options now: a typo should fail at construction, not at first use.
        self.default_concurrency = self._store_args(None).pool_size or POOL_CONNECTIONS
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._gates = weakref.WeakKeyDictionary()

    def _gate(self) -> asyncio.Semaphore:
        """The bound on requests in flight, of the running loop (a semaphore belongs to
        one loop, and one storage may serve several in turn)."""
        runtime.starting()  # a request follows: obstore's runtime runs in this process
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self.default_concurrency)
        return gate

    # -- what each cloud spells its own way ------------------------------------------

    def _store_args(self, timeout: float | None) -> StoreArgs:
        raise NotImplementedError

    def _store_class(self, obstore: Any) -> Any:
        raise NotImplementedError

    def _update_mode(self, version: str) -> dict[str, str]:
        """obstore's UpdateVersion for a version token of this driver."""
        return {"e_tag": version}

    @staticmethod
    def _version(meta: Mapping[str, Any]) -> str | None:
        """The version token of an object's ObjectMeta."""
        e_tag: str | None = meta.get("e_tag")
        return e_tag

    # -- the store -------------------------------------------------------------------

    def _open(self) -> Any:
        """The store of the root's bucket: what ``SessionStorage.filesystem`` shows."""
        return self._store(self._split(self.root)[0])

    def _store(self, bucket: str) -> Any:
        """The obstore store of ``bucket``, built on first use (no I/O)."""
        runtime.check(self.name, self.url(self.root))  # every request asks for its store
        store = self._stores.get(bucket)
        if store is None:
            cls = self._store_class(self._obs)
            try:
                store = cls(bucket, **self._store_args(self.timeout).kwargs())
            except Exception as exc:  # obstore's UnknownConfigurationKeyError and friends
                raise ConfigurationError(
                    f"the obstore engine cannot use these storage options: {exc}",
                    backend=self.name,
                    url=self.url(self.root),
                ) from exc
            self._stores[bucket] = store
        return store

    def store_for(self, path: str) -> tuple[Any, str]:
        """The obstore store and the key of a backend path ``bucket/key``."""
        bucket, key = self._split(path)
        return self._store(bucket), key

    def endpoint(self) -> str | None:
        config = self._store_args(None).config
        return str(config.get("endpoint") or config.get("base_url") or "") or None

    def classify(self, exc: BaseException) -> ErrorKind:
        names = {cls.__name__ for cls in type(exc).__mro__}
        if names & {"PermissionDeniedError", "UnauthenticatedError"}:
            return "denied"
        if names & {"AlreadyExistsError", "PreconditionError"}:
            return "conflict"
        text = str(exc).lower()
        if "GenericError" in names and any(word in text for word in _UNREACHABLE_TEXT):
            return "unreachable"
        if "Status { status: 403" in str(exc) or "status code: 403" in text:
            return "denied"
        if "GenericError" in names and "status code: 404" in text:
            # obstore reports a listing of a missing bucket as a generic error, not as
            # NotFound. Missing objects never get here: they load as None.
            return "missing_storage"
        return classify_builtin(exc)

    def _bucket_missing(self, exc: BaseException) -> bool:
        text = str(exc)
        return any(code in text for code in self.missing_bucket_codes)

    # -- the primitives --------------------------------------------------------------

    async def get(self, path: str) -> tuple[bytes, str | None] | None:
        store, key = self.store_for(path)
        try:
            async with self._gate():
                result = await self._obs.get_async(store, key)
                buffer = await result.bytes_async()
        except FileNotFoundError as exc:
            if self._bucket_missing(exc):
                raise
            return None
        return bytes(buffer), self._version(result.meta)

    async def _put(
        self, path: str, data: bytes, content_type: str, condition: WriteCondition | None
    ) -> str:
        store, key = self.store_for(path)
        attributes = {_CONTENT_TYPE: content_type}
        mode: Any = None
        if condition is not None:
            attributes.update(condition.metadata())
            if condition.if_absent:
                mode = "create"
            elif condition.if_version is not None:
                mode = self._update_mode(condition.if_version)
        try:
            async with self._gate():
                result = await self._obs.put_async(
                    store, key, data, attributes=attributes, mode=mode, use_multipart=False
                )
        except Exception as exc:
            updating = condition is not None and condition.if_version is not None
            if condition is None or not self._condition_failed(exc, updating):
                raise
            raise FileExistsError(f"precondition failed for {path}") from exc
        version = self._version(result)
        if version is None:
            raise OSError(f"{self.name} returned no version for {path}")
        return version

    def _condition_failed(self, exc: BaseException, updating: bool) -> bool:
        """Whether a failed conditional put means "the condition did not hold"."""
        names = {cls.__name__ for cls in type(exc).__mro__}
        if names & {"AlreadyExistsError", "PreconditionError"}:
            return True
        # S3 answers 409 when two conditional writes race, and If-Match on a
        # missing key is a 404: both mean the condition did not hold.
        if updating and isinstance(exc, FileNotFoundError):
            return not self._bucket_missing(exc)
        return "409" in str(exc) and "Conflict" in str(exc)

    async def _head(self, path: str) -> ObjectHead | None:
        # One HEAD that, unlike head_async, returns the attributes (user metadata) too.
        store, key = self.store_for(path)
        try:
            async with self._gate():
                result = await self._obs.get_async(store, key, options={"head": True})
        except FileNotFoundError:
            return None
        return ObjectHead(self._object_info(result.meta), result.attributes)

    async def info(self, path: str) -> ObjectInfo | None:
        # Not _head: here a missing bucket raises instead of reading as a missing file.
        store, key = self.store_for(path)
        try:
            async with self._gate():
                meta = await self._obs.head_async(store, key)
        except FileNotFoundError as exc:
            if self._bucket_missing(exc):
                raise
            return None
        return self._object_info(meta)

    def _object_info(self, meta: Mapping[str, Any]) -> ObjectInfo:
        return ObjectInfo(
            size=int(meta["size"]),
            modified=meta["last_modified"],
            created=None,  # obstore reports the last write only
            version=self._version(meta),
        )

    async def _list_page(self, query: ListQuery) -> ListPage:
        # The prefix is a folder ("key/" or "") plus, for delimiter listings, the start
        # of a name; obstore takes the folder, and the rest becomes a start key.
        folder, _, name_start = query.prefix.rpartition("/")
        base = f"{folder}/" if folder else ""
        offset = query.token
        if offset is None:
            starts = []
            if name_start:
                starts.append(base + start_below(name_start))
            if query.start_after is not None:
                starts.append(after_folder(query.start_after))
            offset = max(starts) if starts else None
        # One request answers up to 1000 keys, whatever the page needs of them: asking
        # for fewer would not save the request.
        size = PAGE_SIZE if query.delimiter else min(query.max_keys, PAGE_SIZE)
        store = self._store(query.bucket)
        stream = self._obs.list(store, folder or None, offset=offset, chunk_size=size)
        metas: list[Mapping[str, Any]] = []
        async with self._gate():
            async for chunk in stream:
                metas = list(chunk)
                break
        full = len(metas) == size
        if not query.delimiter:
            files = [(m["path"], self._object_info(m)) for m in metas]
            next_token = files[-1][0] if full and files else None
            return ListPage([], files, next_token)
        return self._folders_page(metas, base, query.prefix, query.max_keys, full)

    def _folders_page(
        self,
        metas: list[Mapping[str, Any]],
        base: str,
        prefix: str,
        max_keys: int,
        full: bool,
    ) -> ListPage:
        """The folders and loose files of one flat page, as a delimiter listing."""
        folders: list[str] = []
        files: list[tuple[str, ObjectInfo]] = []
        cut = len(base)
        for meta in metas:
            key: str = meta["path"]
            if not key.startswith(prefix):
                if key < prefix:
                    continue  # before the names asked for (a start key is approximate)
                # Keys come in order: once past the prefix, nothing later matches.
                return ListPage(folders, files, None)
            name, slash, _ = key[cut:].partition("/")
            if not slash:
                files.append((key, self._object_info(meta)))
            elif not folders or folders[-1] != f"{base}{name}/":
                if len(folders) == max_keys:
                    return ListPage(folders, files, base + after_folder(folders[-1][cut:-1]))
                folders.append(f"{base}{name}/")
        if not full:
            return ListPage(folders, files, None)
        if folders:
            # The last folder may go on in the next page: start after all of it.
            return ListPage(folders, files, base + after_folder(folders[-1][cut:-1]))
        return ListPage(folders, files, metas[-1]["path"] if metas else None)

    async def has_files(self, folder: str) -> bool:
        bucket, base = self._split_folder(folder)
        stream = self._obs.list(self._store(bucket), base.rstrip("/") or None, chunk_size=1)
        async with self._gate():
            async for chunk in stream:
                return bool(chunk)
        return False

    async def delete_file(self, path: str) -> bool:
        store, key = self.store_for(path)
        try:
            async with self._gate():
                await self._obs.delete_async(store, key)
        except FileNotFoundError as exc:  # GCS and Azure say 404 for a missing object
            if self._bucket_missing(exc):
                raise
            return False
        return True

    async def _delete_batch(self, bucket: str, keys: list[str]) -> None:
        async def send() -> None:
            async with self._gate():
                await self._obs.delete_async(self._store(bucket), keys)

        try:
            await resend_batch(send, lambda exc: self.classify(exc) == "unreachable")
        except FileNotFoundError as exc:
            # One batch request deleted the rest; a key already gone is what we wanted.
            if self._bucket_missing(exc):
                raise


class ObstoreS3Driver(ObstoreDriver):
    """S3 and S3-compatible stores through obstore's S3Store."""

    backend = S3
    missing_bucket_codes = ("NoSuchBucket",)

    def _store_args(self, timeout: float | None) -> StoreArgs:
        return s3_args(self.options, timeout)

    def _store_class(self, obstore: Any) -> Any:
        return obstore.store.S3Store

    async def delete_file(self, path: str) -> bool:
        # S3 answers DELETE with 204 whether or not the object existed, so "did it
        # exist" costs a HEAD first, as on the fsspec engine.
        if await self.info(path) is None:
            return False
        return await super().delete_file(path)


class ObstoreGCSDriver(ObstoreDriver):
    """Google Cloud Storage through obstore's GCSStore (the XML API)."""

    backend = GCS
    # obstore deletes GCS objects one request each; many in flight, as gcsfs does.
    delete_batch_size = 1
    delete_concurrency = 16

    def _store_args(self, timeout: float | None) -> StoreArgs:
        return gcs_args(self.options, timeout)

    def _store_class(self, obstore: Any) -> Any:
        return obstore.store.GCSStore

    def _update_mode(self, version: str) -> dict[str, str]:
        return {"version": version}  # x-goog-if-generation-match

    @staticmethod
    def _version(meta: Mapping[str, Any]) -> str | None:
        # The generation, as on the fsspec engine: tokens work across engines.
        version: str | None = meta.get("version")
        return version


class ObstoreAzureDriver(ObstoreDriver):
    """Azure Blob Storage through obstore's AzureStore."""

    backend = AZURE
    delete_batch_size = 256  # the most sub-requests one Blob Batch request takes
    delete_concurrency = 4
    missing_bucket_codes = ("ContainerNotFound",)

    def _store_args(self, timeout: float | None) -> StoreArgs:
        return azure_args(self.options, timeout)

    def _store_class(self, obstore: Any) -> Any:
        return obstore.store.AzureStore
