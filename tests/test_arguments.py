"""Every public call with a bad argument raises a SessionStorageError, never a bare builtin.

The methods are enumerated with ``inspect``: a public method added to SessionStorage or
SyncSessionStorage without a row in ``VALID`` fails :func:`test_every_public_method_is_covered`.
Each parameter of each method is replaced, one at a time, by every value of ``BAD``;
the call may succeed (``[]`` is a fine list of ids) or raise, but only a library error.
"""

from __future__ import annotations

import inspect
import math
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from session_storage import (
    InvalidArgumentError,
    SessionStorage,
    SessionStorageError,
    StorageSettings,
    SyncSessionStorage,
    copy_sessions,
)

BAD: list[Any] = [
    None,
    True,
    -1,
    0,
    1.5,
    math.nan,
    "",
    "x",
    b"x",
    object(),
    [],
    {},
    ("a",),
    datetime(2020, 1, 1),  # a naive datetime
]


def _identity(state: Any) -> Any:
    return {"v": 2}


VALID: dict[str, dict[str, Any]] = {
    "__init__": {"url": "memory://args", "storage_options": None},
    "from_settings": {"settings": StorageSettings("memory://args")},
    "from_env": {"environ": {}},
    "from_filesystem": {
        "fs": MemoryFileSystem(global_store=False, skip_instance_cache=True),
        "root": "/args",
    },
    "wrap": {"storage": SessionStorage("memory://args")},
    "aclose": {},
    "close": {},
    "flush": {},
    "check": {},
    "narrow": {"keys": ("tenant",)},
    "narrow_path": {"keys": ("tenant",)},
    "store_session": {"session_id": "s", "state": {"v": 1}, "filename": "state.json"},
    "store_session_nowait": {"session_id": "s", "state": {"v": 1}, "filename": "state.json"},
    "load_session": {"session_id": "s", "filename": "state.json"},
    "update_session": {"session_id": "s", "fn": _identity, "filename": "state.json"},
    "load_sessions": {"session_ids": ["s"], "filename": "state.json"},
    "store_sessions": {"states": {"s": {"v": 1}}, "filename": "state.json"},
    "delete_sessions": {"session_ids": ["s"], "filename": None},
    "store_bytes": {"session_id": "s", "filename": "f.bin", "data": b"x"},
    "load_bytes": {"session_id": "s", "filename": "f.bin"},
    "session_exists": {"session_id": "s"},
    "get_session_metadata": {"session_id": "s", "filename": "state.json"},
    "iter_file_metadata": {"session_id": "s"},
    "list_sessions": {"prefix": "", "limit": None, "start_after": None},
    "iter_sessions": {"prefix": "", "start_after": None},
    "list_files": {"session_id": "s"},
    "delete_session": {"session_id": "s", "filename": None},
    "delete_sessions_older_than": {"age": timedelta(days=30), "dry_run": True},
    "append_event": {"session_id": "s", "stream": "log", "item": {"a": 1}},
    "append_events": {"session_id": "s", "stream": "log", "items": [{"a": 1}]},
    "pop_events": {"session_id": "s", "stream": "log", "count": 1},
    "read_events": {"session_id": "s", "stream": "log", "start": 0, "limit": None},
    "iter_events": {"session_id": "s", "stream": "log", "start": 0},
    "event_count": {"session_id": "s", "stream": "log"},
    "list_streams": {"session_id": "s"},
    "truncate_events": {"session_id": "s", "stream": "log", "length": 0},
    # A coroutine can be awaited once: the working call is in tests/test_sync_run.py.
    "run": {"coroutine": None},
    "submit": {"coroutine": None},
}
"""A call that works, by parameter name, for every public method."""


def public_methods(cls: type) -> list[str]:
    names = ["__init__"]
    for name, member in inspect.getmembers(cls):
        if not name.startswith("_") and callable(member) and not isinstance(member, type):
            names.append(name)
    return names


