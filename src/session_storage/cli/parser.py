"""The command line: arguments, durations and ``key=value`` options."""

from __future__ import annotations

import argparse
import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

import orjson

from .. import DEFAULT_FILENAME, __version__
from ..backends.registry import ENGINES
from ..integrations.importers import SOURCES

__all__ = ["EXIT_CODES_HELP", "build_parser", "format_duration", "parse_duration", "parse_option"]

EXIT_CODES_HELP = """\
exit codes:
  0  success
  1  not found: the session or file does not exist; check: a step failed (such as
     conditional writes not enforced by the store)
  2  usage or configuration error (bad arguments, unknown URL scheme, unknown
     storage options, missing extra, rm or gc without --yes when stdin is not a
     terminal, gc --older-than 0 without --yes, cp into its own source or into
     memory://, serve on a host other than 127.0.0.1 without a token)
  3  backend error (missing bucket, refused credentials, unreachable endpoint, ...)
  4  corrupt data: a stored file is not the JSON it should be, or (rekey) a file
     could not be decoded
  5  declined: rm or gc was not confirmed at the prompt
  130 interrupted (Ctrl-C)
"""

_DESCRIPTION = """\
Look at, copy and clean up sessions stored by session-storage.

The storage comes from the same settings as the library (SESSION_STORAGE_URL,
SESSION_STORAGE_BACKEND, SESSION_STORAGE_BUCKET, SESSION_STORAGE_ROOT and
SESSION_STORAGE_OPTIONS; with none set, the folder .data/sessions), overridden by
--url and --option/--options. SESSION_STORAGE_ENCRYPTION_KEYS and
SESSION_STORAGE_COMPRESSION configure the codecs: show and cp decode with them, and
cp writes with them."""

