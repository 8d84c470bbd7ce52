"""Backends: a small registry from URL scheme to driver class."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from fsspec.core import split_protocol

from ..errors import ConfigurationError
from .base import Driver, ObjectInfo

__all__ = ["Driver", "ObjectInfo", "driver_class", "open_driver"]

# scheme -> "module:Class"; modules are imported only when their scheme is used, so a
# missing cloud client costs nothing until someone asks for that cloud.
_REGISTRY: dict[str, str] = {
    "file": "local:LocalDriver",
    "local": "local:LocalDriver",
    "memory": "memory:MemoryDriver",
    "s3": "s3:S3Driver",
    "s3a": "s3:S3Driver",
    "gs": "gcs:GCSDriver",
    "gcs": "gcs:GCSDriver",
    "az": "azure:AzureDriver",
    "abfs": "azure:AzureDriver",
    "abfss": "azure:AzureDriver",
}


def driver_class(url: str) -> type[Driver]:
    """The driver class for a URL; a plain path is a local folder."""
    scheme, _ = split_protocol(url)
    target = _REGISTRY.get((scheme or "file").lower())
    if target is None:
        known = ", ".join(f"{s}://" for s in sorted(_REGISTRY))
        raise ConfigurationError(f"unsupported URL scheme {scheme!r} in {url!r}; use {known}")
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    cls: type[Driver] = getattr(module, class_name)
    return cls


def open_driver(url: str, storage_options: Mapping[str, Any]) -> tuple[Driver, str]:
    """A driver for ``url`` and the backend path of its root. Does no I/O."""
    cls = driver_class(url)
    root = cls.root_path(url)
    if not root.strip("/") and cls.name not in ("file", "memory"):
        raise ConfigurationError(f"{url!r} names no bucket")
    driver = cls(storage_options)
    driver.root = root
    return driver, root
