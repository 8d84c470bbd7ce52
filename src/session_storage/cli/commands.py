"""The commands. Each takes the parsed arguments and returns an exit code."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

import orjson

from ..admin.rekey import rekey
from ..admin.transfer import copy_sessions
from ..backends import driver_class
from ..backends.registry import DEFAULT_ENGINE
from ..codecs.envelope import without_codecs
from ..core.errors import ConfigurationError
from ..settings import StorageSettings
from ..storage import SessionStorage
from .check import report_check
from .exits import EXIT_DATA, EXIT_DECLINED, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, UsageError
from .guards import check_copy
from .options import given_options, options_for, split_shared, tagged
from .output import echo, emit_json, emit_names, plain, timestamp
from .parser import NO_DEADLINE, format_duration
from .progress import ProgressBar, human_bytes
from .views import ls_view, resolve_kind, show_view, stream_events

__all__ = ["COMMANDS"]


def settings_for(args: argparse.Namespace) -> StorageSettings:
    """SESSION_STORAGE_* settings, overridden by --url and merged with the options.

    Raises UsageError for an option the backend does not take.
    """
    base = StorageSettings.from_env()
    url = args.url or base.url
    return StorageSettings(
        url,
        options_for(url, given_options(args, base)),
        timeout_for(args, base),
        engine_for(url, args, base),
        encryption_keys=base.encryption_keys,
        compression=base.compression,
    )


def engine_for(url: str, args: argparse.Namespace, base: StorageSettings) -> str:
    """``--engine`` if given, else SESSION_STORAGE_ENGINE's; for a URL the engine
    cannot serve (a local folder beside a bucket in ``cp``), the default engine."""
    engine: str = getattr(args, "engine", None) or base.engine
    try:
        driver_class(url, engine)
    except ConfigurationError:
        return DEFAULT_ENGINE if getattr(args, "engine", None) is None else engine
    except ImportError:
        pass  # the storage raises MissingDependencyError naming the extra
    return engine


def timeout_for(args: argparse.Namespace, base: StorageSettings) -> float | None:
    """``--timeout`` if given (``none``: no deadline), else SESSION_STORAGE_TIMEOUT's."""
    timeout: float | None = getattr(args, "timeout", None)
    if timeout is None:
        return base.timeout
    return None if timeout == NO_DEADLINE else timeout


def open_storage(args: argparse.Namespace) -> SessionStorage:
    return SessionStorage.from_settings(settings_for(args))


def copy_settings(args: argparse.Namespace) -> tuple[StorageSettings, StorageSettings]:
    """The source and destination of ``cp``, each with the options meant for it.

    Options given for both sides go to each side whose backend takes them;
    ``--src-option`` and ``--dst-option`` to one side only. Raises UsageError for an
    option no side takes, a ``memory://`` destination and overlapping roots.
    """
    base = StorageSettings.from_env()
    shared_src, shared_dst = split_shared(given_options(args, base), args.src, args.dst)
    timeout = timeout_for(args, base)
    # Both sides decode and encode with the configured codecs: a copy is re-encrypted
    # for its new place (the key each object is bound to is its path).
    codecs: dict[str, Any] = {
        "encryption_keys": base.encryption_keys,
        "compression": base.compression,
    }
    src = StorageSettings(
        args.src,
        options_for(args.src, {**shared_src, **tagged(args.src_option, "--src-option")}),
        timeout,
        engine_for(args.src, args, base),
        **codecs,
    )
    dst = StorageSettings(
        args.dst,
        options_for(args.dst, {**shared_dst, **tagged(args.dst_option, "--dst-option")}),
        timeout,
        engine_for(args.dst, args, base),
        **codecs,
    )
    check_copy(src, dst)
    return src, dst


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _not_found(message: str) -> int:
    print(f"session-storage: not found: {message}", file=sys.stderr)
    return EXIT_NOT_FOUND


async def cmd_ls(args: argparse.Namespace) -> int:
    async with open_storage(args) as storage:
        kind = await resolve_kind(storage, args)
        if kind != "plain":
            return await ls_view(storage, args, kind)
        sessions = await storage.list_sessions(args.prefix)
    if not sessions and storage.backend == "file":
        # A folder that does not exist lists as empty too: a mistyped --url would
        # print nothing and succeed. An existing empty store still exits 0.
        folder = storage.url.removeprefix("file://")
        if not os.path.isdir(folder):
            return _not_found(f"the folder {folder} does not exist")
    emit_names(sessions, args.json)
    return EXIT_OK


