"""A drop-in for the ``SessionStorageAdapter(backend=..., bucket=...)`` style of setup."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .backends.registry import DEFAULT_ENGINE
from .codecs.compression import Compression
from .concurrency.background import DEFAULT_CONCURRENCY, DEFAULT_MAX_PENDING
from .concurrency.deadlines import DEFAULT_TIMEOUT
from .core.arguments import invalid
from .settings import DEFAULT_BUCKET, DEFAULT_ROOT, backend_url, options_from_env
from .storage import SessionStorage

__all__ = ["DEFAULT_SESSION_BUCKET", "SessionStorageAdapter", "get_default_storage_adapter"]

DEFAULT_SESSION_BUCKET = DEFAULT_BUCKET


class SessionStorageAdapter(SessionStorage):
    """A :class:`SessionStorage` chosen by backend name and bucket.

    ``backend`` is ``file``, ``memory``, ``s3``, ``gcs`` or ``azure``; ``bucket`` may
    carry a ``/``-separated prefix. For ``file`` the folder is ``root/bucket``, with
    ``root`` from the argument, else ``SESSION_STORAGE_ROOT``, else ``.data``.
    ``storage_options`` default to ``SESSION_STORAGE_OPTIONS``. Raises
    ConfigurationError for an unknown backend.

    Every argument of SessionStorage is taken too, with the same meaning; ``url`` and
    ``storage_options`` only by keyword (the first two places are ``backend`` and
    ``bucket``). A ``url`` replaces ``backend``, ``bucket`` and ``root``: giving it
    with any of them raises InvalidArgumentError.
    """

    def __init__(
        self,
        backend: str = "file",
        bucket: str = DEFAULT_SESSION_BUCKET,
        *,
        root: str | None = None,
        url: str | os.PathLike[str] | None = None,
        storage_options: Mapping[str, Any] | None = None,
        background_concurrency: int = DEFAULT_CONCURRENCY,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_concurrency: int | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        engine: str = DEFAULT_ENGINE,
        encryption_keys: Mapping[str, bytes | str] | None = None,
        compression: Compression | str | Mapping[str, Any] | None = None,
    ) -> None:
        env = os.environ
        named = url is None
        if url is None:
            base = root or env.get("SESSION_STORAGE_ROOT", "").strip() or DEFAULT_ROOT
            url = backend_url(backend, bucket, base)
        elif (backend, bucket, root) != ("file", DEFAULT_SESSION_BUCKET, None):
            raise invalid("give url, or backend, bucket and root, not both")
        super().__init__(
            url,
            options_from_env(env) if storage_options is None else storage_options,
            background_concurrency=background_concurrency,
            max_pending=max_pending,
            max_concurrency=max_concurrency,
            timeout=timeout,
            engine=engine,
            encryption_keys=encryption_keys,
            compression=compression,
        )
        # Given a URL: what follows its scheme (the bucket and prefix, or the folder).
        self.bucket = bucket if named else self.url.partition("://")[2]

    @classmethod
    def from_filesystem(cls, fs: Any, root: str, **keywords: Any) -> SessionStorageAdapter:
        """An adapter on a filesystem object; as SessionStorage.from_filesystem, with
        ``bucket`` what follows the scheme of its URL."""
        adapter = super().from_filesystem(fs, root, **keywords)
        adapter.bucket = adapter.url.partition("://")[2]
        return adapter


def get_default_storage_adapter() -> SessionStorageAdapter:
    """An adapter for ``SESSION_STORAGE_BACKEND`` / ``SESSION_STORAGE_BUCKET`` (file, sessions)."""
    env = os.environ
    return SessionStorageAdapter(
        env.get("SESSION_STORAGE_BACKEND", "").strip() or "file",
        env.get("SESSION_STORAGE_BUCKET", "").strip() or DEFAULT_SESSION_BUCKET,
    )
