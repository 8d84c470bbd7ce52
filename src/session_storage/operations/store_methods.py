"""The listing methods and ``check`` of :class:`~session_storage.storage.SessionStorage`.

A part of the facade kept in its own module so that the storage's table of contents
stays short: each method checks nothing itself and hands the call, in the storage's
:class:`~.scope.Scope`, to the function of :mod:`.listing` or :mod:`.check` its
docstring names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from . import listing
from .check import CheckReport, run_check
from .scope import Scope

__all__ = ["StoreMethods"]


class StoreMethods:
    """Listing sessions and files, and checking the store."""

    _scope: Scope

    async def list_sessions(
        self, prefix: str = "", limit: int | None = None, start_after: str | None = None
    ) -> list[str]:
        """Ids of the sessions under this root starting with ``prefix``, after ``start_after``,
        at most ``limit``, in key order; ``[]`` if none. See :func:`listing.list_sessions`."""
        return await listing.list_sessions(self._scope, prefix, limit, start_after)

    def iter_sessions(
        self, prefix: str = "", *, start_after: str | None = None
    ) -> AsyncIterator[str]:
        """Every session id under this root in key order, fetched a page at a time as the
        loop goes; nothing if none. See :func:`listing.iter_sessions`."""
        return listing.iter_sessions(self._scope, prefix, start_after)

    async def list_files(self, session_id: str) -> list[str]:
        """Sorted filenames of a session (``/`` for nesting); ``[]`` if it has none."""
        return await listing.list_files(self._scope, session_id)

    def iter_file_metadata(self, session_id: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """The :meth:`get_session_metadata` of every file of one session, or of every session
        under this root, in no set order; nothing if none. See :func:`listing.file_metadata`."""
        return listing.file_metadata(self._scope, session_id)

    # -- the store itself -------------------------------------------------------------

    async def check(self) -> CheckReport:
        """Check that the store works as the library needs, with a few requests under a
        temporary folder of the root that is deleted afterwards: the credentials and the
        bucket, write, read, list, delete, that a create-only write and a stale-version
        write are refused (conditional writes enforced), the clock against the server's,
        each step timed. Never raises for what the store does wrong: see ``report.ok``
        and ``report.advice``."""
        return await run_check(self._scope)
