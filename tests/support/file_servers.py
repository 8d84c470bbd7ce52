"""Real SFTP and FTP servers on 127.0.0.1 (port 0), for the generic driver's tests.

SFTP is asyncssh's own SFTP server (chrooted to a folder, password login, a host key
made for the run) on an event loop in a thread of its own, so it outlives the event
loops of the tests; the client is sshfs. FTP is pyftpdlib's threaded server; the client
is fsspec's built-in ``ftp``. Both serve one folder per run; each storage of a test
works in a folder of its own below it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

USER, PASSWORD = "tester", "secret-pw"


@dataclass(frozen=True)
class Server:
    """Where a server listens and the folder it serves."""

    protocol: str
    port: int
    root: Path

    def url(self, folder: str) -> str:
        """The URL of ``folder`` below the served root (credentials go in options)."""
        return f"{self.protocol}://{USER}@127.0.0.1:{self.port}/{folder}"

    def options(self) -> dict[str, Any]:
        return {"password": PASSWORD}


@contextmanager
def sftp_server(root: Path) -> Iterator[Server]:
    """An asyncssh SFTP server chrooted to ``root``, for as long as the block runs."""
    import asyncssh

    class _Auth(asyncssh.SSHServer):  # type: ignore[misc]
        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return username == USER and password == PASSWORD

    loop = asyncio.new_event_loop()
    ready: list[Any] = []

    async def start() -> Any:
        key = asyncssh.generate_private_key("ssh-ed25519")
        return await asyncssh.create_server(
            _Auth,
            "127.0.0.1",
            0,
            server_host_keys=[key],
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root).encode()),
        )

    thread = threading.Thread(target=loop.run_forever, name="sftp-server", daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    ready.append(server)
    try:
        yield Server("sftp", server.sockets[0].getsockname()[1], root)
    finally:

        async def stop() -> None:
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


@contextmanager
def ftp_server(root: Path) -> Iterator[Server]:
    """A pyftpdlib server (one thread per connection) serving ``root``."""
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import ThreadedFTPServer

    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(root), perm="elradfmwMT")
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer})
    server = ThreadedFTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"timeout": 0.1, "blocking": True, "handle_exit": False},
        name="ftp-server",
        daemon=True,
    )
    thread.start()
    try:
        yield Server("ftp", server.socket.getsockname()[1], root)
    finally:
        server.close_all()
        thread.join(30)
