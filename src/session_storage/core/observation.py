"""What the library tells the outside about its work: DEBUG lines and OpenTelemetry spans.

Both are decided when a storage is created, not per call: a check on every store and
load would cost more than a memory store itself. A storage created while the
``session_storage`` logger is enabled for DEBUG logs one line per backend operation;
one created while an OpenTelemetry tracer provider is set (the ``[otel]`` extra,
``opentelemetry-api``) opens a span per public operation. A storage created before
either was set up stays silent, as clients instrumented at creation do.

A :class:`Tally` counts the backend operations and bytes of the public operation that
is running: the span reads it when the operation ends.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

__all__ = ["LOGGER", "Tally", "count", "counting_into", "logs_requests", "tallying", "tracer"]

LOGGER = logging.getLogger("session_storage")
"""The library's logger; at DEBUG, one line per backend operation (no secrets: an
operation, a backend path, an outcome, bytes and milliseconds)."""


@dataclass(slots=True)
class Tally:
    """Backend operations and bytes of one public operation."""

    requests: int = 0
    bytes_read: int = 0
    bytes_written: int = 0


_TALLY: ContextVar[Tally | None] = ContextVar("session_storage_tally", default=None)


@contextmanager
def tallying() -> Iterator[Tally]:
    """Count the backend operations awaited inside the block (tasks it starts included:
    they inherit the context) into a fresh :class:`Tally`."""
    tally = Tally()
    with counting_into(tally):
        yield tally


@contextmanager
def counting_into(tally: Tally) -> Iterator[None]:
    """Count the backend operations awaited inside the block into ``tally``."""
    token = _TALLY.set(tally)
    try:
        yield
    finally:
        _TALLY.reset(token)


def count(read: int = 0, written: int = 0) -> None:
    """Add one backend operation (and its bytes) to the running tally, if any."""
    tally = _TALLY.get()
    if tally is not None:
        tally.requests += 1
        tally.bytes_read += read
        tally.bytes_written += written


def logs_requests() -> bool:
    """Whether backend operations are logged: the logger is enabled for DEBUG."""
    return LOGGER.isEnabledFor(logging.DEBUG)


@functools.cache
def _trace_api() -> Any | None:
    """``opentelemetry.trace``, or None where it is not installed (asked once)."""
    try:
        return importlib.import_module("opentelemetry.trace")
    except ImportError:
        return None


def tracer() -> Any | None:
    """The OpenTelemetry tracer for the library's spans, or None: opentelemetry-api not
    installed, or no tracer provider set (then a span would record nothing)."""
    trace = _trace_api()
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        return None
    return trace.get_tracer("session_storage")
