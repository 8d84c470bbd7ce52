"""Write conditions, and write ids: how an object store driver recognises its own
conditional write.

:class:`WriteCondition` says what one :meth:`~.base.Driver.put` requires of the file it
replaces. A conditional write (``if_absent``, ``if_version``) whose reply is lost on the
way back has been applied, but the client does not know: it resends the request, and
the resend fails its condition (412 or 409) because the first one changed the object.
Read naively, that says "conflict, nothing was written", which is false: a counter is then
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
from dataclasses import dataclass, replace

__all__ = ["UNCONDITIONAL", "WRITE_ID_KEY", "WriteCondition", "new_write_id"]

WRITE_ID_KEY = "writeid"
"""The metadata name. Letters only: Azure wants a C# identifier, and S3 sends it as an
HTTP header, where some proxies drop names with ``_``."""


def new_write_id() -> str:
    """A random id for one write (122 random bits: no two writes share one)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class WriteCondition:
    """What one put requires of the file it replaces; :data:`UNCONDITIONAL` requires nothing.

    With ``if_absent`` the write happens only if no file exists at the path; with
    ``if_version`` only if the file is still at that version. The backend checks the
    condition atomically with the write, and a failed condition (including
    ``if_version`` on a missing file) raises ``FileExistsError`` having written
    nothing. Only drivers with :attr:`~.base.Driver.supports_conditional_writes` get
    conditions.

    Object stores whose client resends a request after a lost reply check a failed
    condition against the write id stored with the object (see this module): one
    more request, on the failure path only. A caller that reads the object next
    anyway and recognises its own write passes ``verify_own=False`` to save that
    request.
    """

    if_version: str | None = None
    """Write only if the object is still at this version."""
    if_absent: bool = False
    """Write only if nothing exists at the path."""
    verify_own: bool = True
    """Recognise this write by its write id when its condition fails (object stores)."""
    write_id: str | None = None
    """Stored in the object's user metadata; set by :meth:`for_write`, not by callers."""

    @property
    def conditional(self) -> bool:
        """Whether the write requires anything: a put without it cannot fail so."""
        return self.if_absent or self.if_version is not None

    def for_write(self) -> WriteCondition | None:
        """This condition for one write request, with a fresh write id unless
        ``verify_own`` is False; None for an unconditional put (it cannot fail its
        condition, so it needs no id)."""
        if not self.conditional:
            return None
        return replace(self, write_id=new_write_id() if self.verify_own else None)

    def metadata(self) -> dict[str, str]:
        """The user metadata that carries the write id; empty without one."""
        return {} if self.write_id is None else {WRITE_ID_KEY: self.write_id}


UNCONDITIONAL = WriteCondition()
"""The condition of a plain put: it replaces whatever is there, or nothing."""
