"""``storage.check()``: a few requests that tell whether a store works as the library needs.

In a temporary session (``.session-storage-check-<random>``, which a listing may show
while the check runs) the check lists the root (the
credentials and the bucket), writes, reads, stats and lists one object, then makes the
two writes every guarantee of the library rests on and that must be *refused*: a
create-only write over the existing object and a write naming a stale version. It
deletes the folder at the end, whatever happened. Each step is timed.

A store that accepts either refused write does not enforce conditional writes: every
``if_absent`` store, ``update_session``, event append and LangGraph/ADK write on it
silently becomes an overwrite. The report says so in words (:attr:`CheckReport.advice`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import timezone
from typing import Any, Literal, TypeVar

from ..backends.base import ChildPage
from ..backends.write_ids import WriteCondition
from .scope import FileRef, FolderRef, Scope

__all__ = ["CheckReport", "CheckStep", "run_check"]

T = TypeVar("T")

ConditionalWrites = Literal[
    "enforced",
    "NOT enforced",
    "refused by the library",
    "partly refused by the library",
    "not checked",
]

SKEW_WARNING = 60.0
"""Seconds of clock difference past which the report warns: retention compares the
server's times with this machine's clock, and S3 refuses signatures 15 minutes off."""

_NOT_ENFORCED = (
    "Conditional writes are NOT enforced by this store: it accepted a write that had to "
    "be refused. On it, store_session(if_absent=True) and if_version, update_session, "
    "append_event and the framework integrations (LangGraph, ADK, OpenAI Agents) would "
    "silently overwrite each other's writes when two writers meet, and data would be "
    "lost. Use a store that enforces If-None-Match / If-Match on PUT (AWS S3, MinIO, "
    "Cloudflare R2, GCS, Azure; moto >= 5.1.5), or keep one writer per session."
)


@dataclass(frozen=True, slots=True)
class CheckStep:
    """One step of a check: whether it passed (None: skipped), its time, and why."""

    name: str
    ok: bool | None
    ms: float | None
    detail: str


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What :func:`run_check` found; :attr:`ok` is False if any step failed."""

    backend: str
    url: str
    steps: tuple[CheckStep, ...]
    conditional_writes: ConditionalWrites
    clock_skew: float | None
    """Seconds the server's clock is ahead of this machine's (negative: behind), from
    the modified time of the object written; None where there is no server."""
    advice: tuple[str, ...] = field(default=())
    """Sentences for a person: what is wrong, what it breaks, what to do."""

    @property
    def ok(self) -> bool:
        return all(step.ok is not False for step in self.steps)

    def as_json(self) -> dict[str, Any]:
        """The report as plain JSON values (``ok`` included)."""
        return {**asdict(self), "ok": self.ok}


