"""The errors of an event stream, each naming backend, session, stream file and URL.

Every message reads ``"<backend>: cannot <action> session '<id>' file '<stream>'
(<url>): <why>"``, built by :meth:`~session_storage.core.errors.Place.error` like
every other library error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from ..backends.base import Driver
from ..backends.coded import codec_of
from ..codecs.envelope import without_codecs
from ..core.arguments import check_int
from ..core.errors import (
    ConfigurationError,
    CorruptDataError,
    EncryptionKeyError,
    InvalidArgumentError,
    Place,
    SessionStorageError,
)
from .documents import Doc, EventError, decode_doc, items_of, records_of
from .layout import StreamRef

__all__ = ["Record", "StreamFailures"]

E = TypeVar("E", bound=SessionStorageError)

Record = tuple[int, datetime, Any]
"""``(index, appended_at, item)``."""


class StreamFailures:
    """Builds the errors of the streams on one driver, and parses what may be corrupt."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    def error(
        self, cls: type[E], ref: StreamRef, action: str, why: str, name: str | None = None
    ) -> E:
        """A ``cls`` error about the stream (or one of its files) naming where it happened."""
        path = ref.folder if name is None else f"{ref.folder}/{name}"
        filename = ref.stream if name is None else ref.file_of(name)
        place = Place(self.driver.name, action, ref.session_id, filename, self.driver.url(path))
        return place.error(cls, why)

    def invalid(self, ref: StreamRef, why: str) -> InvalidArgumentError:
        """The error for an unusable argument of a call on ``ref``."""
        return self.error(InvalidArgumentError, ref, "use event stream of", why)

    def corrupt(self, ref: StreamRef, name: str, why: str) -> CorruptDataError:
        """The error for the stream file ``name`` that is not what it should be."""
        return self.error(CorruptDataError, ref, "read", f"stored file is {why}", name)

    def check_count(self, ref: StreamRef, name: str, value: object) -> int:
        """``value`` if it is an int >= 0; InvalidArgumentError naming ``name`` if not."""
        try:
            return check_int(name, value, 0)
        except InvalidArgumentError as exc:
            raise self.invalid(ref, str(exc)) from None

    def decode(self, ref: StreamRef, name: str, raw: bytes) -> tuple[Doc, list[Any]]:
        """The stored file ``name`` parsed; CorruptDataError if it cannot be."""
        try:
            return decode_doc(raw)
        except ValueError as exc:
            found = without_codecs(raw) if codec_of(self.driver) is None else None
            if found is None:
                raise self.corrupt(ref, name, str(exc)) from exc
            why, key_id = found  # an envelope, and this storage has no codecs
            if key_id is None:
                raise self.error(ConfigurationError, ref, "read", why, name) from exc
            error = self.error(EncryptionKeyError, ref, "read", why, name)
            error.key_id = key_id
            raise error from exc

    def items(self, ref: StreamRef, first: int, events: list[Any]) -> list[Any]:
        """The items of parsed events from index ``first``; CorruptDataError for a bad one."""
        try:
            return items_of(events)
        except EventError as exc:
            raise self._unreadable(ref, first, exc) from exc

    def records(self, ref: StreamRef, first: int, events: list[Any]) -> list[Record]:
        """As :meth:`items`, each event as a :data:`Record`."""
        try:
            return records_of(events, first)
        except EventError as exc:
            raise self._unreadable(ref, first, exc) from exc

    def _unreadable(self, ref: StreamRef, first: int, exc: EventError) -> CorruptDataError:
        why = f"event {first + exc.position} is unreadable: {exc}"
        return self.error(CorruptDataError, ref, "read events of", why)
