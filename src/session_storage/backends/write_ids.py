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
from dataclasses import dataclass

__all__ = ["WRITE_ID_KEY", "WriteCondition", "new_write_id"]

WRITE_ID_KEY = "writeid"
"""The metadata name. Letters only: Azure wants a C# identifier, and S3 sends it as an
HTTP header, where some proxies drop names with ``_``."""


def new_write_id() -> str:
    """A random id for one write (122 random bits: no two writes share one)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class WriteCondition:
    """The condition of one conditional put, and the id that recognises the write."""

    if_absent: bool
    """Write only if nothing exists at the path."""
    if_version: str | None
    """Write only if the object is still at this version."""
    write_id: str | None
    """Stored in the object's user metadata; None when the caller does not verify."""

    @classmethod
    def of(cls, if_version: str | None, if_absent: bool, verify_own: bool) -> WriteCondition | None:
        """The condition of a put, with a fresh write id unless ``verify_own`` is False;
        None for an unconditional put (it cannot fail its condition, so it needs no id)."""
        if not if_absent and if_version is None:
            return None
        return cls(if_absent, if_version, new_write_id() if verify_own else None)

    def metadata(self) -> dict[str, str]:
        """The user metadata that carries the write id; empty without one."""
        return {} if self.write_id is None else {WRITE_ID_KEY: self.write_id}
