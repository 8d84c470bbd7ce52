"""Copies the CLI refuses before touching anything: into memory, or onto itself."""

from __future__ import annotations

import os
from typing import Any

from ..backends import driver_class
from ..settings import StorageSettings
from .exits import UsageError

__all__ = ["check_copy"]

# Options that choose which server a bucket lives on: two URLs naming the same bucket
# on different endpoints are different stores.
_SERVICE_OPTIONS = (
    "endpoint_url",
    "client_kwargs",
    "account_name",
    "account_url",
    "connection_string",
    "project",
)


def check_copy(src: StorageSettings, dst: StorageSettings) -> None:
    """Raise UsageError for a copy that would be lost or copy into its own source.

    A ``memory://`` destination lives only as long as this process. A source and a
    destination on the same backend and server whose roots are equal or nested (one
    a folder of the other, after resolving ``..``, symlinks and scheme aliases such as
    ``s3a://``) overlap: the copy would read what it writes. Raises
    ConfigurationError for an unsupported URL scheme.
    """
    if driver_class(dst.url).name == "memory":
        raise UsageError(
            f"refusing to copy into {dst.url}: a memory:// store lives inside one process, "
            "and this one ends when the copy does, so the copy would be lost; "
            "copy into a folder or a bucket instead"
        )
    src_where, dst_where = _location(src), _location(dst)
    if src_where[:2] != dst_where[:2]:
        return
    src_parts, dst_parts = src_where[2], dst_where[2]
    shorter = min(len(src_parts), len(dst_parts))
    if src_parts[:shorter] != dst_parts[:shorter]:
        return
    if src_parts == dst_parts:
        why = "they are the same store"
    elif len(dst_parts) > len(src_parts):
        why = "the destination lies inside the source"
    else:
        why = "the source lies inside the destination"
    raise UsageError(
        f"refusing to copy {src.url} to {dst.url}: {why}, so the copy would read what it "
        "writes; copy to a location outside the source"
    )


def _location(settings: StorageSettings) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(backend, server, root path segments) of a storage, comparable across aliases."""
    driver = driver_class(settings.url)
    root = driver.root_path(settings.url)
    if driver.name == "file":
        root = os.path.realpath(root)
    options: dict[str, Any] = dict(settings.storage_options)
    server = tuple(repr(options.get(name)) for name in _SERVICE_OPTIONS)
    return driver.name, server, tuple(part for part in root.split("/") if part)
