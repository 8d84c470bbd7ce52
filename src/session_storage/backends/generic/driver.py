"""The generic driver: any fsspec filesystem, by URL (``sftp://``, ``ftp://``, chains such
as ``dir::file:///srv/x``) or as an object the caller configured.

Every operation is one call of the filesystem's blocking API in a worker thread: that
API exists on every fsspec filesystem, sync or async (an async one run in its blocking
mode keeps its event loop on fsspec's own thread, so it serves every loop of ours),
and a filesystem that connects in its constructor (sshfs) does so off the event loop.
How a write is made atomic, and which write conditions the protocol can enforce, come
from :mod:`.profiles`; what it cannot enforce is refused by the facade
(``storage.capabilities``), never silently ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, TypeVar

import anyio

from ...core.errors import (
    ConfigurationError,
    ErrorKind,
    MissingDependencyError,
    classify_builtin,
)
from ..base import ALL_CHILDREN, PAGE_SIZE, ChildPage, Driver, ObjectInfo
from ..registry import GENERIC
from ..write_ids import UNCONDITIONAL, WriteCondition
from . import tree
from .files import (
    TEMP_PREFIX,
    holds_connections,
    missing_error,
    modified_time,
    release,
    sftp_link,
)
from .profiles import profile_for, protocol_name

__all__ = ["GenericDriver"]

T = TypeVar("T")

_DEFAULT_PORTS = {"sftp": 22, "ssh": 22, "ftp": 21}


def _chain(url: str) -> list[tuple[str, str, dict[str, Any]]]:
    """fsspec's reading of a (chained) URL: (path, protocol, options) per layer.

    Raises MissingDependencyError when a layer's filesystem package is not installed
    (SFTP's is the ``sftp`` extra), naming what to install.
    """
    from fsspec.core import _un_chain

    try:
        chain: list[tuple[str, str, dict[str, Any]]] = _un_chain(url, {})
    except ImportError as exc:
        scheme = url.split("://", 1)[0]
        if scheme.split("::")[-1] in ("sftp", "ssh"):
            message = 'the sftp backend needs sshfs: pip install "session-storage[sftp]"'
        else:
            message = f"the {scheme} backend needs its fsspec package: {exc}"
        raise MissingDependencyError(message, backend=scheme) from exc
    return chain


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


class GenericDriver(Driver):
    """Any fsspec filesystem; see :mod:`.profiles` for what each protocol guarantees.

    Storage options go to the filesystem (``password``, ``port``, ``key_filename``,
    ...); each layer of a chain takes its own under its protocol's name, as in fsspec.
    A filesystem given as an object (``SessionStorage.from_filesystem``) is used as
    it is and never closed; one opened from a URL is the storage's and closed by
    ``aclose``.
    """

    backend = GENERIC
    loop_bound = False
    remote = True

    def __init__(
        self, root: str, options: Mapping[str, Any], url: str = "", fs: Any = None
    ) -> None:
        self._url = url
        self._given = fs
        super().__init__(root, options)
        self._lock = threading.Lock()  # serializes calls on a filesystem not thread-safe
        self._opening = threading.Lock()  # one open, whichever event loop asks first
        # What to know of the protocol: from the filesystem given, or from the URL's
        # chain of protocols before anything is opened.
        self._fs = fs
        known = fs if fs is not None else _Named([p for _, p, _ in _chain(url)])
        self.profile, self.capabilities = profile_for(known)
        name = protocol_name(known)
        # Per instance: errors and metadata name the protocol (sftp, dir::file).
        vars(self).update(name=name, scheme=name, max_segment_bytes=self.profile.max_segment_bytes)
        self.default_concurrency = 8 if self.profile.thread_safe else 1

    @classmethod
    def for_url(cls, url: str, root: str, options: Mapping[str, Any]) -> Driver:
        return cls(root, options, url=url)

    # -- URLs and roots --------------------------------------------------------------

    @staticmethod
    def root_path(url: str) -> str:
        chain = _chain(url)
        path, protocol, _ = chain[0]
        if protocol == "dir":
            return ""  # a DirFileSystem's own root: paths inside it are relative
        from fsspec.registry import get_filesystem_class

        cls = get_filesystem_class(protocol)  # importable: _chain imported it
        root = str(cls._strip_protocol(path) if len(chain) == 1 else path).rstrip("/")
        if not root.strip("/"):
            raise ConfigurationError(
                f"storage URL {url!r} names no folder; give one "
                f"(sftp://host/srv/sessions, ftp://host/sessions)"
            )
        return root

    def url(self, path: str) -> str:
        if self._given is not None:
            return f"{self.scheme}://{path.lstrip('/')}"
        head = self._url.split("::")
        last = head[-1]
        # The innermost URL up to its path: scheme, and any user@host:port.
        scheme, _, rest = last.partition("://")
        netloc = rest.split("/", 1)[0] if rest and not rest.startswith("/") else ""
        base = f"{scheme}://{netloc}" if netloc else f"{scheme}://"
        inner = base + ("" if path.startswith("/") or not netloc else "/") + path
        if head[0] == "dir":
            return self._url.rstrip("/") + ("/" + path.lstrip("/") if path else "")
        return "::".join([*head[:-1], inner])

    def endpoint(self) -> str | None:
        # host:port of a network protocol's server, for the diagnosis of a failed
        # connection; None for a filesystem object or a URL without a host.
        from urllib.parse import urlsplit

        if self._given is not None:
            return None
        parts = urlsplit(self._url.split("::")[-1])
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        return f"{parts.scheme}://{parts.hostname}:{port}" if parts.hostname and port else None

    def after_fork_in_child(self) -> None:
        """In a forked child: drop a filesystem this storage opened (its connection and
        fsspec's event-loop thread are the parent's); the next call opens a new one. A
        filesystem given as an object is the caller's to handle."""
        self._lock, self._opening = threading.Lock(), threading.Lock()
        if self._given is None:
            self._fs = None

    # -- the filesystem ----------------------------------------------------------------

    def _open(self) -> Any:
        from fsspec.core import url_to_fs

        # Each layer opens its own instance: closing ours must not close another's.
        # (Listing caches are dropped before each listing: not every filesystem takes
        # ``use_listings_cache``, and sshfs hands unknown options to asyncssh.)
        fresh = {"skip_instance_cache": True}
        options: dict[str, Any] = {**fresh, **self.options}
        for _, protocol, _ in _chain(self._url)[1:]:
            options[protocol] = {**fresh, **options.get(protocol, {})}
        fs, _ = url_to_fs(self._url, **options)
        return fs

    async def _ready(self) -> Any:
        """The filesystem, opened in a worker thread on first use (sshfs connects in
        its constructor: that must not block the event loop)."""
        if self._fs is None:
            await anyio.to_thread.run_sync(self._open_once)
        return self._fs

    def _open_once(self) -> None:
        with self._opening:
            if self._fs is None:
                self._fs = self._open()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        await self._ready()
        if self.profile.thread_safe:
            return await anyio.to_thread.run_sync(fn, *args)

        def locked() -> T:
            with self._lock:
                return fn(*args)

        return await anyio.to_thread.run_sync(locked)

    async def aclose(self) -> None:
        """Release the connections of a filesystem this storage opened; one it was
        given stays open (it is the caller's)."""
        fs, given = self._fs, self._given
        if fs is None or fs is given:
            return
        self._fs = None
        await anyio.to_thread.run_sync(release, fs)

    def _unreleased(self) -> bool:
        # An SSH or FTP connection this storage opened and never closed; a filesystem
        # given as an object is the caller's, and a dir:: or memory chain holds none.
        fs = self._fs
        return fs is not None and fs is not self._given and holds_connections(fs)

    def classify(self, exc: BaseException) -> ErrorKind:
        return classify_builtin(exc)

    # -- the primitives ----------------------------------------------------------------

    async def get(self, path: str) -> tuple[bytes, str | None] | None:
        def read() -> bytes | None:
            try:
                data: bytes = self._fs.cat_file(path)
            except Exception as exc:
                if missing_error(exc):
                    return None
                raise
            return data

        data = await self._run(read)
        return None if data is None else (data, _digest(data))

    async def put(
        self, path: str, data: bytes, content_type: str, condition: WriteCondition = UNCONDITIONAL
    ) -> str:
        if condition.if_version is not None or (
            condition.if_absent and self.profile.create is None
        ):
            # The facade refuses these first (see capabilities); never write unchecked.
            raise NotImplementedError(f"{self.name} cannot enforce this write condition")
        await self._run(self._write, path, bytes(data), condition.if_absent)
        return _digest(data)

    def _uncache(self, paths: list[str]) -> None:
        """Drop the cached copies of ``paths`` in a caching layer in front (simplecache
        keeps serving what it read first, even after this storage replaced it)."""
        fs = self._fs
        if getattr(fs, "pop_from_cache", None) is None:
            return
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                fs.pop_from_cache(path)  # filecache: its metadata names the copy
            with contextlib.suppress(FileNotFoundError):
                # simplecache keeps no metadata: its copy is found by the path's hash.
                found = fs._check_file(fs._strip_protocol(path))
                if isinstance(found, str):
                    os.remove(found)

    def _write(self, path: str, data: bytes, if_absent: bool) -> None:
        self._write_file(path, data, if_absent)
        self._uncache([path])

    def _write_file(self, path: str, data: bytes, if_absent: bool) -> None:
        fs = self._fs
        if self.profile.write == "direct" and not if_absent:
            self._with_parent(path, lambda: fs.pipe_file(path, data))
            return
        folder, name = posixpath.split(path)
        temp = posixpath.join(folder, f"{TEMP_PREFIX}{uuid.uuid4().hex}-{name}"[:255])
        self._with_parent(path, lambda: fs.pipe_file(temp, data))
        try:
            if if_absent:
                sftp_link(fs, temp, path)  # FileExistsError if the target exists
            else:
                fs.mv(temp, path)
        except BaseException:
            tree.quietly_remove(self._fs, temp)
            raise
        if if_absent:
            tree.quietly_remove(self._fs, temp)  # the link left the temp name in place

    def _with_parent(self, path: str, write: Callable[[], None]) -> None:
        """Run ``write``; if it failed for want of the folder, make it and write again.

        Writers of one new folder race: the folder may appear (another writer made
        it) or vanish (a delete pruned it empty) between a failure and the check, so a
        failure is retried once the folder is there, a few times at most.
        """
        folder = posixpath.dirname(path)
        for attempt in range(3):
            try:
                write()
                return
            except Exception:
                if not folder or attempt == 2:
                    raise
                if self._fs.exists(folder):
                    if attempt:
                        raise  # there on a second try: the failure is not the folder
                    continue  # made meanwhile by another writer
                self._fs.makedirs(folder, exist_ok=True)

    async def info(self, path: str) -> ObjectInfo | None:
        def stat() -> ObjectInfo | None:
            try:
                found = self._fs.info(path)
            except Exception as exc:
                if missing_error(exc):
                    return None
                raise
            if found.get("type") == "directory":
                return None
            return self._object_info(found)

        return await self._run(stat)

    def _object_info(self, found: Mapping[str, Any]) -> ObjectInfo:
        modified = modified_time(found, self.name)
        return ObjectInfo(
            size=int(found.get("size") or 0), modified=modified, created=None, version=None
        )

    async def iter_children(
        self, folder: str, page: ChildPage = ALL_CHILDREN
    ) -> AsyncIterator[list[str]]:
        entries = await self._run(lambda: tree.entries(self._fs, folder))
        after = page.after_key
        keys = {
            name + "/"
            for entry in entries
            if entry.get("type") == "directory"
            and (name := posixpath.basename(str(entry["name"]).rstrip("/")))
            and not name.startswith(".")
            and name.startswith(page.prefix)
        }
        ordered = page.first(k for k in keys if k > after) if after else page.first(keys)
        for i in range(0, len(ordered), PAGE_SIZE):
            yield [key[:-1] for key in ordered[i : i + PAGE_SIZE]]

    def _find(self, folder: str) -> dict[str, dict[str, Any]]:
        self._fs.invalidate_cache()
        try:
            found: dict[str, dict[str, Any]] = self._fs.find(folder, detail=True)
        except Exception as exc:
            if missing_error(exc):
                return {}
            raise
        head = folder.rstrip("/") + "/" if folder else ""
        return {
            self._relative(path): info
            for path, info in found.items()
            if info.get("type") != "directory"
            and not posixpath.basename(path).startswith(".")
            and self._relative(path).startswith(head)
        }

    def _relative(self, path: str) -> str:
        # A DirFileSystem answers with paths relative to it, with or without a leading
        # "/"; the facade's paths under the root "" have one.
        return "/" + path.lstrip("/") if self.root == "" else path

    async def list_files(self, folder: str) -> list[str]:
        return list(await self._run(self._find, folder))

    async def list_file_infos(self, folder: str) -> AsyncIterator[list[tuple[str, ObjectInfo]]]:
        found = await self._run(self._find, folder)
        items = [(path, self._object_info(info)) for path, info in found.items()]
        for i in range(0, len(items), PAGE_SIZE):
            yield items[i : i + PAGE_SIZE]

    async def has_files(self, folder: str) -> bool:
        return bool(await self.list_files(folder))

    async def delete_file(self, path: str) -> bool:
        return await self._run(self._delete, [path]) > 0

    async def delete_files(self, paths: Sequence[str]) -> None:
        await self._run(self._delete, list(paths))

    def _delete(self, paths: list[str]) -> int:
        fs, deleted, folders = self._fs, 0, set()
        for path in paths:
            try:
                fs.rm_file(path)
            except Exception as exc:
                if not (missing_error(exc) or not fs.exists(path)):
                    raise
                continue
            deleted += 1
            folders.add(posixpath.dirname(path))
        for folder in sorted(folders, key=len, reverse=True):
            self._prune(folder)
        self._uncache(paths)
        return deleted

    def _prune(self, folder: str) -> None:
        tree.prune(self._fs, self.root, folder, self.name)

    async def sweep(self, folder: str, *, dry_run: bool) -> None:
        """Before retention: remove the temp files of writers that died below ``folder``
        (a write killed between its temp file and its rename leaves one), and the
        folders they alone kept, which would list as sessions without data."""
        if not dry_run:
            await self._run(lambda: tree.sweep(self._fs, self.root, folder, self.name))


class _Named:
    """A stand-in with the protocols of a chain, before its filesystem is opened."""

    def __init__(self, names: list[str], depth: int = 0) -> None:
        self.protocol = names[depth]
        self.fs = _Named(names, depth + 1) if depth + 1 < len(names) else None
