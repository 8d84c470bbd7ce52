"""Messages of a bounded length: a caller's 5,000-character id is cut, not echoed whole.

Library errors echo what they are about (ids, filenames, URLs, a backend's own text);
each echo is cut to :data:`ECHO_LIMIT` characters and a whole message to
:data:`MESSAGE_LIMIT`, keeping its start and its end around a marker that says how
much was cut.
"""

from __future__ import annotations

__all__ = ["ECHO_LIMIT", "MESSAGE_LIMIT", "echo", "shorten"]

MESSAGE_LIMIT = 1000
"""Longest message of a library error, in characters; longer ones are cut in the middle."""
ECHO_LIMIT = 200
"""Longest echo of a caller's value (an id, a filename, a URL) inside a message."""


def shorten(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and end with a
    marker between them that says how many characters were cut."""
    if len(text) <= limit:
        return text
    # The marker takes room too, and says how much it stands for: shrink what is kept
    # until the marker for the rest fits beside it (two or three rounds).
    keep = limit
    while True:
        marker = f"...[{len(text) - keep} characters cut]..."
        fitting = max(limit - len(marker), 0)
        if fitting == keep:
            break
        keep = fitting
    head = (keep + 1) // 2
    return text[:head] + marker + text[len(text) - (keep - head) :]


def echo(value: object) -> str:
    """``repr(value)``, shortened to :data:`ECHO_LIMIT` characters for a message."""
    return shorten(repr(value), ECHO_LIMIT)
