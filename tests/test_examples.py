"""The README's programs run as a new user would run them, each on its backend."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(script: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,  # the assertion below shows stderr on failure
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quickstart_runs_on_the_local_default(tmp_path: Path) -> None:
    env = {k: "" for k in os.environ if k.startswith("SESSION_STORAGE_")}
    out = run("quickstart.py", env=env, cwd=tmp_path)
    assert f"storage: file://{tmp_path}/.data/sessions" in out
    assert "loaded chat-42: status=active turns=1" in out
    assert "sessions at the root: ['../sneaky/id', 'chat-42', 'tenant-a']" in out
    assert "sessions left: []" in out
    assert (tmp_path / ".data" / "sessions").is_dir()


def _check_walk_through(out: str, backend: str) -> None:
    assert f"(backend: {backend})" in out
    assert "loaded chat-42: {'status': 'active'" in out
    assert "files of chat-42: ['state.json', 'uploads/photo.png']" in out
    assert "deleted chat-42: True" in out and "sessions left: []" in out


def test_s3_example_on_moto(moto_s3_server: str) -> None:
    env = {
        "AWS_ENDPOINT_URL": moto_s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    bucket = f"demo-{uuid.uuid4().hex[:8]}"
    _check_walk_through(run("s3_example.py", f"s3://{bucket}", "--create-bucket", env=env), "s3")


def test_gcs_example_on_fake_gcs_server(gcs_endpoint: str) -> None:
    env = {"STORAGE_EMULATOR_HOST": gcs_endpoint}
    bucket = f"demo-{uuid.uuid4().hex[:8]}"
    _check_walk_through(run("gcs_example.py", f"gs://{bucket}", "--create-bucket", env=env), "gcs")


def test_azure_example_on_azurite(azurite_connection_string: str) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string}
    container = f"demo-{uuid.uuid4().hex[:8]}"
    out = run("azure_example.py", f"az://{container}", "--create-bucket", env=env)
    _check_walk_through(out, "azure")
