"""``session-storage check``: the store's report (``storage.check()``) as a table or JSON."""

from __future__ import annotations

import argparse
import sys
import textwrap

from ..operations.check import CheckReport
from ..storage import SessionStorage
from .exits import EXIT_CHECK_FAILED, EXIT_OK
from .output import echo, emit_json, plain

__all__ = ["report_check"]


async def report_check(args: argparse.Namespace, storage: SessionStorage) -> int:
    """Check ``storage`` and print the report; the exit code says whether it passed."""
    report = await storage.check()
    if args.json:
        emit_json(report.as_json())
    else:
        _table(report)
    for advice in report.advice:
        print(textwrap.fill(f"session-storage: {advice}", 88), file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def _table(report: CheckReport) -> None:
    echo(f"checking {plain(report.url)} ({report.backend})")
    width = max(len(step.name) for step in report.steps)
    for step in report.steps:
        result = {True: "ok", False: "FAILED", None: "skipped"}[step.ok]
        ms = "" if step.ms is None else f"{step.ms:.1f} ms"
        echo(f"  {step.name:<{width}}  {result:<7} {ms:>10}  {plain(step.detail)}")
    skew = "not measured" if report.clock_skew is None else f"{report.clock_skew:+.1f} s"
    echo(f"conditional writes: {report.conditional_writes}")
    echo(f"clock skew (server - here): {skew}")
    echo("result: " + ("ok" if report.ok else "FAILED"))
