"""Credentials hidden from URLs and text before they are shown.

Defined in :mod:`session_storage.core.redaction`; this is the import path README
documents (``session_storage.redaction.redact_url``)."""

from __future__ import annotations

# Every name of core.redaction.__all__; importing that list as ``__all__`` makes mypy
# treat each of them as re-exported from here.
from .core.redaction import *  # noqa: F403
from .core.redaction import __all__ as __all__
