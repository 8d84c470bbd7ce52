"""Credentials hidden from URLs and text before they are shown.

Defined in :mod:`session_storage.core.redaction`; this is the import path README
documents (``session_storage.redaction.redact_url``)."""

from __future__ import annotations

from .core.redaction import (
    MASK,
    is_secret_name,
    redact_text,
    redact_url,
    split_userinfo,
)

__all__ = [
    "MASK",
    "is_secret_name",
    "redact_text",
    "redact_url",
    "split_userinfo",
]
