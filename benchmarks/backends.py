"""The backends the benchmarks run on: one small class each.

A backend starts whatever it needs (a server, a folder), hands out fresh empty
storages, and says what it can offer beyond that: request counts at the server
(``requests``), an obstore store on the same data (``obstore``), a memory probe in a
subprocess (``subprocess_ok``). GCS runs on fake-gcs-server and Azure on Azurite,
started by the test suite's own launchers (``tests/support/emulators.py``); when one cannot
start, :meth:`Backend.start` raises :class:`Unavailable` and the run goes on without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from typing import Any

import anyio.to_thread

from session_storage import SessionStorage
from session_storage.pytest_plugin import s3_storage_options


class Unavailable(RuntimeError):
    """The backend cannot run here (its emulator is missing or did not start)."""


class Backend:
    """A place to benchmark on. Subclasses override what they offer."""

    name = ""
    subprocess_ok = True
    """Whether a storage here can be reopened from another process (not memory)."""

    def start(self) -> None:
        """Start servers or create folders; called once before any benchmark."""

    def stop(self) -> None:
        """Undo :meth:`start`."""

    bulk_note = ""
    """Where :meth:`storage` puts a ``bulk`` storage, if not with the others."""

    def storage(self, bulk: bool = False, **kwargs: Any) -> SessionStorage:
        """A new, empty storage; ``kwargs`` go to SessionStorage.

        ``bulk``: it will hold 100k sessions (the listing benchmarks).
        """
        url, options = self.location(bulk)
        return SessionStorage(url, options, **kwargs)

    def location(self, bulk: bool = False) -> tuple[str, dict[str, Any]]:
        """URL and storage options of a new, empty root."""
        raise NotImplementedError

    def requests(self) -> list[str] | None:
        """Requests the server answered since the last call, or None if not countable."""
        return None

    async def fill(self, storage: SessionStorage, files: list[tuple[str, str]]) -> bool:
        """Set-up only: write ``b"{}"`` as each ``(session_id, filename)`` of ``storage``
        by a faster way than the library (as the library would write it: plain ids
        and filenames are their own keys). False if this backend has none."""
        return False

    def obstore(self, storage: SessionStorage) -> Any | None:
        """An obstore store over ``storage``'s root, or None if there is none here.

        Raises ImportError when obstore (an optional benchmark dependency) is missing.
        """
        return None


class Memory(Backend):
    name = "memory"
    subprocess_ok = False  # the data lives in this process

    def location(self, bulk: bool = False) -> tuple[str, dict[str, Any]]:
        return f"memory://bench-{uuid.uuid4().hex}", {}


class File(Backend):
    name = "file"

    def start(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="session-storage-bench-")
        # 100k session folders take ~10 s to create and ~20 s to delete on a disk's
        # journal (ext4 here); in memory (tmpfs) listing reads the same directory
        # entries, and the run saves half a minute.
        self.bulk_folder = self.folder
        if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
            self.bulk_folder = tempfile.mkdtemp(prefix="session-storage-bench-", dir="/dev/shm")
            self.bulk_note = "on tmpfs (/dev/shm)"

    def stop(self) -> None:
        for folder in {self.folder, self.bulk_folder}:
            shutil.rmtree(folder, ignore_errors=True)

    def location(self, bulk: bool = False) -> tuple[str, dict[str, Any]]:
        # Like for like with the baselines, which do not fsync either; what fsync (the
        # default) costs is its own row (overhead: "store_session 1 KiB, fsync on/off").
        return f"{self.bulk_folder if bulk else self.folder}/{uuid.uuid4().hex}", {"fsync": False}


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
        line = self.process.stdout.readline()
        if not line.strip().isdigit():  # moto missing or broken: the child said nothing
            self.stop()
            raise Unavailable("the moto server did not start (pip install 'moto[server]')")
        self.endpoint = f"http://127.0.0.1:{int(line)}"

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)

    def location(self, bulk: bool = False) -> tuple[str, dict[str, Any]]:
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

    async def fill(self, storage: SessionStorage, files: list[tuple[str, str]]) -> bool:
        bucket, _, prefix = storage.url.removeprefix("s3://").partition("/")
        base = f"{prefix}/" if prefix else ""
        keys = [f"{base}{session_id}/{filename}" for session_id, filename in files]
        body = json.dumps({"bucket": bucket, "keys": keys, "body": "{}"}).encode()
        request = urllib.request.Request(f"{self.endpoint}/__fill__", data=body, method="POST")
        await anyio.to_thread.run_sync(urllib.request.urlopen, request)
        return True

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


class _Emulated(Backend):
    """A backend whose emulator runs for as long as the backend is started."""

    def _enter(self, server: contextlib.AbstractContextManager[str]) -> str:
        self._stack = contextlib.ExitStack()
        try:
            return self._stack.enter_context(server)
        except Exception as exc:  # the emulator's own error says what is missing
            self._stack.close()
            raise Unavailable(f"{type(exc).__name__}: {exc}".splitlines()[0]) from exc

    def stop(self) -> None:
        self._stack.close()


class GCSFake(_Emulated):
    """fake-gcs-server (in memory) on 127.0.0.1, as the tests run it."""

    name = "gcs"

    def start(self) -> None:
        from tests.support.emulators import fake_gcs_server

        self.endpoint = self._enter(fake_gcs_server())
        self.options = {"endpoint_url": self.endpoint, "token": "anon", "project": "test"}

    def location(self, bulk: bool = False) -> tuple[str, dict[str, Any]]:
        bucket = f"bench-{uuid.uuid4().hex[:16]}"
        request = urllib.request.Request(
            f"{self.endpoint}/storage/v1/b?project=test",
            data=json.dumps({"name": bucket}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30):
            pass
        return f"gs://{bucket}", dict(self.options)


class AzureAzurite(_Emulated):
    """Azurite's blob service (in memory) on 127.0.0.1, as the tests run it."""

    name = "azure"

    def start(self) -> None:
        from tests.support.emulators import azurite_blob

        self.connection_string = self._enter(azurite_blob())

    def location(self, bulk: bool = False) -> tuple[str, dict[str, Any]]:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        container = f"bench-{uuid.uuid4().hex[:16]}"
        with BlobServiceClient.from_connection_string(self.connection_string) as service:
            try:
                service.create_container(container)
            except ResourceExistsError:
                pass  # the client's own retry of a create whose reply came late
        return f"az://{container}", {"connection_string": self.connection_string}


BACKENDS: dict[str, type[Backend]] = {
    "memory": Memory,
    "file": File,
    "s3": S3Moto,
    "gcs": GCSFake,
    "azure": AzureAzurite,
}
"""Every backend the benchmarks know, by name, in the order they run."""
