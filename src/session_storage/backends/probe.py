"""Why a backend was unreachable: a refused connection, told from no answer at all.

Cloud clients retry a refused connection (nothing listens on the port: the service is
down, the endpoint names the wrong port) until the storage's deadline passes, and it
then looks like a backend that never answered. One connection attempt after the
failure tells the two apart.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

__all__ = ["refused"]

PROBE_SECONDS = 1.0
"""How long the attempt may take: a refusal comes back within a round trip."""


async def refused(endpoint: str | None) -> str | None:
    """``"host:port"`` of ``endpoint`` (a base URL) if it refuses connections right
    now; None if it accepts one, gives no answer within :data:`PROBE_SECONDS`, cannot
    be resolved, or is not known."""
    parts = urlsplit(endpoint or "")
    if not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        connecting = asyncio.open_connection(parts.hostname, port)
        _, writer = await asyncio.wait_for(connecting, PROBE_SECONDS)
    except ConnectionRefusedError:
        return f"{parts.hostname}:{port}"
    except (OSError, ValueError, asyncio.TimeoutError):
        return None  # unresolvable, unroutable, no answer: nothing certain to add
    writer.close()
    return None
