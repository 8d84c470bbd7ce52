"""Reversible encoding of session ids and filenames into path segments.

Defined in :mod:`session_storage.core.keys`; this is the import path README documents
(``session_storage.keys.session_sort_key``)."""

from __future__ import annotations

# Every name of core.keys.__all__; importing that list as ``__all__`` makes mypy treat
# each of them as re-exported from here.
from .core.keys import *  # noqa: F403
from .core.keys import __all__ as __all__
