"""Run every benchmark and print one table: ``python -m benchmarks`` (or ``make bench``).

Options: ``--backends memory,file,s3,gcs,azure`` (default: all; GCS and Azure run on
their emulators when those can start, and give a note row when not), ``--only
overhead,batch,requests,listing`` (default: all), ``--quick`` (small sizes and fewer
runs, to check that everything works), ``--json PATH`` (also write the rows).
Progress goes to stderr and the table to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import time
import traceback
from collections.abc import Awaitable, Callable

from . import batch, listing, overhead, requests
from .backends import BACKENDS, Backend, Unavailable
from .measure import Row, log

SECTIONS = ("overhead", "batch", "requests", "listing")


@dataclasses.dataclass(frozen=True)
class Plan:
    """How much work each benchmark does."""

    runs: int = 5
    """Runs per figure; every figure is their median."""
    pairs: dict[str, int] = dataclasses.field(
        default_factory=lambda: {"memory": 2000, "file": 1000, "s3": 200, "gcs": 300, "azure": 300}
    )
    """store+load pairs per run of the overhead benchmark."""
    batch: int = 1000
    batch_runs: int = 3
    listing_scale: float = 1.0
    listing_runs: int = 3


QUICK = Plan(
    runs=3,
    pairs={"memory": 200, "file": 100, "s3": 20, "gcs": 30, "azure": 30},
    batch=100,
    batch_runs=1,
    listing_scale=0.01,
    listing_runs=1,
)


async def run_backend(backend: Backend, sections: list[str], plan: Plan) -> list[Row]:
    jobs: dict[str, Callable[[], Awaitable[list[Row]]]] = {
        "overhead": lambda: overhead.run(
            backend, plan.runs, plan.pairs.get(backend.name, min(plan.pairs.values()))
        ),
        "batch": lambda: batch.run(backend, plan.batch_runs, plan.batch),
        "requests": lambda: requests.run(backend),
        "listing": lambda: listing.run(backend, plan.listing_runs, plan.listing_scale),
    }
    rows: list[Row] = []
    for section in sections:
        try:
            rows += await jobs[section]()
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not end the run
            traceback.print_exc()
            rows.append(_note(section, backend.name, f"failed: {type(exc).__name__}: {exc}"))
    return rows


def _note(bench: str, backend: str, note: str) -> Row:
    """A row that reports something that was not measured, and why."""
    return Row(bench=bench, backend=backend, ours="–", note=note.splitlines()[0][:200])


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
    args = parser.parse_args()
    names = [n.strip() for n in args.backends.split(",") if n.strip()]
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [n for n in names if n not in BACKENDS] + [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown backend or section: {', '.join(unknown)}")
    plan = QUICK if args.quick else Plan()

    started = time.perf_counter()
    rows: list[Row] = []
    for name in names:
        backend = BACKENDS[name]()
        log(f"{name}: starting ({time.perf_counter() - started:.0f} s so far)")
        try:
            backend.start()
        except Unavailable as exc:
            log(f"{name}: not run: {exc}")
            rows.append(_note("(all)", name, f"not run: {exc}"))
            continue
        try:
            rows += asyncio.run(run_backend(backend, sections, plan))
        finally:
            backend.stop()
    elapsed = time.perf_counter() - started
    print(table(rows))
    print(
        f"\n{len(rows)} figures in {elapsed:.0f} s on {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs; "
        f"each a median of {plan.runs} runs ({plan.batch_runs} for batches, "
        f"{plan.listing_runs} for listings); ratios are medians of per-run ratios."
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump([dataclasses.asdict(r) for r in rows], f, indent=1)


if __name__ == "__main__":
    main()