class _Run:
    """The steps of one check, recorded as they happen."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.driver = scope.driver
        self.steps: list[CheckStep] = []
        # A session of its own: local disk deletes only names the key encoding writes.
        session_id = f".session-storage-check-{uuid.uuid4().hex}"
        self.folder: FolderRef = scope.folder(session_id)
        self.ref: FileRef = scope.file(session_id, "probe.json")

    async def step(
        self,
        name: str,
        operation: Callable[[], Awaitable[T]],
        judge: Callable[[T], tuple[bool, str]],
    ) -> T | None:
        """Run ``operation``, time it, and record what ``judge`` says of its result (an
        exception fails the step with the library's message)."""
        start = time.perf_counter()
        try:
            result = await operation()
        except Exception as exc:  # noqa: BLE001 - the report says what went wrong
            self.record(name, False, start, _message(exc))
            return None
        ok, detail = judge(result)
        self.record(name, ok, start, detail)
        return result

    def record(self, name: str, ok: bool | None, start: float | None, detail: str) -> None:
        ms = None if start is None else round((time.perf_counter() - start) * 1000, 1)
        self.steps.append(CheckStep(name, ok, ms, detail))

    def call(self, action: str, operation: Awaitable[T]) -> Awaitable[T]:
        return self.scope.call(self.ref, action, operation)


async def run_check(scope: Scope) -> CheckReport:
    """Check the store under ``scope``'s root (see this module); never raises for what
    the store does wrong: that goes in the report."""
    run = _Run(scope)
    skew: float | None = None
    conditional: ConditionalWrites = "not checked"
    if await _reach(run):
        version: str | None = None
        try:
            version, skew = await _round_trip(run)
            if version is not None:
                conditional = await _conditions(run, version)
        finally:
            if version is not None:
                await _delete(run)
    advice = []
    if conditional == "NOT enforced":
        advice.append(_NOT_ENFORCED)
    if skew is not None and abs(skew) > SKEW_WARNING:
        advice.append(
            f"This machine's clock is {abs(skew):.0f} s "
            f"{'behind' if skew > 0 else 'ahead of'} the server's: retention "
            "(delete_sessions_older_than, gc) compares the two, and S3 refuses requests "
            "signed more than 15 minutes off. Synchronise the clock (NTP)."
        )
    return CheckReport(
        scope.backend, scope.url(), tuple(run.steps), conditional, skew, tuple(advice)
    )


async def _reach(run: _Run) -> bool:
    """List one name of the root: the credentials work and the bucket exists."""

    async def first_page() -> list[str]:
        pages = run.scope.iterate(
            run.scope.root_ref(),
            "list sessions in",
            run.driver.iter_children(run.scope.root, ChildPage(limit=1)),
        )
        async for names in pages:
            await pages.aclose()
            return names
        return []

    found = await run.step(
        "list the root", first_page, lambda names: (True, "credentials and bucket accepted")
    )
    return found is not None


async def _round_trip(run: _Run) -> tuple[str | None, float | None]:
    """Write, read, stat and list one object; its version (None: not written), and the
    clock skew."""
    payload = b'{"check": 1}'
    before = time.time()
    version = await run.step(
        "write",
        lambda: run.call("store", run.driver.put(run.ref.path, payload, _JSON)),
        lambda version: (True, f"{len(payload)} bytes, version {version}"),
    )
    after = time.time()
    if version is None:
        return None, None
    await run.step(
        "read",
        lambda: run.call("load", run.driver.get(run.ref.path)),
        lambda found: (found is not None and found[0] == payload, _read_detail(found, payload)),
    )
    info = await run.step(
        "stat",
        lambda: run.call("stat", run.driver.info(run.ref.path)),
        lambda found: (found is not None, "size, time and version read"),
    )
    skew = None
    if info is not None and run.driver.remote:
        # The server stamps the object when it has it: between the two local readings.
        # Object stores keep whole seconds, hence the half-second allowance.
        modified = info.modified.replace(tzinfo=info.modified.tzinfo or timezone.utc)
        stamped = modified.timestamp()
        skew = 0.0 if before - 1 <= stamped <= after + 1 else stamped - (before + after) / 2
        skew = round(skew, 1)
    await run.step(
        "list",
        lambda: run.call("list files of", run.driver.list_files(run.folder.path)),
        lambda paths: (run.ref.path in paths, f"{len(paths)} file(s) listed"),
    )
    return version, skew


async def _conditions(run: _Run, stale: str) -> ConditionalWrites:
    """The two writes that must be refused; what the store did with them. A condition
    the backend does not claim to enforce (``capabilities``) is not tried: the library
    refuses it with NotSupportedError, so it cannot overwrite."""
    capabilities = run.driver.capabilities
    instead = f"; {capabilities.instead}" if capabilities.instead else ""
    refused_by_library = (
        f"the {run.scope.backend} backend cannot enforce this condition: the library "
        f"refuses it with NotSupportedError{instead}"
    )
    create: bool | None = None
    if capabilities.create_only:
        create = await _refused(run, "create-only write refused", WriteCondition(if_absent=True))
    else:
        run.record("create-only write refused", None, None, refused_by_library)
    cas: bool | None = None
    if capabilities.compare_and_swap:
        newer = await run.step(
            "overwrite",
            lambda: run.call("store", run.driver.put(run.ref.path, b'{"check": 2}', _JSON)),
            lambda version: (version != stale, f"new version {version}"),
        )
        if newer is None:
            return "not checked"
        cas = await _refused(run, "stale-version write refused", WriteCondition(if_version=stale))
    else:
        run.record("stale-version write refused", None, None, refused_by_library)
    if create is False or cas is False:
        return "NOT enforced"
    if create is None and cas is None:
        return "refused by the library"
    return "enforced" if create and cas else "partly refused by the library"


async def _refused(run: _Run, name: str, condition: WriteCondition) -> bool:
    """Make a write that must fail its condition; whether the store refused it."""
    start = time.perf_counter()
    write = run.driver.put(run.ref.path, b'{"check": "must not land"}', _JSON, condition)
    try:
        await run.call("store", write)
    except FileExistsError:  # the library's ConflictError is one
        run.record(name, True, start, "refused, as it must be")
        return True
    except Exception as exc:  # noqa: BLE001 - the report says what went wrong
        run.record(name, False, start, f"failed otherwise: {_message(exc)}")
        return False
    run.record(name, False, start, "ACCEPTED: the store ignored the condition and overwrote")
    return False


async def _delete(run: _Run) -> None:
    """Delete the check's folder, and make sure nothing is left."""
    deleted = await run.step(
        "delete",
        lambda: run.call("delete", run.driver.delete_tree(run.folder.path)),
        lambda existed: (existed, "deleted" if existed else "nothing found to delete"),
    )
    if deleted is None:
        return
    await run.step(
        "nothing left behind",
        lambda: run.call("check", run.driver.has_files(run.folder.path)),
        lambda left: (not left, f"left under {run.scope.url(run.folder.path)}" if left else "none"),
    )


_JSON = "application/json"


def _read_detail(found: tuple[bytes, str | None] | None, payload: bytes) -> str:
    if found is None:
        return "the object just written reads as missing"
    if found[0] != payload:
        return f"read {len(found[0])} bytes that differ from the {len(payload)} written"
    return f"{len(payload)} bytes read back"


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
