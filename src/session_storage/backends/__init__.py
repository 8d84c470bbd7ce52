"""Backends: the driver interface, and the driver of a URL from the backend table."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from fsspec.core import split_protocol

from ..core.errors import ConfigurationError
from .base import Driver, ObjectInfo
from .registry import BACKENDS, DEFAULT_ENGINE, Backend, by_name, by_scheme, driver_ref

__all__ = [
    "BACKENDS",
    "Backend",
    "Driver",
    "ObjectInfo",
    "by_name",
    "driver_class",
    "open_driver",
]


def driver_class(url: str, engine: str = DEFAULT_ENGINE) -> type[Driver]:
    """The driver class for a URL on ``engine``; a plain path is a local folder.

    Raises ConfigurationError for a scheme no backend has, or one the engine cannot
    serve.
    """
    scheme, _ = split_protocol(url)
    module_name, _, class_name = driver_ref(by_scheme(scheme, url), engine).partition(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    cls: type[Driver] = getattr(module, class_name)
    return cls


def open_driver(
    url: str, storage_options: Mapping[str, Any], engine: str = DEFAULT_ENGINE
) -> tuple[Driver, str]:
    """A driver for ``url`` on ``engine`` and the backend path of its root. Does no I/O.

    Raises ConfigurationError for an unknown scheme, one the engine cannot serve, or an
    object-store URL that names no bucket; MissingDependencyError when the engine's
    client is not installed.
    """
    cls = driver_class(url, engine)
    root = cls.root_path(url)
    if cls.needs_bucket and not root.strip("/"):
        raise ConfigurationError(f"{url!r} names no bucket")
    return cls.for_url(url, root, storage_options), root
