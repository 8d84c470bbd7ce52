"""Reversible encoding of session ids, filenames and narrow keys into path segments.

Every segment keeps ``A-Z a-z 0-9 _ - .`` and percent-encodes every other byte of its
UTF-8 form, plus a leading ``.``. The result never contains ``/`` or ``\\``, is never
``.`` or ``..``, never starts with ``.`` (so our own temp files, which do, can never
collide with a key), and decodes back to exactly what the caller gave. Plain ids such as
``user-42`` stay readable in the bucket. Lossy sanitizing (``a/b`` -> ``a_b``) would
merge two sessions, so it is never done.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from .errors import InvalidKeyError

__all__ = [
    "decode_filename",
    "decode_segment",
    "encode_filename",
    "encode_segment",
    "join",
    "session_sort_key",
]

_SAFE = "_-."  # plus ASCII letters and digits, which quote() always keeps
_PLAIN = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_\-.]*")
_ENCODED = re.compile(r"(?:[A-Za-z0-9_\-]|%[0-9A-F]{2})(?:[A-Za-z0-9_\-.]|%[0-9A-F]{2})*")


def _check(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidKeyError(f"{what} must be a str, got {type(value).__name__}: {value!r}")
    if not value:
        raise InvalidKeyError(f"{what} must not be empty")
    return value


def encode_segment(value: str, what: str = "key") -> str:
    """Encode one non-empty ``str`` into a single safe path segment."""
    _check(value, what)
    if _PLAIN.fullmatch(value):  # the common case costs one regex match
        return value
    # quote() always keeps "~"; our alphabet does not, so it is encoded by hand.
    encoded = quote(value, safe=_SAFE, encoding="utf-8", errors="surrogatepass")
    encoded = encoded.replace("~", "%7E")
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    return encoded


def decode_segment(segment: str) -> str | None:
    """Decode a segment written by :func:`encode_segment`.

    Returns ``None`` for a name we did not write (a temp file, a stray object whose
    name is not in canonical form), so listings can skip it instead of failing.
    """
    if _PLAIN.fullmatch(segment):
        return segment
    if not _ENCODED.fullmatch(segment):
        return None
    try:
        decoded = unquote(segment, encoding="utf-8", errors="surrogatepass")
    except UnicodeDecodeError:
        return None
    # Only the canonical form counts: "a%2Db" would decode to "a-b", whose key is "a-b".
    return decoded if encode_segment(decoded) == segment else None


def encode_filename(filename: str, what: str = "filename") -> str:
    """Encode a filename (or a stream name); ``/`` nests, each segment encoded on its own."""
    if isinstance(filename, str) and _PLAIN.fullmatch(filename):  # "state.json"
        return filename
    _check(filename, what)
    parts = filename.split("/")
    if any(not part for part in parts):
        raise InvalidKeyError(f"{what} {filename!r} has an empty path segment")
    if len(parts) == 1:
        return encode_segment(filename, what)
    return "/".join(encode_segment(part, what) for part in parts)


def decode_filename(relative: str) -> str | None:
    """Decode a ``/``-separated relative path back to the filename; ``None`` if foreign."""
    out = []
    for part in relative.split("/"):
        decoded = decode_segment(part)
        if decoded is None:
            return None
        out.append(decoded)
    return "/".join(out)


def join(*parts: str) -> str:
    """Join already-encoded path parts with ``/``, skipping empty ones."""
    return "/".join(part for part in parts if part)


def session_sort_key(session_id: str) -> str:
    """The key that orders session ids the way every listing returns them.

    Listings come back in key order: the order of the encoded id followed by ``/``,
    which is how object stores sort folders, so a page can start where the previous
    one ended. For ids made of ASCII letters, digits and ``_`` this is plain string
    order. ``-`` and ``.`` sort before the end of an id (``"a-b"`` and ``"a.b"``
    before ``"a"``), and percent-encoded characters (anything else, and a leading
    ``.``) before ``-``.
    """
    return encode_segment(session_id, "session id") + "/"
