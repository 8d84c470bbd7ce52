"""The self-describing envelope around a stored body, and the codec that writes it.

An object is an envelope when it starts with :data:`MAGIC`; any other object is
plain and is returned as it is. The magic's first byte, ``0x89``, can begin no JSON
text (nor any UTF-8 text), so a JSON state written without codecs is never taken for
an envelope. Layout, version 1::

    MAGIC (4) | version (1) | flags (1)
    flags & ENCRYPTED:  key id length (1) | key id (UTF-8) | bound segments (2, big
                        endian) | nonce (12) | AES-256-GCM ciphertext + tag (16)
    otherwise:          the body (zstd frame if flags & COMPRESSED, else as given)

Compression applies before encryption. The associated data of the encryption is the
header (everything before the ciphertext) followed by the last ``bound segments``
segments of the object's path: its key relative to the root the writer opened. Moved
onto another session or file, an object fails to decrypt; a storage opened at a
prefix above or below that root, or the whole tree copied elsewhere, still reads it.
Changing any header byte (the key id, the flags, the count) fails as well.

With codecs configured every object written is either an envelope or a body that
does not start with :data:`MAGIC` (one that does gets an envelope with no codec), so
reads are never ambiguous. Bytes stored by a storage *without* codecs are never
wrapped: such a body that happens to start with :data:`MAGIC` would be read as an
envelope by a storage with codecs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .compression import Compression, decompressor
from .encryption import NONCE_BYTES, TAG_BYTES, Keyring, fresh_nonce

__all__ = [
    "COMPRESSED",
    "ENCRYPTED",
    "MAGIC",
    "Codec",
    "Header",
    "UnknownKeyIdError",
    "UnreadableObjectError",
    "parse_header",
    "without_codecs",
]

MAGIC = b"\x89SSe"
"""The first bytes of every envelope: 0x89 then "SSe" (session-storage envelope)."""
VERSION = 1
COMPRESSED = 0x01
ENCRYPTED = 0x02
_KNOWN_FLAGS = COMPRESSED | ENCRYPTED
_FIXED = len(MAGIC) + 2
_FLAGS_AT = len(MAGIC) + 1
_BOUNDS_KEPT = 4096
"""How many paths a codec remembers the bound key of."""


class UnreadableObjectError(ValueError):
    """A stored envelope that cannot be read back: cut short, tampered with, moved
    from another session or file, or written under another key of the same id."""


class UnknownKeyIdError(LookupError):
    """An envelope encrypted under a key id that the storage was not given."""

    def __init__(self, message: str, key_id: str) -> None:
        super().__init__(message)
        self.key_id = key_id


class Header(NamedTuple):
    """What an envelope's header says; ``size`` is the header's length in bytes.

    A named tuple: built on every read, where a frozen dataclass costs five times more.
    """

    flags: int
    key_id: str | None
    bound: int
    nonce: bytes
    size: int

    @property
    def compressed(self) -> bool:
        return bool(self.flags & COMPRESSED)

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & ENCRYPTED)


def parse_header(data: bytes) -> Header | None:
    """The header of an envelope, or ``None`` for a plain object (no :data:`MAGIC`).

    Raises UnreadableObjectError for a header that is cut short or from an unknown
    format version.
    """
    if not data.startswith(MAGIC):
        return None
    if len(data) < _FIXED:
        raise UnreadableObjectError("the stored envelope is cut short in its header")
    version, flags = data[len(MAGIC)], data[_FLAGS_AT]
    if version != VERSION or flags & ~_KNOWN_FLAGS:
        raise UnreadableObjectError(
            f"the stored envelope has format version {version}, flags {flags:#04x}: "
            "written by a newer release of session-storage?"
        )
    if not flags & ENCRYPTED:
        return Header(flags, None, 0, b"", _FIXED)
    try:
        id_size = data[_FIXED]
        at = _FIXED + 1
        key_id = data[at : at + id_size].decode("utf-8", "surrogatepass")
        at += id_size
        bound = int.from_bytes(data[at : at + 2], "big")
        nonce = data[at + 2 : at + 2 + NONCE_BYTES]
    except (IndexError, UnicodeDecodeError):
        raise UnreadableObjectError("the stored envelope's header is damaged") from None
    size = at + 2 + NONCE_BYTES
    if len(nonce) != NONCE_BYTES or not key_id or bound == 0:
        raise UnreadableObjectError("the stored envelope's header is damaged")
    return Header(flags, key_id, bound, nonce, size)


def without_codecs(data: bytes) -> tuple[str, str | None] | None:
    """Why a storage without codecs cannot use ``data`` as it is, if it is an
    envelope: the reason, and the key id it is encrypted under (``None`` if it is
    not encrypted). ``None`` for a body that is no envelope.

    Only for a body that already failed to parse: a plain read never pays for it.
    """
    try:
        header = parse_header(data)
    except UnreadableObjectError as exc:
        return f"it starts as a session-storage envelope, but {exc}", None
    if header is None:
        return None
    if header.encrypted:
        compressed = " (and compressed)" if header.compressed else ""
        return (
            f"the file is encrypted{compressed} under key id {header.key_id!r}, and this "
            "storage has no encryption_keys: open it with that key to read the file",
            header.key_id,
        )
    return (
        "the file is compressed (zstd), and this storage has no codecs: open it with "
        "compression (or encryption_keys) configured to read the file",
        None,
    )


_VIEW_FROM = 64 * 1024
"""Ciphertexts from this size on are decrypted from a view of the stored bytes; a
smaller one is copied out, which the cipher reads faster than a view (by about a
third of a small state's decryption)."""


def _ciphertext(data: bytes, start: int) -> bytes | memoryview:
    """The ciphertext and tag of an envelope whose header ends at ``start``."""
    if len(data) - start >= _VIEW_FROM:
        return memoryview(data)[start:]
    return data[start:]


def _bound_key(path: str, bound: int) -> bytes:
    """The last ``bound`` segments of ``path``: the key the writer bound."""
    parts = path.split("/")
    if bound > len(parts):
        raise UnreadableObjectError("the stored envelope belongs to a deeper path")
    return "/".join(parts[-bound:]).encode("utf-8", "surrogatepass")


class Codec:
    """Encodes bodies for writing and decodes what is read, under one storage root.

    ``keys`` (optional) encrypt; ``compression`` (optional) compresses first.
    """

    def __init__(self, root: str, keys: Keyring | None, compression: Compression | None) -> None:
        self.root = root.rstrip("/")
        self._root_prefix = self.root + "/"
        self.keys = keys
        self.compression = compression
        self._compress: Callable[[bytes], bytes] | None = (
            None if compression is None else compression.compressor()
        )
        self._decompress: Callable[[bytes], bytes] | None = None
        self._min_size = 0 if compression is None else compression.min_size
        self._invalid_tag: type[Exception] = Exception
        self._cipher: Any = None
        self._prefixes: tuple[bytes, bytes] = (b"", b"")
        self._primary: str | None = None
        # Path -> (segment count, bound key) of the paths read and written lately: the
        # same few files are read and written again and again.
        self._bounds: dict[str, tuple[bytes, bytes]] = {}
        if keys is not None:
            self._cipher = keys.cipher(keys.primary)  # raises now if cryptography is missing
            from cryptography.exceptions import InvalidTag

            self._invalid_tag = InvalidTag
            self._primary = keys.primary
            key_id = keys.primary.encode("utf-8", "surrogatepass")
            self._prefixes = (
                MAGIC + bytes((VERSION, ENCRYPTED, len(key_id))) + key_id,
                MAGIC + bytes((VERSION, ENCRYPTED | COMPRESSED, len(key_id))) + key_id,
            )
        # Where this codec's own headers hold the segment count and the nonce, where
        # they end, and the least an envelope of it holds.
        self._own_count = len(self._prefixes[0])
        self._own_nonce = self._own_count + 2
        self._own_size = self._own_nonce + NONCE_BYTES
        self._own_least = self._own_size + TAG_BYTES

    def __repr__(self) -> str:
        return f"Codec(keys={self.keys!r}, compression={self.compression!r})"

    # -- writing -------------------------------------------------------------------

    def encode(self, path: str, data: bytes) -> bytes:
        """``data`` as it is to be stored at ``path`` (a path below the root)."""
        compressed = False
        body = data
        if self._compress is not None and len(data) >= self._min_size:
            packed = self._compress(data)
            if len(packed) < len(data):  # incompressible data stays as it is
                body, compressed = packed, True
        if self.keys is None:
            if compressed:
                return MAGIC + bytes((VERSION, COMPRESSED)) + body
            if data.startswith(MAGIC):
                return MAGIC + bytes((VERSION, 0)) + body
            return data  # plain, unambiguous: it does not start with MAGIC
        # AES-GCM of a small state takes about a µs; the Python around it cost ten, so
        # this path makes as few calls and copies as it can.
        count, key = self._bounds.get(path) or self._bound(path)
        nonce = fresh_nonce()
        # Built once per codec: magic, version, flags, key id; then what varies.
        header = self._prefixes[compressed] + count + nonce
        sealed: bytes = self._cipher.encrypt(nonce, body, header + key)
        return header + sealed

    def _bound(self, path: str) -> tuple[bytes, bytes]:
        """What a write to ``path`` binds: its number of segments below the root (two
        bytes of the header) and its key relative to the root, UTF-8. Remembered."""
        prefix = self._root_prefix
        if not path.startswith(prefix):
            # Every path the facade builds is below the root it opened.
            raise ValueError(f"{path!r} is not below the storage root {self.root!r}")
        relative = path[len(prefix) :]
        bound = (
            (relative.count("/") + 1).to_bytes(2, "big"),
            relative.encode("utf-8", "surrogatepass"),
        )
        if len(self._bounds) >= _BOUNDS_KEPT:
            self._bounds.clear()  # a memo, not a record: forgetting costs one split
        self._bounds[path] = bound
        return bound

    # -- reading -------------------------------------------------------------------

    def decode(self, path: str, data: bytes) -> bytes:
        """The body stored at ``path``: plain objects as they are, envelopes opened.

        Raises UnreadableObjectError for a damaged, tampered or moved envelope and
        UnknownKeyIdError for one encrypted under a key id this codec lacks.
        """
        own, own_packed = self._prefixes
        if own and (data.startswith(own) or data.startswith(own_packed)):
            # What this codec writes (most reads): read without the general parser.
            nonce_at, size = self._own_nonce, self._own_size  # the prefixes are as long
            bound = self._bounds.get(path)
            if bound is None and path.startswith(self._root_prefix):
                bound = self._bound(path)
            if (
                bound
                and len(data) >= self._own_least
                and data[self._own_count : nonce_at] == bound[0]
            ):
                try:
                    body: bytes = self._cipher.decrypt(
                        data[nonce_at:size], _ciphertext(data, size), data[:size] + bound[1]
                    )
                except self._invalid_tag:
                    raise self._undecryptable(self._primary) from None
                return self._decompressed(body) if data[_FLAGS_AT] & COMPRESSED else body
            # Bound at another depth, or cut short: the general parser decides.
        elif not data.startswith(MAGIC):
            return data
        header = parse_header(data)
        assert header is not None  # it starts with MAGIC
        flags = header.flags
        body = self._decrypt(path, data, header) if flags & ENCRYPTED else data[header.size :]
        return self._decompressed(body) if flags & COMPRESSED else body

    def _decompressed(self, body: bytes) -> bytes:
        if self._decompress is None:
            self._decompress = decompressor()
        try:
            return self._decompress(body)
        except Exception as exc:  # noqa: BLE001 - zstd raises its own error types
            raise UnreadableObjectError(f"the stored zstd frame is damaged: {exc}") from exc

    def _decrypt(self, path: str, data: bytes, header: Header) -> bytes:
        key_id = header.key_id
        assert key_id is not None  # parse_header sets it for every encrypted envelope
        size = header.size
        if key_id == self._primary:
            cipher = self._cipher
        elif self.keys is None or key_id not in self.keys:
            have = (
                "none are configured"
                if self.keys is None
                else f"given: {', '.join(map(repr, self.keys))}"
            )
            raise UnknownKeyIdError(
                f"the file is encrypted under key id {key_id!r}, which is not among the "
                f"storage's encryption_keys ({have})",
                key_id,
            )
        else:
            cipher = self.keys.cipher(key_id)
        aad = data[:size] + _bound_key(path, header.bound)
        try:
            plain: bytes = cipher.decrypt(header.nonce, _ciphertext(data, size), aad)
        except self._invalid_tag:
            raise self._undecryptable(key_id) from None
        return plain

    @staticmethod
    def _undecryptable(key_id: str | None) -> UnreadableObjectError:
        return UnreadableObjectError(
            f"the file does not decrypt under key id {key_id!r}: it was changed, moved "
            "here from another session or file, or written with another key of that id"
        )

    def needs_rewrite(self, data: bytes) -> bool:
        """Whether an object stored as ``data`` is not under this codec's encrypting key
        (plain, compressed only, or encrypted under an older key)."""
        header = parse_header(data)
        if self.keys is None:
            return False
        return header is None or header.key_id != self.keys.primary