async def cmd_files(args: argparse.Namespace) -> int:
    async with open_storage(args) as storage:
        names = await storage.list_files(args.session)
    if not names:
        return _not_found(f"session {args.session!r} has no files ({storage.url})")
    emit_names(names, args.json)
    return EXIT_OK


async def cmd_show(args: argparse.Namespace) -> int:
    async with open_storage(args) as storage:
        kind = "plain" if args.raw else await resolve_kind(storage, args)
        if kind != "plain":
            return await show_view(storage, args, kind)
        data = await storage.load_bytes(args.session, args.file)
    if data is None:
        return _not_found(f"session {args.session!r} has no file {args.file!r} ({storage.url})")
    if args.raw:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return EXIT_OK
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # Read with codecs configured, an envelope was opened already: one that is
        # still here was read without them (an encrypted file, no keys given).
        found = without_codecs(data)
        why = f"is not JSON ({exc})" if found is None else f"cannot be shown: {found[0]}"
        if found is not None and found[1] is not None:
            why += " (SESSION_STORAGE_ENCRYPTION_KEYS)"
        print(
            f"session-storage: error: session {args.session!r} file {args.file!r} {why}; "
            "use --raw to print its bytes",
            file=sys.stderr,
        )
        return EXIT_DATA if found is None else EXIT_USAGE
    option = 0 if args.json else orjson.OPT_INDENT_2
    sys.stdout.write(orjson.dumps(value, option=option).decode() + "\n")
    return EXIT_OK


_INFO_FIELDS = ("session_id", "filename", "size", "modified", "created", "backend", "version")


async def cmd_info(args: argparse.Namespace) -> int:
    async with open_storage(args) as storage:
        if args.file is not None:
            meta = await storage.get_session_metadata(args.session, args.file)
            if meta is None:
                return _not_found(
                    f"session {args.session!r} has no file {args.file!r} ({storage.url})"
                )
            if args.json:
                emit_json(meta)
            else:
                for key in _INFO_FIELDS:
                    value = meta[key]
                    shown = timestamp(value) if key in ("modified", "created") else value
                    echo(f"{key:<11}{plain(str(shown))}")
            return EXIT_OK
        metas = [m async for m in storage.iter_file_metadata(args.session)]
    if not metas:
        return _not_found(f"session {args.session!r} has no files ({storage.url})")
    metas.sort(key=lambda m: m["filename"])
    if args.json:
        emit_json(metas)
        return EXIT_OK
    for meta in metas:
        echo(f"{meta['size']:>10}  {timestamp(meta['modified'])}  {plain(meta['filename'])}")
    total = sum(m["size"] for m in metas)
    newest = max(m["modified"] for m in metas)
    echo(
        f"{_count(len(metas), 'file')}, {total} bytes"
        + (f" ({human_bytes(total)})" if total >= 1024 else "")
        + f", newest {timestamp(newest)}"
    )
    return EXIT_OK


def _confirm(question: str) -> bool:
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _require_terminal(what: str) -> None:
    """Refuse to ask when nobody can answer: a script must say --yes."""
    if not sys.stdin.isatty():
        raise UsageError(f"refusing to delete {what} without --yes: stdin is not a terminal")


def _declined() -> int:
    print("session-storage: nothing deleted", file=sys.stderr)
    return EXIT_DECLINED


async def cmd_rm(args: argparse.Namespace) -> int:
    async with open_storage(args) as storage:
        if args.file is None:
            count = len(await storage.list_files(args.session))
            if not count:
                return _not_found(f"session {args.session!r} has no files ({storage.url})")
            what = f"session {args.session!r} ({_count(count, 'file')})"
        else:
            if await storage.get_session_metadata(args.session, args.file) is None:
                return _not_found(
                    f"session {args.session!r} has no file {args.file!r} ({storage.url})"
                )
            what = f"file {args.file!r} of session {args.session!r}"
        if not args.yes:
            _require_terminal(what)
            if not _confirm(f"Delete {what} from {storage.url}?"):
                return _declined()
        deleted = await storage.delete_session(args.session, args.file)
    if args.json:
        emit_json({"session_id": args.session, "filename": args.file, "deleted": deleted})
    else:
        echo(f"deleted {what}" if deleted else f"nothing to delete: {what} is already gone")
    return EXIT_OK


