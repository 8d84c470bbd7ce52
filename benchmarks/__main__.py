"""Run every benchmark and print one table: ``python -m benchmarks`` (or ``make bench``).

Options: ``--backends memory,file,s3,gcs,azure`` (default: all; GCS and Azure run on
their emulators when those can start, and give a note row when not), ``--only
overhead,batch,requests,listing,engines,events,codecs,observation,langgraph,web,
conversation`` (default: all), ``--quick`` (small sizes and fewer runs, to check that
everything works), ``--json PATH`` (also write the rows), ``--langgraph-turns
50,200,1000`` (the turns of the LangGraph thread on local disk and S3; 50 and 200 by
default).
``BENCH_BASELINE_SRC=<checkout>/src`` adds the many-writers figures of that library, run
beside ours (see :mod:`benchmarks.event_writers`).
Progress goes to stderr and the table to stdout.

Each backend runs in a process of its own, so that one backend's leftovers (a heap
grown by 100k listed sessions, threads, open connections) cannot slow the next one
down, and a crash ends only that backend's rows.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable

from . import (
    batch,
    codecs,
    conversation,
    engines,
    event_writers,
    events,
    langgraph,
    listing,
    observation,
    overhead,
    requests,
    web,
)
from .backends import BACKENDS, Backend, Unavailable
from .measure import Row, log

SECTIONS = (
    "overhead",
    "batch",
    "requests",
    "listing",
    "engines",
    "events",
    "codecs",
    "observation",
    "langgraph",
    "web",
    "conversation",
)


@dataclasses.dataclass(frozen=True)
class Plan:
    """How much work each benchmark does."""

    overhead: dict[str, tuple[int, int]] = dataclasses.field(
        default_factory=lambda: {
            "memory": (7, 1000),
            "file": (9, 500),
            "s3": (5, 100),
            "gcs": (5, 200),
            "azure": (5, 100),
        }
    )
    """Runs, and store+load pairs per run, of the overhead benchmark on each backend.
    Local disk gets more, shorter runs: its journal's flushes hit single runs."""
    batch: int = 1000
    batch_runs: int = 3
    listing_scale: float = 1.0
    listing_runs: int = 3
    engine_ops: int = engines.OPS
    """Sequential stores, then loads, per engine and run of the engines comparison."""
    event_appends: int = 200
    event_streams: tuple[int, ...] = (2000, 10000)
    event_writers: tuple[int, int] = (10, 20)
    """Tasks, and appends per task, of the many-writers-one-stream figures."""
    langgraph_turns: dict[str, tuple[int, ...]] = dataclasses.field(
        default_factory=lambda: dict(langgraph.TURNS)
    )
    """Turns of one LangGraph thread per backend (local disk and S3 only)."""

    @property
    def runs(self) -> int:
        return min(runs for runs, _ in self.overhead.values())


QUICK = Plan(
    overhead={
        "memory": (3, 200),
        "file": (3, 100),
        "s3": (3, 20),
        "gcs": (3, 30),
        "azure": (3, 20),
    },
    batch=100,
    batch_runs=1,
    listing_scale=0.01,
    listing_runs=1,
    engine_ops=40,
    event_appends=40,
    event_streams=(2000,),
    event_writers=(4, 10),
    langgraph_turns={"file": (10, 40), "s3": (10, 40)},
)


async def run_backend(backend: Backend, sections: list[str], plan: Plan) -> list[Row]:
    runs, pairs = plan.overhead[backend.name]
    jobs: dict[str, Callable[[], Awaitable[list[Row]]]] = {
        "overhead": lambda: overhead.run(backend, runs, pairs),
        "batch": lambda: batch.run(backend, plan.batch_runs, plan.batch),
        "requests": lambda: requests.run(backend),
        "listing": lambda: listing.run(backend, plan.listing_runs, plan.listing_scale),
        "codecs": lambda: codecs.run(backend, runs, pairs),
        "engines": lambda: engines.run(backend, runs, plan.engine_ops, plan.batch),
        "events": lambda: _events(backend, plan, runs),
        "observation": lambda: observation.run(backend, runs, pairs),
        "langgraph": lambda: langgraph.run(backend, plan.langgraph_turns),
        "web": lambda: web.run(backend, plan.listing_runs, plan.listing_scale),
        "conversation": lambda: conversation.run(backend, runs),
    }
    rows: list[Row] = []
    for section in sections:
        started = time.perf_counter()
        try:
            rows += await jobs[section]()
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not end the run
            traceback.print_exc()
            rows.append(_note(section, backend.name, f"failed: {type(exc).__name__}: {exc}"))
        log(f"  {section} on {backend.name}: {time.perf_counter() - started:.0f} s")
    return rows