_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[wdhms])+")
_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``15m``, ``90s``, ``1w``, ``1d12h`` or plain seconds.

    The duration is an age measured back from now, so it must be finite, not negative,
    and reach back no further than the year 1; anything else is an
    ``ArgumentTypeError`` naming ``text``.
    """
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        if not _DURATION.fullmatch(value):
            raise argparse.ArgumentTypeError(
                f"invalid duration {text!r}: use a number with a unit, such as 30d, 12h, "
                "15m, 90s or 1d12h"
            ) from None
        seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(value))
    if not math.isfinite(seconds):  # float() also reads "inf" and "nan"
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: must be a finite number")
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: must not be negative")
    try:
        duration = timedelta(seconds=seconds)
        _ = datetime.now(timezone.utc) - duration  # the cutoff gc computes from it
    except OverflowError:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: too long, it reaches back before the year 1"
        ) from None
    return duration


def format_duration(value: timedelta) -> str:
    """The shortest ``1d12h`` form of a duration (``0s`` for zero)."""
    seconds = value.total_seconds()
    parts = []
    for unit in ("d", "h", "m"):
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            parts.append(f"{count:.0f}{unit}")
    if seconds or not parts:
        parts.append(f"{seconds:g}s")
    return "".join(parts)


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value``; the value is JSON if it parses as JSON, else the plain string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"invalid option {text!r}: use KEY=VALUE")
    try:
        value: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = raw
    return key.strip(), value


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {type(value).__name__}")
    return value


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


NO_DEADLINE = 0.0
"""What ``--timeout none`` parses to: no valid timeout is 0, and None means "not given"."""


def _timeout(text: str) -> float:
    from ..concurrency.deadlines import timeout_from_env
    from ..core.errors import ConfigurationError

    try:
        seconds = timeout_from_env({"SESSION_STORAGE_TIMEOUT": text})
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return NO_DEADLINE if seconds is None else seconds


def _add_common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # The options are accepted before and after the command. On the command's parser
    # their defaults are SUPPRESS, so a value given before the command survives.
    default: Any = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("storage and output")
    group.add_argument(
        "--url", default=default, help="the storage URL (default: from SESSION_STORAGE_*)"
    )
    group.add_argument(
        "--option",
        "-o",
        dest="option",
        action="append",
        type=parse_option,
        default=[] if top else argparse.SUPPRESS,
        metavar="KEY=VALUE",
        help="a storage option (repeatable; VALUE is parsed as JSON if it can be)",
    )
    group.add_argument(
        "--options",
        type=_json_object,
        default=default,
        metavar="JSON",
        help="storage options as a JSON object, merged over SESSION_STORAGE_OPTIONS",
    )
    group.add_argument(
        "--timeout",
        type=_timeout,
        default=default,
        metavar="SECONDS",
        help="deadline of each operation, client retries included "
        "(default: SESSION_STORAGE_TIMEOUT or 30; 'none' for no deadline)",
    )
    group.add_argument(
        "--engine",
        choices=ENGINES,
        default=default,
        help="client for s3://, gs:// and az:// (default: SESSION_STORAGE_ENGINE or fsspec)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="print machine-readable JSON",
    )
    group.add_argument(
        "--traceback",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="show the full traceback of an error",
    )


def _optional_file(parser: argparse.ArgumentParser, default: str | None, help: str) -> None:
    """The optional FILE positional that follows SESSION."""
    parser.add_argument("file", nargs="?", default=default, metavar="FILE", help=help)


def build_parser() -> argparse.ArgumentParser:
    """The ``session-storage`` argument parser."""
    parser = _Parser(
        prog="session-storage",
        description=_DESCRIPTION,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_common(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    def command(name: str, help: str, *examples: str) -> argparse.ArgumentParser:
        # The exit codes are listed once, in the top-level help; each command shows how
        # it is called.
        lines = "".join(f"  session-storage {name} {example}\n" for example in examples)
        sub = commands.add_parser(
            name,
            help=help,
            description=help,
            epilog=f"example:\n{lines}\nexit codes: see session-storage --help",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_common(sub, top=False)
        return sub

    session = "the session id, as the application stores it"
    ls = command(
        "ls", "list the sessions, optionally those whose id starts with PREFIX", "chat-", ""
    )
    ls.add_argument(
        "prefix", nargs="?", default="", metavar="PREFIX", help="list only ids starting so"
    )
    _add_view(ls, ("auto", "plain", "langgraph", "adk"))

    files = command("files", "list the files of a session", "chat-42")
    files.add_argument("session", metavar="SESSION", help=session)

    show = command(
        "show",
        f"print a stored file as pretty JSON (default file: {DEFAULT_FILENAME})",
        "chat-42",
        "--url s3://my-bucket/app chat-42 notes.json",
    )
    show.add_argument("session", metavar="SESSION", help=session)
    _optional_file(show, DEFAULT_FILENAME, f"the file of the session (default: {DEFAULT_FILENAME})")
    show.add_argument("--raw", action="store_true", help="write the stored bytes as they are")
    _add_view(show, ("auto", "plain", "langgraph", "adk", "openai-agents"))

    info = command(
        "info",
        "size, times and version of a file, or of every file of a session",
        "chat-42 state.json",
    )
    info.add_argument("session", metavar="SESSION", help=session)
    _optional_file(info, None, "one file (default: every file)")

    rm = command("rm", "delete a session (every file) or one file of it", "chat-42 --yes")
    rm.add_argument("session", metavar="SESSION", help=session)
    _optional_file(rm, None, "delete only this file (default: the whole session)")
    rm.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    cp = command(
        "cp",
        "copy every session and file from SRC_URL to DST_URL, skipping identical files",
        "file://.data/sessions s3://my-bucket/app --dst-option endpoint_url=http://127.0.0.1:9000",
    )
    cp.add_argument("src", metavar="SRC_URL", help="the storage URL to copy from")
    cp.add_argument("dst", metavar="DST_URL", help="the storage URL to copy into")
    cp.add_argument(
        "--src-option",
        action="append",
        type=parse_option,
        default=[],
        metavar="KEY=VALUE",
        help="a storage option for the source only",
    )
    cp.add_argument(
        "--dst-option",
        action="append",
        type=parse_option,
        default=[],
        metavar="KEY=VALUE",
        help="a storage option for the destination only",
    )
    cp.add_argument("--no-progress", action="store_true", help="never show a progress bar")

    gc = command(
        "gc",
        "delete the sessions whose newest file is older than a duration",
        "--older-than 30d --dry-run",
    )
    gc.add_argument(
        "--older-than",
        required=True,
        type=parse_duration,
        metavar="DURATION",
        help="for example 30d, 12h, 15m, 90s or 1d12h",
    )
    gc.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    gc.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="do not ask for confirmation (required for --older-than 0)",
    )
    rekey = command(
        "rekey",
        "rewrite every file not encrypted under the first of SESSION_STORAGE_ENCRYPTION_KEYS "
        "(plain, or under an older key); resumable, never overwrites a newer write",
        "--dry-run",
    )
    rekey.add_argument("--dry-run", action="store_true", help="count what would be rewritten")
    rekey.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    command(
        "check",
        "check that the store works as the library needs (credentials, bucket, write, read, "
        "list, delete, conditional writes enforced, clock), with a few requests in a "
        "temporary session it deletes",
        "--url s3://my-bucket/app",
        "--json",
    )
    imports = command(
        "import",
        "import the sessions of a framework's SQLite database (read-only) into the storage, "
        "where the framework's integration reads them; resumable: a second run writes "
        "only what is missing",
        "openai-sqlite conversations.db",
        "langgraph-sqlite checkpoints.sqlite --dry-run",
        "adk-sqlite sessions.db --url s3://my-bucket/adk",
    )
    imports.add_argument(
        "source",
        choices=tuple(SOURCES),
        metavar="SOURCE",
        help="openai-sqlite (the OpenAI Agents SDK's SQLiteSession), langgraph-sqlite "
        "(LangGraph's SqliteSaver) or adk-sqlite (ADK's DatabaseSessionService)",
    )
    imports.add_argument("database", metavar="DB", help="the SQLite database file")
    imports.add_argument(
        "--dry-run", action="store_true", help="count what would be imported, write nothing"
    )
    imports.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    _add_events(command("events", _EVENTS_HELP, "chat-42 openai-agents --tail 20 --follow"))
    _add_serve(command("serve", _SERVE_HELP, "", "--host 0.0.0.0 --token s3cret --port 0"))
    return parser


_VIEW_HELP = """how to read the store: 'plain' sessions and files; 'langgraph' threads (SESSION)
and checkpoints (FILE: a checkpoint id); 'adk' apps, users (--app) and sessions
(--app --user; SESSION an ADK session id); 'openai-agents' a conversation (FILE: its
stream, default openai-agents); 'auto' (default) finds langgraph or adk from the
store's layout, else plain"""

