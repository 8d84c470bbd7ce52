"""The generic driver: any fsspec protocol, chain or filesystem object."""

from __future__ import annotations

from .driver import GenericDriver

__all__ = ["GenericDriver"]
