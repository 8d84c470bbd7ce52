"""Write ids: how an object store driver recognises its own conditional write.

A conditional write (``if_absent``, ``if_version``) whose reply is lost on the way
back has been applied, but the client does not know: it resends the request, and the
resend fails its condition (412 or 409) because the first one changed the object. Read
naively, that says "conflict, nothing was written", which is false: a counter is then
incremented twice, an event appended twice, a fresh ``if_absent`` store reported as a
conflict.

So every conditional write carries a fresh random id in the object's user metadata
(S3 ``x-amz-meta-writeid``, GCS ``metadata``, Azure blob metadata), which costs no
request. When the condition fails, the driver reads the object's metadata (one HEAD,
on the failure path only): if the stored object carries this write's id, the write
succeeded and its version is returned; otherwise it is a real conflict.

What remains: if another writer replaces the object between the lost reply and that
check, the earlier write is reported as a conflict although it was applied (and then
overwritten). That window is one request long and needs a lost reply and a concurrent
writer at once.
"""

from __future__ import annotations

import uuid

__all__ = ["WRITE_ID_KEY", "new_write_id"]

WRITE_ID_KEY = "writeid"
"""The metadata name. Letters only: Azure wants a C# identifier, and S3 sends it as an
HTTP header, where some proxies drop names with ``_``."""


def new_write_id() -> str:
    """A random id for one write (122 random bits: no two writes share one)."""
    return uuid.uuid4().hex
