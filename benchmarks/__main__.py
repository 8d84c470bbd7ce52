"""Run every benchmark and print one table: ``python -m benchmarks`` (or ``make bench``).

Options: ``--backends memory,file,s3`` (default: all), ``--only
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

from . import batch, listing, overhead, requests
from .backends import BACKENDS, Backend
from .measure import Row, log

SECTIONS = ("overhead", "batch", "requests", "listing")


@dataclasses.dataclass(frozen=True)
class Plan:
    """How much work each benchmark does."""

    runs: int = 5
    """Runs per figure; every figure is their median."""
    pairs: dict[str, int] = dataclasses.field(
        default_factory=lambda: {"memory": 2000, "file": 1000, "s3": 200}
    )
    """store+load pairs per run of the overhead benchmark."""
    batch: int = 1000
    batch_runs: int = 3
    listing_scale: float = 1.0
    listing_runs: int = 3


QUICK = Plan(
    runs=3,
    pairs={"memory": 200, "file": 100, "s3": 20},
    batch=100,
    batch_runs=1,
    listing_scale=0.01,
    listing_runs=1,
)


async def run_backend(backend: Backend, sections: list[str], plan: Plan) -> list[Row]:
    rows: list[Row] = []
    if "overhead" in sections:
        pairs = plan.pairs.get(backend.name, min(plan.pairs.values()))
        rows += await overhead.run(backend, plan.runs, pairs)
    if "batch" in sections:
        rows += await batch.run(backend, plan.batch_runs, plan.batch)
    if "requests" in sections:
        rows += await requests.run(backend)
    if "listing" in sections:
        rows += await listing.run(backend, plan.listing_runs, plan.listing_scale)
    return rows


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
        backend.start()
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
