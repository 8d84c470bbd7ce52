"""The driver for a filesystem object a caller configured (``from_filesystem``).

The tuned drivers know their clients better than any generic code, so a filesystem
whose backend has one gets it:

- s3fs, gcsfs and adlfs instances: the tuned cloud driver, opened with the instance's
  own constructor options (``fs.storage_options``: credentials, a botocore session,
  retries, endpoints). The driver opens its own client from them in each event loop
  that uses it (a client belongs to the loop that opened it), so the caller's instance
  is neither used across loops nor closed.
- a LocalFileSystem: the local driver (which writes with ``os`` directly).
- a MemoryFileSystem: the memory driver, on the instance's own store.
- anything else (a DirFileSystem, sshfs, FTP, a caching chain, a subclass): the
  generic driver, on the instance itself, which it never closes.
"""

from __future__ import annotations

from typing import Any

from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper

from ..core.errors import ConfigurationError
from .base import _RESERVED_OPTIONS, Driver
from .generic.profiles import protocols
from .registry import AZURE, DEFAULT_ENGINE, GCS, S3

__all__ = ["driver_for_filesystem"]

_CLOUDS = {scheme: backend for backend in (S3, GCS, AZURE) for scheme in backend.schemes}


def driver_for_filesystem(fs: Any, root: str, engine: str = DEFAULT_ENGINE) -> Driver:
    """The driver for ``fs`` rooted at ``root`` (a path in ``fs``: ``bucket/prefix`` on
    an object store, a folder elsewhere). Does no I/O.

    Raises ConfigurationError for something that is not an fsspec filesystem, for an
    engine other than fsspec (the filesystem is the client), for an asynchronous
    instance of a filesystem without a tuned driver (pass it in blocking mode), and for
    a root that names no folder or bucket.
    """
    from fsspec import AbstractFileSystem
    from fsspec.implementations.local import LocalFileSystem
    from fsspec.implementations.memory import MemoryFileSystem

    if not isinstance(fs, AbstractFileSystem):
        raise ConfigurationError(
            f"from_filesystem needs an fsspec filesystem, got {type(fs).__name__}"
        )
    if engine != DEFAULT_ENGINE:
        raise ConfigurationError(
            f"from_filesystem uses the filesystem's own client: engine must be "
            f"{DEFAULT_ENGINE!r}, got {engine!r}"
        )
    if not isinstance(root, str):
        raise ConfigurationError(f"root must be a str path, got {type(root).__name__}")
    names = protocols(fs)
    cloud = next((_CLOUDS[name] for name in names if name in _CLOUDS), None)
    if cloud is not None:
        return _tuned(cloud.driver, f"{cloud.scheme}://{root.lstrip('/')}", _options(fs))
    if type(fs) is LocalFileSystem:
        return _tuned("local.driver:LocalDriver", root, {})
    if isinstance(fs, MemoryFileSystem):
        driver = _tuned("memory:MemoryDriver", f"memory://{root.lstrip('/')}", {})
        driver._fs = AsyncFileSystemWrapper(fs, asynchronous=True)
        return driver
    return _generic(fs, root)


def _options(fs: Any) -> dict[str, Any]:
    """The constructor options of ``fs`` that the tuned driver may pass on."""
    return {k: v for k, v in fs.storage_options.items() if k not in _RESERVED_OPTIONS}


def _tuned(ref: str, url: str, options: dict[str, Any]) -> Driver:
    import importlib

    module_name, _, class_name = ref.partition(":")
    module = importlib.import_module(f"{__package__}.{module_name}")
    cls: type[Driver] = getattr(module, class_name)
    root = cls.root_path(url)
    if cls.needs_bucket and not root.strip("/"):
        raise ConfigurationError(f"{url!r} names no bucket")
    return cls(root, options)


def _generic(fs: Any, root: str) -> Driver:
    from .generic import GenericDriver

    if getattr(fs, "asynchronous", False):
        raise ConfigurationError(
            f"the {type(fs).__name__} filesystem was opened with asynchronous=True; pass "
            "it in blocking mode (the default): the storage calls it from worker threads"
        )
    path = str(fs._strip_protocol(root)).rstrip("/") if root.strip("/") else ""
    if not path and "dir" not in protocols(fs):
        raise ConfigurationError(
            f"root {root!r} names no folder in the {type(fs).__name__} filesystem"
        )
    return GenericDriver(path, {}, fs=fs)
