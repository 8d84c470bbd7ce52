"""The commands that read a store as its framework laid it out, and ``events``.

``ls`` and ``show`` take ``--as``: ``auto`` (the default) finds a LangGraph or ADK
store from its layout (:func:`session_storage.views.detect`); ``plain`` keeps the
sessions-and-files reading. What each view shows comes from :mod:`session_storage.views`,
which the web browser uses too.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from ..storage import DEFAULT_FILENAME, SessionStorage
from ..views import detect
from ..views.adk import adk_session, sessions_of, users_of
from ..views.conversation import turn_of
from ..views.langgraph import checkpoint_view, thread_view, threads_of
from ..views.layout import OPENAI_STREAM
from ..views.store import EventRow
from .exits import EXIT_NOT_FOUND, EXIT_OK, UsageError
from .output import echo, emit_json, emit_names, plain, timestamp

__all__ = ["ls_view", "resolve_kind", "show_view", "stream_events"]


async def resolve_kind(storage: SessionStorage, args: argparse.Namespace) -> str:
    """``--as``, with ``auto`` found from the store's layout."""
    kind: str = getattr(args, "view", "plain")
    if kind == "auto":
        kind = await detect(storage)
    if kind != "adk" and (args.app is not None or args.user is not None):
        raise UsageError(f"--app and --user go with --as adk (this store reads as {kind})")
    return kind


def _not_found(message: str) -> int:
    print(f"session-storage: not found: {message}", file=sys.stderr)
    return EXIT_NOT_FOUND


def _listed(storage: SessionStorage, args: argparse.Namespace, kind: str) -> SessionStorage:
    """The storage whose sessions ``ls --as kind`` lists."""
    if kind == "langgraph":
        return threads_of(storage)
    if args.app is None:
        if args.user is not None:
            raise UsageError("--user needs --app")
        return storage  # the apps
    if args.user is None:
        return users_of(storage, args.app)
    return sessions_of(storage, args.app, args.user)


async def ls_view(storage: SessionStorage, args: argparse.Namespace, kind: str) -> int:
    """``ls`` of a LangGraph store (thread ids) or an ADK store (apps, users, sessions):
    one listing, as ``ls`` of sessions."""
    emit_names(await _listed(storage, args, kind).list_sessions(args.prefix), args.json)
    return EXIT_OK


async def show_view(storage: SessionStorage, args: argparse.Namespace, kind: str) -> int:
    """``show`` of a LangGraph thread or checkpoint, an ADK session or a conversation."""
    if kind == "langgraph":
        return await _show_langgraph(storage, args)
    if kind == "adk":
        if args.app is None or args.user is None:
            raise UsageError("show --as adk needs --app and --user")
        found = await adk_session(storage, args.app, args.user, args.session)
        if found is None:
            return _not_found(
                f"app {args.app!r} user {args.user!r} has no session {args.session!r}"
            )
        _dump(
            {
                "app": found.app,
                "user": found.user,
                "session": found.session_id,
                "state": found.state,
                "events": [e.event for e in reversed(found.events)],
            },
            args.json,
        )
        return EXIT_OK
    stream = args.file if _file_given(args) else OPENAI_STREAM
    records = await storage.read_events(args.session, stream, with_records=True)
    if not records:
        return _not_found(f"session {args.session!r} has no events in stream {stream!r}")
    if args.json:
        emit_json([r.item for r in records])
        return EXIT_OK
    for record in records:
        turn = turn_of(EventRow(*record))
        label = turn.kind if turn.tool is None else f"{turn.kind} {turn.tool}"
        text = turn.text if turn.item is None else orjson.dumps(turn.item).decode()
        echo(f"[{turn.index}] {plain(turn.role)} ({plain(label)}): {plain(text)}")
    return EXIT_OK


def _file_given(args: argparse.Namespace) -> bool:
    """Whether FILE was given: its default, the state's name, names no checkpoint or
    stream a view would read instead."""
    return args.file not in (None, DEFAULT_FILENAME)


def _dump(value: Any, compact: bool) -> None:
    option = orjson.OPT_NAIVE_UTC | (0 if compact else orjson.OPT_INDENT_2)
    echo(orjson.dumps(value, option=option, default=str).decode())


async def _show_langgraph(storage: SessionStorage, args: argparse.Namespace) -> int:
    if not _file_given(args):
        thread = await thread_view(storage, args.session, args.ns)
        if not thread.checkpoints:
            return _not_found(f"thread {args.session!r} has no checkpoints in {args.ns!r}")
        rows = [r.__dict__ for r in thread.checkpoints]
        if args.json:
            emit_json(rows)
        else:
            for r in thread.checkpoints:
                writes = ",".join(r.writes) or "-"
                echo(f"{r.id}  step {r.step}  {plain(str(r.source))}  writes {plain(writes)}")
        return EXIT_OK
    found = await checkpoint_view(storage, args.session, args.ns, args.file)
    if found is None:
        return _not_found(f"thread {args.session!r} has no checkpoint {args.file!r}")
    _dump(
        {
            "checkpoint": found.row.__dict__,
            "metadata": found.metadata,
            "values": found.values,
            "writes": found.writes,
            "changes": [c.__dict__ for c in found.changes],
        },
        args.json,
    )
    return EXIT_OK


def _event_line(index: int, appended_at: Any, item: Any, as_json: bool) -> str:
    if as_json:
        value = {"index": index, "appended_at": appended_at, "item": item}
        return orjson.dumps(value, option=orjson.OPT_NAIVE_UTC).decode()
    return f"{index:>6}  {timestamp(appended_at)}  {orjson.dumps(item).decode()}"


async def stream_events(storage: SessionStorage, args: argparse.Namespace) -> int:
    """``events``: the stream from ``--start`` (or its last ``--tail``), then with
    ``--follow`` a poll every ``--interval`` seconds: one read of the tail each."""
    start = -args.tail if args.tail is not None else (args.start or 0)
    following = 0
    if args.tail == 0:
        following = await storage.event_count(args.session, args.stream)
    else:
        async for record in storage.iter_events(
            args.session, args.stream, start, page_size=1000, with_records=True
        ):
            echo(_event_line(record.index, record.appended_at, record.item, args.json))
            following = record.index + 1
        if following == 0 and start > 0:
            following = start
    if not args.follow:
        if following == 0 and args.stream not in await storage.list_streams(args.session):
            return _not_found(f"session {args.session!r} has no stream {args.stream!r}")
        return EXIT_OK
    sys.stdout.flush()
    while True:
        await asyncio.sleep(args.interval)
        for record in await storage.read_events(
            args.session, args.stream, following, with_records=True
        ):
            echo(_event_line(record.index, record.appended_at, record.item, args.json))
            following = record.index + 1
        sys.stdout.flush()
