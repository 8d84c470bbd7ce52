"""Exit codes, and which error gives which (listed in ``--help`` by parser.py)."""

from __future__ import annotations

import re

from ..core.errors import (
    ConfigurationError,
    CorruptDataError,
    ForeignRootError,
    InvalidArgumentError,
    MissingDependencyError,
    SerializationError,
    SessionStorageError,
)

__all__ = [
    "EXIT_BACKEND",
    "EXIT_CHECK_FAILED",
    "EXIT_DATA",
    "EXIT_DECLINED",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "exit_code_for",
    "rejected_option",
]

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_CHECK_FAILED = 1  # check: a step failed (conditional writes not enforced, ...)
EXIT_USAGE = 2
EXIT_BACKEND = 3
EXIT_DATA = 4
EXIT_DECLINED = 5
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A command line that cannot be carried out as given (exit code 2)."""


# What Python says when a client is created with a keyword it does not take.
_UNEXPECTED_KEYWORD = re.compile(r"unexpected keyword argument '([^']+)'")

# Errors the caller fixes in the command line or the settings: a bad argument (an
# invalid id is one), an unknown scheme or option, a missing extra, a value that
# cannot be encoded, a local folder that is not a store (the URL points at the wrong
# folder: nothing there may be deleted, whatever the flags).
_USAGE_ERRORS = (
    ConfigurationError,
    ForeignRootError,
    InvalidArgumentError,
    MissingDependencyError,
    SerializationError,
)


def rejected_option(exc: BaseException) -> str | None:
    """The storage option a cloud client refused when it was created, if that is
    what ``exc`` (or an error it was raised from) reports.

    s3fs hands options it does not know to aiobotocore's session, which raises
    ``TypeError: ... unexpected keyword argument 'bogus'``; the library reports that
    as a backend error, but the fix is in the options.
    """
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, TypeError):
            match = _UNEXPECTED_KEYWORD.search(str(cause))
            if match:
                return match.group(1)
        cause = cause.__cause__ or cause.__context__
    return None


def exit_code_for(exc: SessionStorageError) -> int:
    """2 for what the caller must fix in the invocation or settings (including a
    storage option the backend's client refused), 4 for corrupt data, 3 for
    everything else the backend reported."""
    if isinstance(exc, _USAGE_ERRORS) or rejected_option(exc) is not None:
        return EXIT_USAGE
    if isinstance(exc, CorruptDataError):
        return EXIT_DATA
    return EXIT_BACKEND
