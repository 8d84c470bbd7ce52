"""An OpenTelemetry span around every public operation of a storage.

:func:`trace_operations` replaces, on one storage object, each public coroutine and
async-generator method with one that opens a span named ``session_storage.<method>``
(``session_storage.store_session``, ``session_storage.append_event``, ...). It is
called only when a tracer provider is set at the storage's creation (see
:mod:`session_storage.core.observation`): without one the class's own methods run
and tracing costs nothing. The span's attributes: the backend, the engine, and (set
when the operation ends) the number of backend operations and the bytes read and
written, counted by the observed driver; a failure is recorded on the span.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, cast

from ..core.observation import Tally, counting_into, tallying

__all__ = ["public_operations", "trace_operations"]


def public_operations(cls: type) -> tuple[str, ...]:
    """The names of ``cls``'s public coroutine methods and methods that return an async
    iterator (``iter_sessions``, ...)."""
    names = []
    for name, member in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith("_"):
            continue
        if inspect.iscoroutinefunction(member) or _iterates(member):
            names.append(name)
    return tuple(names)


def _iterates(function: Callable[..., Any]) -> bool:
    returns = inspect.signature(function).return_annotation
    return inspect.isasyncgenfunction(function) or str(returns).startswith(
        ("AsyncIterator", "AsyncGenerator")
    )


def trace_operations(target: object, tracer: Any, backend: str, engine: str) -> None:
    """Wrap every public operation of ``target`` (on the instance) in a span."""
    attributes = {"session_storage.backend": backend, "session_storage.engine": engine}
    for name in public_operations(type(target)):
        method = getattr(target, name)
        span_name = f"session_storage.{name}"
        if not inspect.iscoroutinefunction(method):
            wrapped = _traced_generator(method, tracer, span_name, attributes)
        else:
            wrapped = _traced_call(method, tracer, span_name, attributes)
        setattr(target, name, wrapped)


def _finish(span: Any, tally: Tally) -> None:
    span.set_attribute("session_storage.requests", tally.requests)
    span.set_attribute("session_storage.bytes_read", tally.bytes_read)
    span.set_attribute("session_storage.bytes_written", tally.bytes_written)


def _traced_call(
    method: Callable[..., Any], tracer: Any, name: str, attributes: dict[str, str]
) -> Callable[..., Any]:
    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        with tracer.start_as_current_span(name, attributes=attributes) as span:
            with tallying() as tally:
                try:
                    return await method(*args, **kwargs)
                finally:
                    _finish(span, tally)

    return call


def _traced_generator(
    method: Callable[..., AsyncIterator[Any]],
    tracer: Any,
    name: str,
    attributes: dict[str, str],
) -> Callable[..., AsyncIterator[Any]]:
    # A plain function, as the method is: its arguments are checked when it is called,
    # not at the first item.
    @functools.wraps(method)
    def start(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        return _spanned(method(*args, **kwargs), tracer.start_span(name, attributes=attributes))

    return start


async def _spanned(items: AsyncIterator[Any], span: Any) -> AsyncGenerator[Any, None]:
    """``items`` inside ``span``, which ends with them. The span is not made current:
    the caller's code runs between the items, and a context attached across a yield
    would be detached in another one."""
    tally = Tally()
    try:
        async with aclosing(cast(AsyncGenerator[Any, None], items)) as steps:
            while True:
                with counting_into(tally):
                    try:
                        item = await anext(steps)
                    except StopAsyncIteration:
                        return
                yield item
    except BaseException as exc:
        if not isinstance(exc, GeneratorExit):
            span.record_exception(exc)
            span.set_status(_error_status(exc))
        raise
    finally:
        _finish(span, tally)
        span.end()


def _error_status(exc: BaseException) -> Any:
    # Only reached with a tracer, so opentelemetry-api is installed.
    trace = importlib.import_module("opentelemetry.trace")
    return trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
