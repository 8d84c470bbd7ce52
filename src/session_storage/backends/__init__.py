"""Backends: the driver interface, and the driver of a URL from the backend table."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from fsspec.core import split_protocol

from ..errors import ConfigurationError
from .base import Driver, ObjectInfo
from .registry import BACKENDS, Backend, by_name, by_scheme

__all__ = [
    "BACKENDS",
    "Backend",
    "Driver",
    "ObjectInfo",
    "by_name",
    "driver_class",
    "open_driver",
]


def driver_class(url: str) -> type[Driver]:
    """The driver class for a URL; a plain path is a local folder.

    Raises ConfigurationError for a scheme no backend has.
    """
    scheme, _ = split_protocol(url)
    module_name, _, class_name = by_scheme(scheme, url).driver.partition(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    cls: type[Driver] = getattr(module, class_name)
    return cls


def open_driver(url: str, storage_options: Mapping[str, Any]) -> tuple[Driver, str]:
    """A driver for ``url`` and the backend path of its root. Does no I/O.

    Raises ConfigurationError for an unknown scheme, or an object-store URL that names
    no bucket.
    """
    cls = driver_class(url)
    root = cls.root_path(url)
    if cls.needs_bucket and not root.strip("/"):
        raise ConfigurationError(f"{url!r} names no bucket")
    return cls(root, storage_options), root
