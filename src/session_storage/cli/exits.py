"""Exit codes, and which error gives which (listed in ``--help`` by parser.py)."""

from __future__ import annotations

from ..errors import (
    ConfigurationError,
    CorruptDataError,
    InvalidKeyError,
    MissingDependencyError,
    SerializationError,
    SessionStorageError,
)

__all__ = [
    "EXIT_BACKEND",
    "EXIT_DATA",
    "EXIT_DECLINED",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "exit_code_for",
]

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_BACKEND = 3
EXIT_DATA = 4
EXIT_DECLINED = 5
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A command line that cannot be carried out as given (exit code 2)."""


def exit_code_for(exc: SessionStorageError) -> int:
    """2 for what the caller must fix in the invocation or settings, 4 for corrupt
    data, 3 for everything the backend reported."""
    if isinstance(
        exc, (ConfigurationError, InvalidKeyError, MissingDependencyError, SerializationError)
    ):
        return EXIT_USAGE
    if isinstance(exc, CorruptDataError):
        return EXIT_DATA
    return EXIT_BACKEND
