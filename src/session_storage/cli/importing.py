"""``session-storage import SOURCE DB``: a framework's SQLite store into the storage."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from ..admin.importing import run_import
from ..integrations.importers import open_importer
from .commands import open_storage
from .exits import EXIT_OK
from .output import echo, emit_json, plain
from .progress import ProgressBar

__all__ = ["cmd_import"]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


async def cmd_import(args: argparse.Namespace) -> int:
    bar = ProgressBar(sys.stderr, "importing", enabled=not (args.json or args.no_progress))
    async with open_storage(args) as storage:
        importer = open_importer(args.source, args.database, storage)
        try:
            result = await run_import(importer, dry_run=args.dry_run, progress=bar.update)
        finally:
            bar.finish()
            await importer.aclose()
    if args.json:
        emit_json({"database": args.database, "url": storage.url, **asdict(result)})
        return EXIT_OK
    verb = "would import" if args.dry_run else "imported"
    echo(
        f"{_count(result.sessions, 'session')} ({_count(result.items, 'item')}) in "
        f"{plain(args.database)}: {verb} {_count(result.imported_items, 'item')} into "
        f"{_count(result.imported_sessions, 'session')}, {result.complete} complete already"
        + (f", {len(result.diverged)} diverged (left alone)" if result.diverged else "")
        + f"; {storage.url}"
    )
    for name, why in result.diverged.items():
        print(f"session-storage: left {plain(name)} alone: {why}", file=sys.stderr)
    return EXIT_OK
