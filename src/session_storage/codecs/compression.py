"""zstd compression of stored bodies: the setting, and compress / decompress.

``compression="zstd"`` or ``compression={"method": "zstd", "level": 3, "min_size": 512}``
(the shape pandas uses for its ``compression=``). The ``zstandard`` package (extra
``compression``) does the work; on Python 3.14+ the standard library's
``compression.zstd`` does when ``zstandard`` is not installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ..core.errors import ConfigurationError, MissingDependencyError

__all__ = ["DEFAULT_LEVEL", "DEFAULT_MIN_SIZE", "Compression", "compression_from_env"]

DEFAULT_LEVEL = 3
"""zstd's own default: most of the ratio of level 19 at a fraction of the time."""

DEFAULT_MIN_SIZE = 512
"""Bodies shorter than this are stored uncompressed.

Measured on JSON states (``python -m benchmarks codecs``): below ~512 bytes zstd saves
a few dozen bytes at best, less than its frame header plus ours costs on small,
varied objects, and the call itself costs more than moving the bytes.
"""

_METHODS = ("zstd",)
_FIELDS = frozenset({"method", "level", "min_size"})


@dataclass(frozen=True, slots=True)
class Compression:
    """How stored bodies are compressed: ``method`` (only ``"zstd"``), ``level``
    (1-22; negative levels trade ratio for speed) and ``min_size`` in bytes."""

    method: str = "zstd"
    level: int = DEFAULT_LEVEL
    min_size: int = DEFAULT_MIN_SIZE

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise ConfigurationError(
                f"unknown compression method {self.method!r}; supported: {', '.join(_METHODS)}"
            )
        for name, low, high in (("level", -131072, 22), ("min_size", 0, 2**62)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigurationError(
                    f"compression {name} must be an int from {low} to {high}, got {value!r}"
                )

    @classmethod
    def parse(cls, value: object) -> Compression | None:
        """``None``, ``"zstd"``, a mapping with ``method`` / ``level`` / ``min_size``, or a
        Compression; anything else raises ConfigurationError."""
        if value is None or isinstance(value, Compression):
            return value
        if isinstance(value, str):
            return cls(method=value.strip().lower())
        if isinstance(value, Mapping):
            unknown = sorted(set(map(str, value)) - _FIELDS)
            if unknown:
                raise ConfigurationError(
                    f"unknown compression setting {', '.join(map(repr, unknown))}; "
                    f"use {', '.join(sorted(_FIELDS))}"
                )
            return cls(**{str(k): v for k, v in value.items()})
        raise ConfigurationError(
            "compression must be None, 'zstd' or a mapping such as "
            f"{{'method': 'zstd', 'level': 3}}, got {type(value).__name__}"
        )

    def compressor(self) -> Callable[[bytes], bytes]:
        """A function compressing one body into one zstd frame that records its size."""
        backend = _backend()
        if backend.__name__ == "zstandard":
            return backend.ZstdCompressor(level=self.level, write_content_size=True).compress  # type: ignore[no-any-return]
        level = self.level
        return lambda data: backend.compress(data, level=level)


def decompressor() -> Callable[[bytes], bytes]:
    """A function decompressing one zstd frame written by :meth:`Compression.compressor`."""
    backend = _backend()
    if backend.__name__ == "zstandard":
        return backend.ZstdDecompressor().decompress  # type: ignore[no-any-return]
    return backend.decompress  # type: ignore[no-any-return]


def _backend() -> Any:
    """The zstd module: ``zstandard``, else the standard library's (Python 3.14+)."""
    for name in ("zstandard", "compression.zstd"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise MissingDependencyError(
        "zstd compression needs the 'zstandard' package: pip install 'session-storage[compression]'"
    )


def compression_from_env(env: Mapping[str, str]) -> Compression | None:
    """``SESSION_STORAGE_COMPRESSION``: ``zstd`` or a JSON object such as
    ``{"method": "zstd", "level": 9}``; empty, unset or ``none`` gives ``None``."""
    raw = env.get("SESSION_STORAGE_COMPRESSION", "").strip()
    if not raw or raw.lower() == "none":
        return None
    if raw.startswith("{"):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ConfigurationError(
                f"SESSION_STORAGE_COMPRESSION is not valid JSON: {exc}"
            ) from exc
        return Compression.parse(value)
    return Compression.parse(raw)
