"""Credentials out of everything the library prints: URLs, messages, reprs.

A URL can carry secrets in two places: its userinfo (``s3://KEY:SECRET@bucket``,
``http://user:password@host``) and its query (an Azure SAS ``...&sig=...``, a
``token=``). :func:`redact_url` replaces both with ``***`` and keeps the rest, harmless
query parameters included (``sv=``, ``se=``, ``versionId=``), so a message still says
where. :func:`redact_text` does the same for every URL inside a longer text, such as a
backend's error message. Plain paths are returned unchanged.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

__all__ = ["MASK", "is_secret_name", "redact_text", "redact_url", "split_userinfo"]

MASK = "***"
"""What a secret is shown as."""

# Query parameter and storage option names whose values are credentials. Matched as
# substrings, case-insensitively: "X-Amz-Signature", "access_token", "sas_token", ...
_SECRET_WORDS = (
    "sig",
    "secret",
    "key",
    "token",
    "password",
    "passwd",
    "pwd",
    "credential",
    "sas",
    "connection",
    "auth",
)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)(.*)", re.DOTALL)
# A URL inside a longer text: a scheme, then everything up to a blank or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")


def is_secret_name(name: str) -> bool:
    """Whether a query parameter or storage option called ``name`` holds a credential."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def split_userinfo(rest: str) -> tuple[str | None, str]:
    """Split what follows ``scheme://`` into its userinfo (or ``None``) and the rest.

    The userinfo ends at the first ``@`` of a head without ``/``
    (``KEY:SECRET@bucket/app``), or, since AWS secrets may hold a raw ``/``, of a head
    whose ``:`` comes before any ``/`` (``KEY:ab/cd@bucket``). An ``@`` further down
    a path (``bucket/user@example.com``) is part of the path.
    """
    head, at, tail = rest.partition("@")
    if at and ("/" not in head or ("/" not in head.partition(":")[0] and ":" in head)):
        return head, tail
    return None, rest


def redact_url(url: str) -> str:
    """``url`` with its userinfo and credential query values replaced by ``***``.

    ``s3://KEY:SECRET@bucket/app`` becomes ``s3://***@bucket/app``;
    ``az://c/app?sv=2024&sig=abc`` becomes ``az://c/app?sv=2024&sig=***``. A string
    without ``scheme://`` (a local path) is returned as it is.
    """
    match = _SCHEME.fullmatch(url)
    if match is None:
        return url
    scheme, rest = match.groups()
    userinfo, rest = split_userinfo(rest)
    if userinfo is not None:
        rest = f"{MASK}@{rest}"
    path, question, query = rest.partition("?")
    if question:
        query, hash_mark, fragment = query.partition("#")
        query = _redact_query(query) + hash_mark + fragment
    return scheme + path + question + query


def _redact_query(query: str) -> str:
    parts = []
    for part in query.split("&"):
        name, equals, _ = part.partition("=")
        if not equals:  # a bare value: it may well be a token
            parts.append(MASK if part else part)
        elif is_secret_name(unquote_plus(name)):
            parts.append(f"{name}={MASK}")
        else:
            parts.append(part)  # kept as written, encoding included
    return "&".join(parts)


def redact_text(text: str) -> str:
    """``text`` with every URL in it passed through :func:`redact_url`."""
    if "://" not in text:  # the common case: nothing to look at
        return text
    return _URL_IN_TEXT.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    # Punctuation that closes a sentence or a "(url)" stays outside the URL.
    found = match.group(0)
    url = found.rstrip(").,;:]")
    return redact_url(url) + found[len(url) :]
