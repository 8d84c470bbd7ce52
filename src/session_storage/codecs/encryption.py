"""The encryption keys: parsing, the key ring, and AES-256-GCM with associated data.

``encryption_keys={"2026-11": key, "2026-05": older_key}``: each key is 32 bytes, or
a str holding them in base64 (standard or URL-safe alphabet, padding optional). The
first key encrypts every write; every key decrypts. Key ids are stored in the clear
in each object's header, so they should say when a key was made, not what it guards.

Key bytes appear in no repr, message or log: a :class:`Keyring` shows its ids only.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from ..core.errors import ConfigurationError, import_optional

__all__ = ["KEY_BYTES", "NONCE_BYTES", "TAG_BYTES", "Keyring", "fresh_nonce", "keys_from_env"]

KEY_BYTES = 32
"""AES-256: a key is 32 bytes."""
NONCE_BYTES = 12
"""GCM's 96-bit nonce, fresh random bytes from ``os.urandom`` for every write."""
TAG_BYTES = 16
"""GCM's authentication tag, appended to the ciphertext."""
MAX_KEY_ID_BYTES = 255
"""A key id is stored with a one-byte length in each object's header."""


class Keyring(Mapping[str, bytes]):
    """Key ids to 32-byte keys, in order: the first encrypts, all decrypt.

    A read-only mapping whose repr names the ids only. Raises ConfigurationError (naming
    the key id, never the key) for an empty ring, an id that is not a non-empty str of
    at most 255 UTF-8 bytes, or a key that is not 32 bytes (or their base64).
    """

    __slots__ = ("_ciphers", "_keys")

    def __init__(self, keys: Mapping[str, bytes | str]) -> None:
        if isinstance(keys, Keyring):
            self._keys: dict[str, bytes] = dict(keys._keys)
        elif isinstance(keys, Mapping):
            self._keys = {
                _check_id(key_id): _key_bytes(key_id, key) for key_id, key in keys.items()
            }
        else:
            raise ConfigurationError(
                f"encryption_keys must be a mapping of key id to key, got {type(keys).__name__}"
            )
        if not self._keys:
            raise ConfigurationError("encryption_keys is empty: give at least one key")
        self._ciphers: dict[str, Any] = {}

    @property
    def primary(self) -> str:
        """The id of the key that encrypts new writes: the first one."""
        return next(iter(self._keys))

    def __getitem__(self, key_id: str) -> bytes:
        return self._keys[key_id]

    def __contains__(self, key_id: object) -> bool:
        # Mapping's own goes through __getitem__ and a KeyError: read on every decrypt.
        return key_id in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keyring({list(self._keys)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Keyring) and list(self._keys.items()) == list(other._keys.items())

    __hash__ = None  # type: ignore[assignment]

    def cipher(self, key_id: str) -> Any:
        """The AES-GCM cipher of ``key_id`` (built once); KeyError if there is none."""
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            key = self._keys[key_id]
            cipher = self._ciphers[key_id] = _aesgcm()(key)
        return cipher

    @staticmethod
    def nonce() -> bytes:
        """A fresh random nonce: 12 bytes from ``os.urandom`` never handed out before."""
        return fresh_nonce()


class _NonceSource:
    """Random nonces drawn from ``os.urandom`` in batches, each handed out once.

    One ``os.urandom`` call per write was a system call per write, dearer here than
    the AES-GCM of a small state. Reading 256 nonces at a time keeps every nonce an
    independent draw of the kernel's random source, as before; what must never happen
    is that one is used twice. ``list.pop`` hands each to one caller: it is atomic,
    with the GIL and in free-threaded builds alike. Two threads that find the batch
    empty at once each draw a new one and one batch is dropped: wasted, never reused.
    A forked child drops the batch it inherited, which its parent goes on using.
    """

    __slots__ = ("_batch",)

    BATCH = 256

    def __init__(self) -> None:
        self._batch: list[bytes] = []

    def take(self) -> bytes:
        try:
            return self._batch.pop()
        except IndexError:
            pool = os.urandom(NONCE_BYTES * self.BATCH)
            batch = [pool[at : at + NONCE_BYTES] for at in range(0, len(pool), NONCE_BYTES)]
            nonce = batch.pop()
            self._batch = batch
            return nonce

    def forget(self) -> None:
        """Drop the batch: called in a forked child."""
        self._batch = []


# The one process-wide source, like os.urandom itself: a fork hook cannot be removed
# once registered, so it is registered once, here, and not per storage.
_NONCES = _NonceSource()
if hasattr(os, "register_at_fork"):  # no fork, hence nothing to drop, on Windows
    os.register_at_fork(after_in_child=_NONCES.forget)

fresh_nonce = _NONCES.take
"""A fresh random nonce: 12 bytes from ``os.urandom`` never handed out before."""


def _aesgcm() -> Any:
    return import_optional(
        "cryptography.hazmat.primitives.ciphers.aead",
        "encryption needs the 'cryptography' package: pip install 'session-storage[encryption]'",
    ).AESGCM


def _check_id(key_id: object) -> str:
    if not isinstance(key_id, str) or not key_id:
        raise ConfigurationError(f"an encryption key id must be a non-empty str, got {key_id!r}")
    if len(key_id.encode("utf-8", "surrogatepass")) > MAX_KEY_ID_BYTES:
        raise ConfigurationError(
            f"encryption key id {key_id[:40]!r}... is longer than {MAX_KEY_ID_BYTES} bytes"
        )
    return key_id


def _key_bytes(key_id: str, key: object) -> bytes:
    """32 bytes from ``key``: bytes as they are, a str as base64. The messages never
    show the key, only its id and what is wrong with it."""
    if isinstance(key, (bytes, bytearray, memoryview)):
        raw = bytes(key)
    elif isinstance(key, str):
        text = key.strip()
        text += "=" * (-len(text) % 4)
        try:
            raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigurationError(
                f"encryption key {key_id!r} is not valid base64 (give 32 bytes, or their "
                "base64 as a str)"
            ) from None
    else:
        raise ConfigurationError(
            f"encryption key {key_id!r} must be bytes or a base64 str, got {type(key).__name__}"
        )
    if len(raw) != KEY_BYTES:
        raise ConfigurationError(
            f"encryption key {key_id!r} is {len(raw)} bytes; AES-256 needs {KEY_BYTES}"
        )
    return raw


def keys_from_env(env: Mapping[str, str]) -> Keyring | None:
    """``SESSION_STORAGE_ENCRYPTION_KEYS``: a JSON object of key id to base64 key, the
    encrypting key first; empty or unset gives ``None``. The variable's value is never
    quoted in an error."""
    raw = env.get("SESSION_STORAGE_ENCRYPTION_KEYS", "").strip()
    if not raw:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # orjson's message quotes the text around the error: part of a key.
        raise ConfigurationError(
            "SESSION_STORAGE_ENCRYPTION_KEYS is not valid JSON: give an object of "
            'key id to base64 key, such as {"2026-11": "..."}'
        ) from None
    if not isinstance(value, dict):
        raise ConfigurationError(
            "SESSION_STORAGE_ENCRYPTION_KEYS must be a JSON object of key id to base64 key, "
            f"got a JSON {type(value).__name__}"
        )
    return Keyring(value)
