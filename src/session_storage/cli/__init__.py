"""The ``session-storage`` command (also ``python -m session_storage``).

``main(argv)`` parses the arguments, runs one command on a fresh event loop and
returns its exit code. Errors end as one line on stderr and an exit code (see
``session-storage --help``); ``--traceback`` shows the full traceback instead.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from ..errors import SessionStorageError
from .commands import COMMANDS
from .exits import EXIT_BACKEND, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError, exit_code_for
from .parser import build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(COMMANDS[args.command](args))
    except KeyboardInterrupt:
        print("session-storage: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`session-storage ls | head`): what it wanted, it got.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if args.traceback:
            raise
        code, message = _describe(exc)
        print(f"session-storage: error: {message}", file=sys.stderr)
        return code


def _describe(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, UsageError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, SessionStorageError):
        return exit_code_for(exc), str(exc)
    # Not a library error: a bug or an unexpected failure. Still one line; --traceback
    # shows where.
    return EXIT_BACKEND, f"{type(exc).__name__}: {exc} (run with --traceback for details)"
