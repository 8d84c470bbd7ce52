"""Reversible encoding of session ids and filenames into path segments.

Defined in :mod:`session_storage.core.keys`; this is the import path README documents
(``session_storage.keys.session_sort_key``)."""

from __future__ import annotations

from .core.keys import (
    decode_filename,
    decode_segment,
    encode_filename,
    encode_segment,
    join,
    session_sort_key,
)

__all__ = [
    "decode_filename",
    "decode_segment",
    "encode_filename",
    "encode_segment",
    "join",
    "session_sort_key",
]
