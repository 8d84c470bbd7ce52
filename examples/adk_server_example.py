"""ADK's own API server (``adk api_server``) with its sessions and artifacts on
session-storage, and a pure-Python agent: no model, no API key.

Local files (``.data/adk-server``): ``python examples/adk_server_example.py "hello"``.
Run it again and the conversation goes on: turn 2, ``notes.txt`` version 1.

It starts ``adk api_server`` on 127.0.0.1 (a free port) over the agents folder
``examples/adk_server``, whose ``services.py`` registers the ``session-storage+...`` URI
schemes, with ``--session_service_uri`` and ``--artifact_service_uri`` naming the
store; creates a session and posts the message to ``/run`` over HTTP; then reads the
session's events and the artifact back from the store itself, with
``StorageSessionService`` and ``StorageArtifactService``. ``adk web`` takes the same URIs.

A bucket instead: ``--uri session-storage+s3://bucket/prefix`` (an existing bucket;
endpoint and credentials from ``AWS_*`` or ``SESSION_STORAGE_OPTIONS``).
Needs ``pip install "session-storage[adk]"`` (plus ``s3``, ``gcs`` or ``azure``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from session_storage.integrations.adk import (
    StorageArtifactService,
    StorageSessionService,
    storage_from_uri,
)

AGENTS = Path(__file__).resolve().parent / "adk_server"
APP, USER, SESSION = "notes_agent", "ann", "demo"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """``adk api_server`` on 127.0.0.1:``port`` with both services on ``uri``, run in
    the environment ``env`` (this one's if ``None``); its log goes to a temporary file,
    shown if it fails to start."""

    def __init__(
        self, uri: str, port: int, agents: Path = AGENTS, env: dict[str, str] | None = None
    ) -> None:
        command = [sys.executable, "-m", "google.adk.cli", "api_server", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--no-reload", "--log_level", "WARNING"]
        command += ["--session_service_uri", uri, "--artifact_service_uri", uri, str(agents)]
        self.port = port
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(command, stdout=self.log, stderr=self.log, env=env)

    def wait_until_ready(self, timeout: float = 120) -> None:
        """Return once the server answers HTTP; raise if it exits or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                log = self.log.read().decode(errors="replace")
                raise RuntimeError(f"adk api_server exited ({self.process.returncode}):\n{log}")
            try:
                call(self.port, "GET", "/list-apps", timeout=2)
                return
            except OSError:  # not listening yet (URLError is an OSError)
                time.sleep(0.05)
        raise TimeoutError(f"adk api_server did not answer on port {self.port} in {timeout} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def call(port: int, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
    """The JSON answer of the server to one request (``None`` for 404)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def converse(port: int, message: str) -> list[str]:
    """Create the demo session if missing, post ``message`` to /run; the agent's replies."""
    session_path = f"/apps/{APP}/users/{USER}/sessions/{SESSION}"
    if call(port, "GET", session_path) is None:
        call(port, "POST", f"/apps/{APP}/users/{USER}/sessions", {"session_id": SESSION})
    body = {
        "app_name": APP,
        "user_id": USER,
        "session_id": SESSION,
        "new_message": {"role": "user", "parts": [{"text": message}]},
    }
    events = call(port, "POST", "/run", body)
    return [p["text"] for e in events for p in e.get("content", {}).get("parts", []) if "text" in p]


async def read_back(uri: str) -> tuple[list[str], list[str], int]:
    """From the store itself: the session's event authors, the versions of notes.txt, and
    the turn count in the session's state."""
    async with storage_from_uri(uri) as storage:
        session = await StorageSessionService(storage).get_session(
            app_name=APP, user_id=USER, session_id=SESSION
        )
        artifacts = StorageArtifactService(storage)
        ids = {"app_name": APP, "user_id": USER, "session_id": SESSION}
        versions = await artifacts.list_versions(**ids, filename="notes.txt")
        notes = [
            str((await artifacts.load_artifact(**ids, filename="notes.txt", version=v)).text)
            for v in versions
        ]
    assert session is not None
    return [e.author for e in session.events], notes, int(session.state["turns"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("message", nargs="?", default="hello")
    default = f"session-storage+file://{Path('.data/adk-server').resolve()}"
    parser.add_argument("--uri", default=default, help=f"store of both services ({default})")
    args = parser.parse_args()
    server = Server(args.uri, free_port())
    try:
        server.wait_until_ready()
        for reply in converse(server.port, args.message):
            print(f"agent: {reply}")
    finally:
        server.stop()
    authors, notes, turns = asyncio.run(read_back(args.uri))
    print(f"stored by the server in {args.uri}:")
    print(f"  session {SESSION}: {len(authors)} events by {sorted(set(authors))}, turns={turns}")
    print(f"  notes.txt: {len(notes)} versions, latest {notes[-1]!r}")


if __name__ == "__main__":
    main()