async def _events(backend: Backend, plan: Plan, runs: int) -> list[Row]:
    rows = await events.run(backend, plan.event_appends, plan.event_streams)
    return rows + await event_writers.run(backend, runs, *plan.event_writers)


def _note(bench: str, backend: str, note: str) -> Row:
    """A row that reports something that was not measured, and why."""
    return Row(bench=bench, backend=backend, ours="–", note=note.splitlines()[0][:200])


def run_here(name: str, sections: list[str], plan: Plan) -> list[Row]:
    """Every section on one backend, in this process."""
    backend = BACKENDS[name]()
    try:
        backend.start()
    except Unavailable as exc:
        log(f"{name}: not run: {exc}")
        return [_note("(all)", name, f"not run: {exc}")]
    try:
        return asyncio.run(run_backend(backend, sections, plan))
    finally:
        backend.stop()


def run_apart(name: str, sections: list[str], quick: bool, turns: str | None) -> list[Row]:
    """Every section on one backend, in a fresh Python process."""
    with tempfile.TemporaryDirectory(prefix="session-storage-bench-") as folder:
        out = os.path.join(folder, "rows.json")
        command = [sys.executable, "-m", "benchmarks", "--backends", name]
        command += ["--only", ",".join(sections), "--rows-to", out]
        command += ["--quick"] if quick else []
        command += ["--langgraph-turns", turns] if turns else []
        done = subprocess.run(command, stdin=subprocess.DEVNULL, check=False)
        if done.returncode != 0 or not os.path.exists(out):
            return [_note("(all)", name, f"failed: the benchmark process exited {done.returncode}")]
        with open(out) as f:
            return [Row(**row) for row in json.load(f)]


def table(rows: list[Row]) -> str:
    head = ["benchmark", "backend", "ours", "compared with", "ratio", "target", "met", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else ""
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        cells = [r.bench, r.backend, r.ours, r.baseline, ratio, r.target, met, r.note]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument(
        "--langgraph-turns",
        metavar="N,N,...",
        help="turns of the langgraph section on file and s3 (default: 50,200)",
    )
    # Internal: run the named backend here and write its rows to PATH as JSON.
    parser.add_argument("--rows-to", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = [n.strip() for n in args.backends.split(",") if n.strip()]
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [n for n in names if n not in BACKENDS] + [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown backend or section: {', '.join(unknown)}")
    plan = QUICK if args.quick else Plan()
    if args.langgraph_turns:
        turns = tuple(int(n) for n in args.langgraph_turns.split(","))
        plan = dataclasses.replace(plan, langgraph_turns={"file": turns, "s3": turns})

    if args.rows_to:
        rows = [row for name in names for row in run_here(name, sections, plan)]
        with open(args.rows_to, "w") as f:
            json.dump([dataclasses.asdict(r) for r in rows], f)
        return

    started = time.perf_counter()
    rows = []
    for name in names:
        log(f"{name}: starting ({time.perf_counter() - started:.0f} s so far)")
        rows += run_apart(name, sections, args.quick, args.langgraph_turns)
    elapsed = time.perf_counter() - started
    print(table(rows))
    print(
        f"\n{len(rows)} figures in {elapsed:.0f} s on {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs ({platform.machine()}, "
        f"{platform.system()}); each a median of {plan.runs} or more runs "
        f"({plan.batch_runs} for batches, {plan.listing_runs} for listings); ratios are "
        "medians of per-run ratios, both sides measured back to back in the same run."
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump([dataclasses.asdict(r) for r in rows], f, indent=1)


if __name__ == "__main__":
    main()
