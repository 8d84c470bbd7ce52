"""A one-line progress bar on a terminal, redrawn at most ten times a second.

Written here rather than taken from tqdm or rich: the CLI draws a single counter line,
and a dependency for it would either weigh on every install or leave
``pip install session-storage`` without the bar. When the stream is not a terminal the
bar draws nothing, so pipes and logs get only the final summary.
"""

from __future__ import annotations

import shutil
import time
from typing import TextIO

from ..admin.importing import ImportProgress
from ..admin.transfer import CopyProgress

__all__ = ["ProgressBar", "human_bytes"]

_REDRAW_SECONDS = 0.1


def human_bytes(n: float) -> str:
    """``512 B``, ``1.5 KiB``, ``3.2 MiB``, ..."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class ProgressBar:
    """Draws CopyProgress (files and bytes) or ImportProgress (sessions and items) on
    ``stream`` if it is a terminal and ``enabled``."""

    def __init__(self, stream: TextIO, label: str, *, enabled: bool = True) -> None:
        self._stream = stream
        self._label = label
        self._enabled = enabled and stream.isatty()
        self._started = time.monotonic()
        self._drawn_at = 0.0
        self._last: CopyProgress | ImportProgress | None = None

    def update(self, progress: CopyProgress | ImportProgress) -> None:
        """Record ``progress``; redraw if enough time has passed or the work is done."""
        self._last = progress
        now = time.monotonic()
        if self._enabled and (now - self._drawn_at >= _REDRAW_SECONDS or _finished(progress)):
            self._drawn_at = now
            self._draw(progress, now)

    def finish(self) -> None:
        """End the bar's line."""
        if self._enabled and self._last is not None:
            self._draw(self._last, time.monotonic())
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self, p: CopyProgress | ImportProgress, now: float) -> None:
        elapsed = max(now - self._started, 1e-6)
        if isinstance(p, ImportProgress):
            fraction = p.sessions_done / p.sessions_total if p.sessions_total else 1.0
            rate = p.items_done / elapsed
            eta = (p.items_total - p.items_done) / rate if rate > 0 else 0.0
            text = (
                f" {fraction:4.0%} {p.sessions_done}/{p.sessions_total} sessions "
                f"{p.items_done}/{p.items_total} items {rate:.0f}/s eta {_clock(eta)}"
            )
        else:
            fraction = p.files_done / p.files_total if p.files_total else 1.0
            rate = p.bytes_done / elapsed
            eta = (p.bytes_total - p.bytes_done) / rate if rate > 0 else 0.0
            text = (
                f" {fraction:4.0%} {p.files_done}/{p.files_total} files "
                f"{human_bytes(p.bytes_done)}/{human_bytes(p.bytes_total)} "
                f"{human_bytes(rate)}/s eta {_clock(eta)}"
            )
        width = shutil.get_terminal_size((80, 20)).columns
        room = max(width - len(self._label) - len(text) - 4, 10)
        filled = int(room * fraction)
        bar = "#" * filled + "-" * (room - filled)
        self._stream.write(f"\r{self._label} [{bar}]{text}"[: width - 1])
        self._stream.flush()


def _finished(p: CopyProgress | ImportProgress) -> bool:
    if isinstance(p, ImportProgress):
        return p.sessions_done == p.sessions_total
    return p.files_done == p.files_total
