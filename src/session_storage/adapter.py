"""A drop-in for the ``SessionStorageAdapter(backend=..., bucket=...)`` style of setup."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

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
    """

    def __init__(
        self,
        backend: str = "file",
        bucket: str = DEFAULT_SESSION_BUCKET,
        *,
        root: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        env = os.environ
        base = root or env.get("SESSION_STORAGE_ROOT", "").strip() or DEFAULT_ROOT
        options = options_from_env(env) if storage_options is None else storage_options
        super().__init__(backend_url(backend, bucket, base), options)
        self.bucket = bucket


def get_default_storage_adapter() -> SessionStorageAdapter:
    """An adapter for ``SESSION_STORAGE_BACKEND`` / ``SESSION_STORAGE_BUCKET`` (file, sessions)."""
    env = os.environ
    return SessionStorageAdapter(
        env.get("SESSION_STORAGE_BACKEND", "").strip() or "file",
        env.get("SESSION_STORAGE_BUCKET", "").strip() or DEFAULT_SESSION_BUCKET,
    )
