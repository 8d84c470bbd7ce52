"""The library's errors, each a subclass of the matching builtin (see README "Errors").

Defined in :mod:`session_storage.core.errors`; this is their public import path."""

from __future__ import annotations

# The star import takes the error classes named in core.errors.__all__, and importing
# that list as ``__all__`` makes mypy treat each of them as re-exported from here (a
# list built at run time would hide them from type checkers).
from .core.errors import *  # noqa: F403
from .core.errors import ErrorKind, translate
from .core.errors import __all__ as __all__

__all__ = [*__all__, "ErrorKind", "translate"]
