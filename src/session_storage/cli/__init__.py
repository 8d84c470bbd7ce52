"""The ``session-storage`` command (also ``python -m session_storage``).

``main(argv)`` parses the arguments, runs one command on a fresh event loop and
returns its exit code. Errors end as one line on stderr and an exit code (see
``session-storage --help``); ``--traceback`` prints the full traceback before that
line and changes nothing else.
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from collections.abc import Sequence

from ..core.errors import SessionStorageError
from .commands import COMMANDS
from .exits import (
    EXIT_BACKEND,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    exit_code_for,
    rejected_option,
)
from .importing import cmd_import
from .parser import build_parser

__all__ = ["main"]

# `import` lives in its own module, which builds on commands.py.
_COMMANDS = {**COMMANDS, "import": cmd_import}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code.

    Never raises for a bad command line or a failed command: argparse's own exits
    (usage errors, ``--help``, ``--version``) are returned as their codes too.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # argparse has printed the usage error or the help
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    try:
        return asyncio.run(_COMMANDS[args.command](args))
    except KeyboardInterrupt:
        print("session-storage: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`session-storage ls | head`): what it wanted, it got.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 (the last resort: any failure ends as one line)
        if args.traceback:
            traceback.print_exception(exc, file=sys.stderr)
        code, message = _describe(exc)
        print(f"session-storage: error: {message}", file=sys.stderr)
        return code


def _describe(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, UsageError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, SessionStorageError):
        option = rejected_option(exc)
        if option is not None:
            return EXIT_USAGE, f"{exc} (storage option {option!r} is not one the client takes)"
        return exit_code_for(exc), str(exc)
    # Not a library error: a bug or an unexpected failure. Still one line; --traceback
    # shows where.
    return EXIT_BACKEND, f"{type(exc).__name__}: {exc} (run with --traceback for details)"