_EVENTS_HELP = "print the events of a stream, one per line with index and time"
_SERVE_HELP = (
    "serve a read-only web browser of the store (extra [web]); the first line printed is its URL"
)


def _add_view(parser: argparse.ArgumentParser, kinds: tuple[str, ...]) -> None:
    parser.add_argument("--as", dest="view", choices=kinds, default="auto", help=_VIEW_HELP)
    parser.add_argument("--app", default=None, help="the ADK app (with --as adk)")
    parser.add_argument("--user", default=None, help="the ADK user id (with --as adk)")
    parser.add_argument(
        "--ns", default="", metavar="NAMESPACE", help="the LangGraph checkpoint namespace"
    )


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def _add_events(events: argparse.ArgumentParser) -> None:
    events.add_argument("session", metavar="SESSION", help="the session id")
    events.add_argument("stream", metavar="STREAM", help="the event stream of the session")
    where = events.add_mutually_exclusive_group()
    where.add_argument(
        "--start", type=_non_negative, default=None, metavar="N", help="from index N (default 0)"
    )
    where.add_argument("--tail", type=_non_negative, default=None, metavar="N", help="the last N")
    events.add_argument(
        "--follow", "-f", action="store_true", help="then wait for new events until Ctrl-C"
    )
    events.add_argument(
        "--interval",
        type=_interval,
        default=1.0,
        metavar="SECONDS",
        help="seconds between two polls of --follow, one request each (default 1)",
    )


def _port(text: str) -> int:
    value = _non_negative(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return value


def _add_serve(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1; any other needs --token)",
    )
    serve.add_argument(
        "--port", type=_port, default=8765, help="the TCP port (default 8765; 0: a free one)"
    )
    serve.add_argument(
        "--token",
        default=None,
        help="require this token (default: SESSION_STORAGE_SERVE_TOKEN): an "
        "'Authorization: Bearer' header, or ?token= once, which sets a cookie",
    )
    serve.add_argument("--open", action="store_true", help="open the URL in a web browser")
    serve.add_argument(
        "--as",
        dest="view",
        choices=("auto", "plain", "langgraph", "adk"),
        default="auto",
        help="how to read the store (default: found from its layout)",
    )
