"""``storage.check()`` and ``session-storage check``: a store that works passes on every
backend and leaves nothing behind; a store that ignores conditional writes (a proxy that
strips If-Match / If-None-Match in front of moto) fails, in words; a missing bucket is
named."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from session_storage import CheckReport, SessionStorage
from session_storage.pytest_plugin import s3_storage_options
from tests.support.cloud import delete_bucket, new_bucket
from tests.support.proxy import stripping_proxy

STEPS = [
    "list the root",
    "write",
    "read",
    "stat",
    "list",
    "create-only write refused",
    "overwrite",
    "stale-version write refused",
    "delete",
    "nothing left behind",
]


async def test_a_working_store_passes_and_keeps_only_its_sessions(
    make_any_storage: Callable[[], SessionStorage],
) -> None:
    async with make_any_storage() as storage:
        await storage.store_session("keep", {"n": 1})
        report = await storage.check()
        assert [step.name for step in report.steps] == STEPS
        assert all(step.ok for step in report.steps), report.steps
        assert all(step.ms is not None and step.ms >= 0 for step in report.steps)
        assert report.ok
        assert report.conditional_writes == "enforced"
        assert report.advice == ()
        if storage.backend in ("s3", "gcs", "azure"):
            assert report.clock_skew is not None and abs(report.clock_skew) < 60
        else:
            assert report.clock_skew is None
        # Nothing left behind: the store holds what it held before.
        assert await storage.list_sessions() == ["keep"]
        assert (await storage.load_session("keep") or {}).get("n") == 1
        assert report.backend == storage.backend and report.url == storage.url


async def test_a_store_that_ignores_conditions_fails_in_words(moto_s3_server: str) -> None:
    bucket = new_bucket(moto_s3_server)
    try:
        with stripping_proxy(moto_s3_server, "If-Match", "If-None-Match") as proxy:
            endpoint = f"http://127.0.0.1:{proxy.port}"
            async with SessionStorage(f"s3://{bucket}/app", s3_storage_options(endpoint)) as st:
                report = await st.check()
                assert await st.list_sessions() == []  # cleaned up all the same
            sent = [target for method, target in proxy.take() if method == "PUT"]
        assert len(sent) == 4  # write, create-only, overwrite, stale version: all went out
        assert not report.ok
        assert report.conditional_writes == "NOT enforced"
        failed = {step.name: step.detail for step in report.steps if step.ok is False}
        assert set(failed) == {"create-only write refused", "stale-version write refused"}
        assert all("ACCEPTED" in detail for detail in failed.values())
        (advice,) = report.advice
        assert "NOT enforced" in advice and "update_session" in advice
        assert "overwrite" in advice
    finally:
        delete_bucket(moto_s3_server, bucket)


async def test_a_missing_bucket_is_named(moto_s3_server: str) -> None:
    url = "s3://no-such-bucket-for-check/app"
    async with SessionStorage(url, s3_storage_options(moto_s3_server)) as storage:
        report = await storage.check()
    (step,) = report.steps  # nothing else is tried, nothing written
    assert step.name == "list the root" and step.ok is False
    assert "no-such-bucket-for-check" in step.detail and "does not exist" in step.detail
    assert not report.ok and report.conditional_writes == "not checked"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "session_storage", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_prints_a_table_or_json_and_exits_by_the_result(
    tmp_path: Path, moto_s3_server: str
) -> None:
    table = _cli("--url", str(tmp_path / "store"), "check")
    assert table.returncode == 0, table.stderr
    for name in STEPS:
        assert name in table.stdout
    assert "conditional writes: enforced" in table.stdout
    assert "result: ok" in table.stdout

    as_json = _cli("--url", str(tmp_path / "store"), "check", "--json")
    report = orjson.loads(as_json.stdout)
    assert as_json.returncode == 0 and report["ok"] is True
    assert [step["name"] for step in report["steps"]] == STEPS
    assert set(report) == {*CheckReport.__dataclass_fields__, "ok"}

    bucket = new_bucket(moto_s3_server)
    try:
        with stripping_proxy(moto_s3_server, "If-Match", "If-None-Match") as proxy:
            endpoint = f"http://127.0.0.1:{proxy.port}"
            failed = _cli(
                "--url", f"s3://{bucket}", "--option", f"endpoint_url={endpoint}",
                "--option", "key=testing", "--option", "secret=testing", "check",
            )  # fmt: skip
    finally:
        delete_bucket(moto_s3_server, bucket)
    assert failed.returncode == 1, failed.stderr
    assert "conditional writes: NOT enforced" in failed.stdout
    assert "result: FAILED" in failed.stdout
    assert "Conditional writes are NOT enforced" in " ".join(failed.stderr.split())


@pytest.mark.parametrize("backend", ["memory"])
def test_the_sync_twin_returns_the_same_report(backend: str) -> None:
    from session_storage import SyncSessionStorage

    with SyncSessionStorage(f"{backend}://check-sync") as storage:
        report = storage.check()
    assert report.ok and [step.name for step in report.steps] == STEPS