def variants(
    method: Callable[..., Any], name: str
) -> Iterator[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """(what was replaced, args, kwargs) for each bad value of each parameter."""
    parameters = [
        p for p in inspect.signature(method).parameters.values() if p.name not in ("self", "cls")
    ]
    valid = VALID[name]
    for parameter in parameters:
        for bad in BAD:
            if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
                yield f"{parameter.name}=({bad!r},)", (bad,), {}
                continue
            kwargs = {k: v for k, v in valid.items() if k != "keys"}
            kwargs[parameter.name] = bad
            args = valid.get("keys", ()) if "keys" in valid else ()
            yield f"{parameter.name}={bad!r}", tuple(args), kwargs


async def outcome(result: Any) -> Any:
    """Run what a call returned to the end: await it, or exhaust its iterator."""
    if inspect.isawaitable(result):
        return await result
    if isinstance(result, AsyncIterator):
        return [item async for item in result]
    if isinstance(result, Iterator):
        return list(result)
    return result


@pytest.fixture(params=["memory", "file"])
def make_async(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], SessionStorage]:
    if request.param == "memory":
        return lambda: SessionStorage(f"memory://args-{uuid.uuid4().hex}")
    return lambda: SessionStorage(tmp_path / uuid.uuid4().hex)


@pytest.mark.parametrize("cls", [SessionStorage, SyncSessionStorage])
def test_every_public_method_is_covered(cls: type) -> None:
    missing = [name for name in public_methods(cls) if name not in VALID]
    assert missing == [], f"add a valid call for {missing} to VALID"


@pytest.mark.parametrize("name", public_methods(SessionStorage))
async def test_async_methods_raise_only_library_errors(
    name: str, make_async: Callable[[], SessionStorage]
) -> None:
    storage = make_async()
    method = getattr(SessionStorage, name)
    failures = []
    for what, args, kwargs in variants(method, name):
        target: Any = SessionStorage if name == "__init__" else storage
        try:
            if name == "__init__":
                await outcome(SessionStorage(*args, **kwargs))
            else:
                await outcome(getattr(target, name)(*args, **kwargs))
            await storage.flush()
        except SessionStorageError:
            pass
        except Exception as exc:  # noqa: BLE001 - collected to report every culprit at once
            failures.append(f"{name}({what}): {type(exc).__name__}: {exc}")
    await storage.aclose()
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", public_methods(SyncSessionStorage))
def test_sync_methods_raise_only_library_errors(name: str, tmp_path: Path) -> None:
    storage = SyncSessionStorage(tmp_path / "sync")
    method = getattr(SyncSessionStorage, name)
    failures = []
    try:
        for what, args, kwargs in variants(method, name):
            try:
                if name == "__init__":
                    SyncSessionStorage(*args, **kwargs).close()
                else:
                    result = getattr(storage, name)(*args, **kwargs)
                    if isinstance(result, Iterator):
                        list(result)
                    elif hasattr(result, "result"):  # the Future of store_session_nowait
                        result.result(timeout=30)
                storage.flush()
            except SessionStorageError:
                pass
            except Exception as exc:  # noqa: BLE001 - collected to report every culprit
                failures.append(f"{name}({what}): {type(exc).__name__}: {exc}")
    finally:
        storage.close()
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: SessionStorage("memory://a", background_concurrency=0), "background_concurrency"),
        (lambda: SessionStorage("memory://a", max_concurrency=True), "max_concurrency"),
        (lambda: SessionStorage("memory://a").list_sessions(limit=-1), "limit"),
        (lambda: SessionStorage("memory://a").delete_sessions_older_than(-1), "age"),
        (lambda: SessionStorage("memory://a").delete_sessions_older_than("30d"), "age"),  # type: ignore[arg-type]
        (lambda: SessionStorage("memory://a").store_bytes("s", "f", "text"), "data"),  # type: ignore[arg-type]
        (lambda: SessionStorage("memory://a").read_events("s", "log", limit=True), "limit"),
        (
            lambda: SessionStorage("memory://a").update_session("s", _identity, retries=-1),
            "retries",
        ),
        (
            lambda: copy_sessions(
                SessionStorage("memory://a"), SessionStorage("memory://b"), max_concurrency=0
            ),
            "max_concurrency",
        ),
    ],
)
async def test_the_error_names_the_argument(call: Callable[[], Any], argument: str) -> None:
    with pytest.raises(InvalidArgumentError, match=argument):
        await outcome(call())