async def cmd_cp(args: argparse.Namespace) -> int:
    src_settings, dst_settings = copy_settings(args)
    src = SessionStorage.from_settings(src_settings)
    dst = SessionStorage.from_settings(dst_settings)
    bar = ProgressBar(sys.stderr, "copying", enabled=not (args.json or args.no_progress))
    async with src, dst:
        try:
            result = await copy_sessions(src, dst, progress=bar.update)
        finally:
            bar.finish()
    if args.json:
        emit_json({"source": src.url, "destination": dst.url, **asdict(result)})
    else:
        echo(
            f"{_count(result.sessions, 'session')}, {_count(result.files, 'file')}"
            + (f" ({_count(result.streams, 'event stream')})" if result.streams else "")
            + f": copied {result.copied} "
            f"({human_bytes(result.bytes_copied)}), skipped {result.skipped} identical"
            + (f", {result.vanished} vanished at the source" if result.vanished else "")
            + (
                f", {_count(result.stream_retries, 'stream snapshot')} taken again"
                if result.stream_retries
                else ""
            )
            + f"; {src.url} -> {dst.url}"
        )
    return EXIT_OK


async def cmd_gc(args: argparse.Namespace) -> int:
    age = format_duration(args.older_than)
    if not (args.dry_run or args.yes):
        if not args.older_than:
            raise UsageError(
                f"refusing to delete every session (--older-than {age}) without --yes; "
                "use --dry-run to see them"
            )
        _require_terminal(f"the sessions older than {age}")
    now = datetime.now(timezone.utc)
    cutoff = now - args.older_than
    async with open_storage(args) as storage:
        ask = not (args.dry_run or args.yes)
        ids = await storage.delete_sessions_older_than(
            args.older_than, dry_run=args.dry_run or ask, now=now
        )
        if ask and ids:
            # The same `now`, so the second pass selects these sessions again, minus
            # any written to since: a session in use is never deleted for a stale look.
            question = (
                f"Delete {_count(len(ids), 'session')} whose newest file is older than "
                f"{age} from {storage.url}?"
            )
            if not _confirm(question):
                return _declined()
            ids = await storage.delete_sessions_older_than(args.older_than, now=now)
    if args.json:
        emit_json({"dry_run": args.dry_run, "cutoff": cutoff, "sessions": ids})
        return EXIT_OK
    verb = "would delete" if args.dry_run else "deleted"
    echo(
        f"{verb} {_count(len(ids), 'session')} whose newest file is "
        f"older than {age} (before {timestamp(cutoff)})"
    )
    for session_id in ids:
        echo(f"  {plain(session_id)}")
    return EXIT_OK


async def cmd_rekey(args: argparse.Namespace) -> int:
    bar = ProgressBar(sys.stderr, "rekeying", enabled=not (args.json or args.no_progress))
    async with open_storage(args) as storage:
        try:
            result = await rekey(storage, dry_run=args.dry_run, progress=bar.update)
        finally:
            bar.finish()
    if args.json:
        emit_json({"url": storage.url, "dry_run": args.dry_run, **asdict(result)})
    else:
        verb = "would rewrite" if args.dry_run else "rewrote"
        echo(
            f"{_count(result.files, 'file')}: {verb} {result.rewritten}, "
            f"{result.current} already under the encrypting key"
            + (f", {result.raced} rewritten again after a concurrent write" if result.raced else "")
            + (f", {result.vanished} vanished" if result.vanished else "")
            + (f", {len(result.failed)} unreadable" if result.failed else "")
            + f"; {storage.url}"
        )
    for name, reason in result.failed.items():
        print(f"session-storage: cannot rekey {plain(name)}: {reason}", file=sys.stderr)
    return EXIT_DATA if result.failed else EXIT_OK


async def cmd_check(args: argparse.Namespace) -> int:
    async with open_storage(args) as storage:
        return await report_check(args, storage)


async def cmd_events(args: argparse.Namespace) -> int:
    async with open_storage(args) as storage:
        return await stream_events(storage, args)


async def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    return await serve(args, settings_for(args))


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "ls": cmd_ls,
    "files": cmd_files,
    "show": cmd_show,
    "info": cmd_info,
    "rm": cmd_rm,
    "cp": cmd_cp,
    "gc": cmd_gc,
    "rekey": cmd_rekey,
    "check": cmd_check,
    "events": cmd_events,
    "serve": cmd_serve,
}
