"""The session record of the Google ADK session service, and which events it commits.

A session's record is its ``state.json`` (see :mod:`session_storage.integrations.adk`
for the whole layout)::

    {"format": 1, "id": ..., "app_name": ..., "user_id": ...,
     "state": {...},              # the session's own keys (no app:, user:, temp:)
     "last_update_time": 1767225600.5,
     "end": 1042,                 # events at indices below this may be committed
     "gaps": [[17, 18]],          # [start, stop) ranges below ``end`` that are not
     "last_event_id": "..."}      # the id of the newest committed event

Events are appended to the session's event stream *before* the record is rewritten
under a condition on its version, and only that rewrite commits one. An event whose
record write lost (an appender holding an outdated session, or one that died between
the two writes) stays in the stream, uncommitted; the next committed append, whose
index lies beyond it, names the indices in between as a gap. Readers read the indices
below ``end`` that are in no gap, so they never see such an event. This module is
pure bookkeeping over those numbers; it does no I/O and imports no framework.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["RECORD_FORMAT", "SessionRecord"]

RECORD_FORMAT = 1
"""The version of the record's layout, written into every record."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One session's stored record: its own state and which events are committed."""

    state: dict[str, Any]
    last_update_time: float
    end: int = 0
    gaps: tuple[tuple[int, int], ...] = ()
    last_event_id: str | None = None

    def to_json(self, app_name: str, user_id: str, session_id: str) -> dict[str, Any]:
        """The JSON object stored as the session's ``state.json``."""
        return {
            "format": RECORD_FORMAT,
            "id": session_id,
            "app_name": app_name,
            "user_id": user_id,
            "state": self.state,
            "last_update_time": self.last_update_time,
            "end": self.end,
            "gaps": [list(gap) for gap in self.gaps],
            "last_event_id": self.last_event_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionRecord:
        """Read a stored record back; ValueError says what is wrong with a malformed one."""
        if data.get("format") != RECORD_FORMAT:
            raise ValueError(f"not an ADK session record of format {RECORD_FORMAT}")
        state, updated = data.get("state"), data.get("last_update_time")
        end, gaps, last = data.get("end"), data.get("gaps"), data.get("last_event_id")
        if not isinstance(state, dict):
            raise ValueError("its 'state' is not an object")
        if not isinstance(updated, (int, float)) or isinstance(updated, bool):
            raise ValueError("its 'last_update_time' is not a number")
        if not isinstance(end, int) or isinstance(end, bool) or end < 0:
            raise ValueError("its 'end' is not a count")
        if not isinstance(gaps, list) or not all(_is_range(gap, end) for gap in gaps):
            raise ValueError("its 'gaps' are not [start, stop) ranges below 'end'")
        if last is not None and not isinstance(last, str):
            raise ValueError("its 'last_event_id' is not a string")
        ranges = tuple(sorted((int(gap[0]), int(gap[1])) for gap in gaps))
        return cls(state, float(updated), end, ranges, last)

    def committed(self, latest: int | None = None) -> list[int]:
        """Indices of the committed events in order; only the ``latest`` ones if given."""
        return self.committed_before(self.end, latest)

    def committed_before(self, stop: int, latest: int | None = None) -> list[int]:
        """Indices of committed events below ``stop`` in order (the ``latest`` of them)."""
        out: list[int] = []
        for start, end in reversed(self._committed_ranges(min(stop, self.end))):
            if latest is not None:
                room = latest - len(out)
                if room <= 0:
                    break
                start = max(start, end - room)
            out.extend(range(end - 1, start - 1, -1))
        out.reverse()
        return out

    def after_append(
        self, index: int, event_id: str, timestamp: float, state_delta: Mapping[str, Any]
    ) -> SessionRecord:
        """The record once the event appended at ``index`` is committed.

        Indices between the old ``end`` and ``index`` hold uncommitted events and become
        a gap. ValueError if ``index`` is below ``end`` (the stream is not the one this
        record describes).
        """
        if index < self.end:
            raise ValueError(
                f"the event stream gave index {index}, below the {self.end} events the "
                "session's record has seen: the stream was truncated or replaced"
            )
        gaps = self.gaps
        if index > self.end:
            if gaps and gaps[-1][1] == self.end:  # touching the previous gap: extend it
                gaps = (*gaps[:-1], (gaps[-1][0], index))
            else:
                gaps = (*gaps, (self.end, index))
        return replace(
            self,
            state={**self.state, **state_delta},
            last_update_time=timestamp,
            end=index + 1,
            gaps=gaps,
            last_event_id=event_id,
        )

    def _committed_ranges(self, stop: int) -> list[tuple[int, int]]:
        ranges: list[tuple[int, int]] = []
        at = 0
        for start, end in self.gaps:
            if start >= stop:
                break
            if start > at:
                ranges.append((at, start))
            at = max(at, end)
        if at < stop:
            ranges.append((at, stop))
        return ranges


def _is_range(gap: object, end: int) -> bool:
    return (
        isinstance(gap, list)
        and len(gap) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in gap)
        and 0 <= gap[0] < gap[1] <= end
    )
