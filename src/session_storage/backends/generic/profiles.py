"""What the generic driver knows of each protocol: how it writes, and what that guarantees.

An fsspec filesystem says nothing about atomicity or conditions, so these are facts
about the protocols, checked against real servers in the tests:

- **sftp** (sshfs): a write goes to a hidden temp file in the same folder, then
  ``posix-rename@openssh.com`` replaces the target in one step. ``if_absent`` links
  the temp file to the target (``hardlink@openssh.com``; ``link(2)`` refuses an
  existing target atomically), or, on a server without that extension, renames it
  with the plain SFTP rename, which never replaces an existing file (SFTPv3). No
  compare-and-swap: SFTP has no conditional replace.
- **ftp**: ``STOR`` overwrites in place (a reader can see half a file), so a write
  goes to a temp file and ``RNFR``/``RNTO`` moves it over the target: one step on
  servers that rename with ``rename(2)`` (pyftpdlib, vsftpd, ProFTPD). Whether
  ``RNTO`` refuses an existing target varies between servers, so nothing is enforced:
  no conditions. One control connection serves one command at a time, so calls take
  turns.
- **file** (a ``dir::`` chain or a filesystem object over local disk): temp file and
  ``rename(2)``; no conditions (the tuned local driver has them: use a plain path).
- **memory**: a memory file is committed whole; no conditions (the tuned memory
  driver has them: use ``memory://``).
- anything else (webdav, hdfs, oci, http, ...): the filesystem's own ``pipe_file``,
  assumed neither atomic nor conditional.

A chain (``dir::``, ``simplecache::``) is judged by its innermost filesystem, the one
that stores the bytes; a caching layer anywhere in it serves reads from its cache
(``fresh_reads`` is False).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..capabilities import Capabilities, conditions_instead

__all__ = ["Profile", "innermost", "profile_for", "protocol_name"]

WriteKind = Literal["direct", "rename"]
CreateKind = Literal["sftp_link"] | None


@dataclass(frozen=True, slots=True)
class Profile:
    """How the generic driver writes on one protocol, and what that guarantees."""

    write: WriteKind
    """``"rename"``: a hidden temp file, then the filesystem's ``mv`` over the target;
    ``"direct"``: the filesystem's ``pipe_file``."""
    create: CreateKind
    """The exclusive create used for ``if_absent``; None: the protocol has none."""
    thread_safe: bool
    """Whether calls may run in several threads at once (FTP: one connection)."""
    atomic_replace: bool
    notes: str
    max_segment_bytes: int | None = 255
    """Longest file or folder name: 255 bytes on the file systems behind SFTP, FTP
    and local disk; None where the protocol has no such limit (memory)."""


_SFTP = Profile(
    "rename",
    "sftp_link",
    thread_safe=True,
    atomic_replace=True,
    notes="temp file + posix-rename; if_absent: hardlink (or SFTPv3 rename), never replacing",
)
_FTP = Profile(
    "rename",
    None,
    thread_safe=False,
    atomic_replace=True,
    notes="temp file + RNFR/RNTO over the target; STOR alone would overwrite in place",
)
_FILE = Profile(
    "rename", None, thread_safe=True, atomic_replace=True, notes="temp file + rename(2)"
)
_MEMORY = Profile(
    "direct",
    None,
    thread_safe=True,
    atomic_replace=True,
    notes="a memory file committed whole",
    max_segment_bytes=None,
)
_OTHER = Profile(
    "direct",
    None,
    thread_safe=True,
    atomic_replace=False,
    notes="the filesystem's own pipe_file: neither atomic nor conditional as far as known",
    max_segment_bytes=None,
)
_BY_PROTOCOL = {
    "sftp": _SFTP,
    "ssh": _SFTP,
    "ftp": _FTP,
    "file": _FILE,
    "local": _FILE,
    "memory": _MEMORY,
}


_CACHING = frozenset({"simplecache", "filecache", "blockcache", "cached"})
"""fsspec's caching layers: a file once read is served from the local cache."""


def protocols(fs: Any) -> tuple[str, ...]:
    """The protocol names of ``fs`` (fsspec gives a str or a tuple). A class that leaves
    fsspec's placeholder ``"abstract"`` (sshfs does) is looked up in fsspec's table of
    known implementations instead."""
    names = fs.protocol
    found = (names,) if isinstance(names, str) else tuple(names)
    if found != ("abstract",):
        return found
    from fsspec.registry import known_implementations

    cls = type(fs)
    qualified = {f"{c.__module__}.{c.__name__}" for c in cls.__mro__}
    qualified |= {f"{c.__module__.split('.')[0]}.{c.__name__}" for c in cls.__mro__}
    known = tuple(p for p, spec in known_implementations.items() if spec["class"] in qualified)
    return known or found


def innermost(fs: Any) -> Any:
    """The filesystem that stores the bytes: ``fs`` itself, or the end of its chain
    (a DirFileSystem's ``fs``, a caching filesystem's ``fs``)."""
    seen = 0
    while seen < 8 and getattr(fs, "fs", None) is not None and fs.fs is not fs:
        fs, seen = fs.fs, seen + 1
    return fs


def protocol_name(fs: Any) -> str:
    """How errors and metadata name the backend: the chain's protocols joined by
    ``::`` (``dir::file``), or the one protocol (``sftp``)."""
    names = []
    current, seen = fs, 0
    while True:
        names.append(protocols(current)[0])
        inner = getattr(current, "fs", None)
        if inner is None or inner is current or seen >= 8:
            break
        current, seen = inner, seen + 1
    return "::".join(names)


def profile_for(fs: Any) -> tuple[Profile, Capabilities]:
    """How to write on ``fs``, and the capabilities that gives."""
    inner = innermost(fs)
    profile = next((_BY_PROTOCOL[p] for p in protocols(inner) if p in _BY_PROTOCOL), _OTHER)
    name = protocol_name(fs)
    create_only = profile.create is not None
    cached = any(layer in _CACHING for layer in name.split("::"))
    capabilities = Capabilities(
        create_only=create_only,
        compare_and_swap=False,
        versions="digest",
        atomic_replace=profile.atomic_replace,
        listing="whole_folder",
        batch_delete=False,
        fresh_reads=not cached,
        notes=profile.notes,
        instead=conditions_instead(name),
    )
    return profile, capabilities
