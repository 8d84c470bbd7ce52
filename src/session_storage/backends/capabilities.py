"""What a backend can do safely, as data: :class:`Capabilities`.

Every driver states its capabilities; the facade reads them to refuse, before writing
anything, an operation the backend cannot do safely (a conditional write that nothing
would enforce becomes a NotSupportedError, never a silent overwrite), and tools such as
a store check read them to know what to verify.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CONDITIONAL", "Capabilities", "conditions_instead"]

VersionKind = Literal["native", "digest"]
ListingKind = Literal["paged", "whole_folder"]


def conditions_instead(backend: str) -> str:
    """What to use instead of the conditional operations on ``backend``."""
    return (
        f"on the {backend} backend use plain stores (last writer wins) with one writer per "
        "session, or a backend that enforces conditional writes: memory, local disk with "
        "flock, s3, gcs or azure"
    )


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What one backend guarantees; read it as ``storage.capabilities``.

    ``create_only`` and ``compare_and_swap`` together are :attr:`conditional_writes`:
    what ``update_session``, the event logs and rekey need. Where one is False, the
    operations that need it raise NotSupportedError naming it, the backend and
    :attr:`instead`, and write nothing.
    """

    create_only: bool
    """``if_absent=True`` is enforced atomically by the store (a create that refuses to
    replace: S3 ``If-None-Match: *``, an SFTP rename that refuses an existing target)."""
    compare_and_swap: bool
    """``if_version=token`` is enforced atomically by the store (``If-Match``, a
    generation match, a lock on local disk)."""
    versions: VersionKind
    """``"native"``: versions are the store's own (ETag, generation, local token), shown
    in metadata too; ``"digest"``: a SHA-256 of the bytes, from loads and stores only
    (equal bytes have equal versions; metadata shows none)."""
    atomic_replace: bool
    """A store replaces the file whole: no reader ever sees a half-written file."""
    listing: ListingKind
    """``"paged"``: the store lists in key order a page at a time (one request per 1000
    sessions); ``"whole_folder"``: a listing reads the whole folder and sorts it here.
    Either way listings come back in key order."""
    batch_delete: bool
    """Many files go in few requests (S3 DeleteObjects, an Azure batch); False: one
    request per file."""
    fresh_reads: bool = True
    """A load sees the latest store of every writer. False behind a caching layer
    (``simplecache::``, ``filecache::``): it serves a file from its cache once read, so
    only this storage's own stores and deletes (whose cached copies it drops) are seen."""
    notes: str = ""
    """How the guarantees are met on this backend, for people: the primitive used."""
    instead: str = ""
    """What to use instead of what this backend refuses; empty when it refuses nothing."""

    @property
    def conditional_writes(self) -> bool:
        """Whether both write conditions are enforced, so every operation is available."""
        return self.create_only and self.compare_and_swap

    def missing(self, *, if_absent: bool, if_version: bool) -> str | None:
        """The name of the capability a write condition needs and this backend lacks;
        None when the condition can be enforced (or there is none)."""
        if if_absent and not self.create_only:
            return "create_only"
        if if_version and not self.compare_and_swap:
            return "compare_and_swap"
        return None


CONDITIONAL = Capabilities(
    create_only=True,
    compare_and_swap=True,
    versions="native",
    atomic_replace=True,
    listing="paged",
    batch_delete=True,
)
"""The object stores' capabilities; drivers replace the fields that differ."""
