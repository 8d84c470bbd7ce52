"""The backends the benchmarks run on: one small class each.

A backend starts whatever it needs (a server, a folder), hands out fresh empty
storages, and says what it can offer beyond that: request counts at the server
(``requests``), an obstore store on the same data (``obstore``), a memory probe in a
subprocess (``subprocess_ok``). Adding a backend (GCS on fake-gcs-server, Azure on
Azurite) means one more class here and one more entry in :data:`BACKENDS`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from typing import Any

from session_storage import SessionStorage
from session_storage.pytest_plugin import s3_storage_options


class Backend:
    """A place to benchmark on. Subclasses override what they offer."""

    name = ""
    subprocess_ok = True
    """Whether a storage here can be reopened from another process (not memory)."""

    def start(self) -> None:
        """Start servers or create folders; called once before any benchmark."""

    def stop(self) -> None:
        """Undo :meth:`start`."""

    def storage(self, **kwargs: Any) -> SessionStorage:
        """A new, empty storage; ``kwargs`` go to SessionStorage."""
        url, options = self.location()
        return SessionStorage(url, options, **kwargs)

    def location(self) -> tuple[str, dict[str, Any]]:
        """URL and storage options of a new, empty root."""
        raise NotImplementedError

    def requests(self) -> list[str] | None:
        """Requests the server answered since the last call, or None if not countable."""
        return None

    def obstore(self, storage: SessionStorage) -> Any | None:
        """An obstore store over ``storage``'s root, or None if there is none."""
        return None


class Memory(Backend):
    name = "memory"
    subprocess_ok = False  # the data lives in this process

    def location(self) -> tuple[str, dict[str, Any]]:
        return f"memory://bench-{uuid.uuid4().hex}", {}


class File(Backend):
    name = "file"

    def start(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="session-storage-bench-")

    def stop(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def location(self) -> tuple[str, dict[str, Any]]:
        return f"{self.folder}/{uuid.uuid4().hex}", {}


class S3Moto(Backend):
    """moto's S3 server in a subprocess on 127.0.0.1 (a free port)."""

    name = "s3"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.moto_server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        port = int(self.process.stdout.readline())
        self.endpoint = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)

    def location(self) -> tuple[str, dict[str, Any]]:
        import boto3

        bucket = f"bench-{uuid.uuid4().hex[:16]}"
        options = s3_storage_options(self.endpoint)
        boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=options["key"],
            aws_secret_access_key=options["secret"],
            region_name="us-east-1",
        ).create_bucket(Bucket=bucket)
        return f"s3://{bucket}", options

    def requests(self) -> list[str]:
        with urllib.request.urlopen(f"{self.endpoint}/__requests__") as resp:
            taken: list[str] = json.loads(resp.read())
        return taken

    def obstore(self, storage: SessionStorage) -> Any:
        from obstore.store import S3Store

        options = storage.settings.storage_options
        bucket = storage.url.removeprefix("s3://").split("/")[0]
        return S3Store(
            bucket,
            endpoint=self.endpoint,
            access_key_id=options["key"],
            secret_access_key=options["secret"],
            region="us-east-1",
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )


BACKENDS: dict[str, type[Backend]] = {"memory": Memory, "file": File, "s3": S3Moto}
"""Every backend the benchmarks know, by name, in the order they run."""
