"""Where sessions live: a URL plus fsspec storage options, from code or the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import unquote

import orjson

from .backends import Driver, open_driver
from .backends.coded import with_codecs
from .backends.observed import observed
from .backends.registry import AZURE, DEFAULT_ENGINE, S3, by_name, check_engine
from .codecs.compression import Compression, compression_from_env
from .codecs.encryption import Keyring, keys_from_env
from .concurrency.deadlines import DEFAULT_TIMEOUT, check_timeout, timeout_from_env
from .core.errors import ConfigurationError
from .core.redaction import MASK, is_secret_name, redact_url, split_userinfo

__all__ = ["DEFAULT_URL", "StorageSettings", "backend_url"]

DEFAULT_ROOT = ".data"
DEFAULT_BUCKET = "sessions"
DEFAULT_URL = f"{DEFAULT_ROOT}/{DEFAULT_BUCKET}"
"""With nothing configured, sessions live in the local folder ``.data/sessions``."""

_S3_SCHEMES = tuple(f"{scheme}://" for scheme in S3.schemes)
_AZURE_SCHEMES = tuple(f"{scheme}://" for scheme in AZURE.schemes)
# Where the ``user:password@`` of a URL goes: S3 keys (refused beside s3fs's own
# aliases for them), and the logins of the generic driver's protocols, whose
# filesystems (sshfs, fsspec's FTP) take ``username`` and ``password`` keywords.
_USERINFO_OPTIONS: tuple[tuple[tuple[str, ...], tuple[str, str], tuple[str, ...]], ...] = (
    (_S3_SCHEMES, ("key", "secret"), ("username", "password")),
    (("sftp://", "ssh://", "ftp://"), ("username", "password"), ()),
)


def backend_url(backend: str, bucket: str = DEFAULT_BUCKET, root: str = DEFAULT_ROOT) -> str:
    """The URL for a backend name (``file``, ``memory``, ``s3``, ``gcs``, ``azure``).

    Any URL scheme of a backend names it too (``local``, ``gs``, ``az``). ``bucket``
    may hold a ``/``-separated prefix (``"my-bucket/app"``); ``root`` is the base
    folder of the ``file`` backend. Raises ConfigurationError for an unknown name.
    """
    template = by_name(backend).url_template
    if not bucket.strip("/"):
        raise ConfigurationError(f"backend {backend!r} needs a non-empty bucket")
    return template.format(root=root.rstrip("/") or "/", bucket=bucket.strip("/"))


def _redact(value: Any) -> Any:
    """Options as a repr may show them: credentials masked, URLs in values redacted."""
    if isinstance(value, Mapping):
        return {k: MASK if is_secret_name(str(k)) else _redact(v) for k, v in value.items()}
    if isinstance(value, str):
        return redact_url(value)  # an endpoint_url with user:password@
    return value


def _move_credentials(url: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Take credentials out of ``url`` and into the storage options they belong in.

    ``s3://KEY:SECRET@bucket/app`` gives ``s3://bucket/app`` with ``key`` and
    ``secret`` (percent-decoded); ``az://container/app?sv=...&sig=...`` gives
    ``az://container/app`` with ``sas_token``; ``sftp://me:pw@host/srv`` (``ftp://``
    too) gives ``sftp://host/srv`` with ``username`` and ``password``. Left in the URL
    they would become part of the bucket name or of every object's key, or be masked
    out of ``settings.url`` so that the settings could not open the storage again; out
    of it, ``url`` is safe to show.
    """
    lowered = url.lower()
    for schemes, (name, secret), aliases in _USERINFO_OPTIONS:
        scheme = next((s for s in schemes if lowered.startswith(s)), None)
        if scheme is None:
            continue
        userinfo, rest = split_userinfo(url[len(scheme) :])
        if userinfo is None:
            return url, options
        first, _, second = userinfo.partition(":")
        moved = {name: unquote(first), **({secret: unquote(second)} if second else {})}
        return scheme + rest, _merge(redact_url(url), options, moved, aliases)
    scheme = next((s for s in _AZURE_SCHEMES if lowered.startswith(s)), None)
    path, _, query = url.partition("?")
    if scheme is not None and "sig=" in query:
        return path, _merge(redact_url(url), options, {"sas_token": query}, ())
    return url, options


def _merge(
    shown: str, options: dict[str, Any], moved: dict[str, Any], aliases: tuple[str, ...]
) -> dict[str, Any]:
    clash = sorted(name for name in (*moved, *aliases) if name in options)
    if clash:
        raise ConfigurationError(
            f"{shown} carries credentials and storage_options give {', '.join(clash)} "
            "too: pass them in one place"
        )
    return {**options, **moved}


@dataclass(frozen=True)
class StorageSettings:
    """A storage location: an fsspec URL and the options for its filesystem.

    ``url`` is any URL the library supports (``file://``, a plain path, ``memory://``,
    ``s3://``, ``gs://``, ``az://``). ``storage_options`` go to the fsspec filesystem
    (``endpoint_url``, ``key``, ``secret``, ``connection_string``, ...).

    Credentials written into the URL move into ``storage_options`` on creation:
    ``s3://KEY:SECRET@bucket/app`` becomes ``url="s3://bucket/app"`` with ``key`` and
    ``secret``, and an Azure SAS (``az://container/app?sv=...&sig=...``) becomes
    ``sas_token``, and ``sftp://me:pw@host/srv`` (or ``ftp://``) becomes
    ``sftp://host/srv`` with ``username`` and ``password``; the same option given both
    ways raises ConfigurationError. So
    ``url`` can be shown anywhere, and the repr masks every credential option and the
    ``user:password@`` of any URL among the options (``endpoint_url``).
    ``timeout`` is the deadline of each operation in seconds, client retries
    included (``None``: none); see :mod:`session_storage.concurrency.deadlines`.
    ``engine`` is the client underneath: ``"fsspec"`` (the default, every backend) or
    ``"obstore"`` (S3, GCS and Azure through obstore's Rust client, the same options);
    ConfigurationError for any other name.

    ``encryption_keys`` (key id -> 32-byte key or its base64; the first encrypts) and
    ``compression`` (``"zstd"`` or ``{"method": "zstd", "level": 3, "min_size": 512}``)
    turn on the codecs of every stored body; see :mod:`session_storage.codecs.envelope`. They
    become a :class:`~session_storage.codecs.encryption.Keyring` and a
    :class:`~session_storage.codecs.compression.Compression` on creation, and the repr shows
    the key ids only.
    """

    url: str = DEFAULT_URL
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = DEFAULT_TIMEOUT
    engine: str = DEFAULT_ENGINE
    encryption_keys: Mapping[str, bytes | str] | None = None
    compression: Compression | str | Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url:
            raise ConfigurationError(f"storage url must be a non-empty str, got {self.url!r}")
        url, options = _move_credentials(self.url, dict(self.storage_options))
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "storage_options", options)
        object.__setattr__(self, "timeout", check_timeout(self.timeout))
        object.__setattr__(self, "engine", check_engine(self.engine))
        keys = None if self.encryption_keys is None else Keyring(self.encryption_keys)
        object.__setattr__(self, "encryption_keys", keys)
        object.__setattr__(self, "compression", Compression.parse(self.compression))

    def __repr__(self) -> str:
        codecs = ""
        if self.encryption_keys is not None:
            codecs += f", encryption_keys={self.encryption_keys!r}"  # a Keyring: ids only
        if self.compression is not None:
            codecs += f", compression={self.compression!r}"
        return (
            f"StorageSettings(url={redact_url(self.url)!r}, "
            f"storage_options={_redact(self.storage_options)!r}, timeout={self.timeout!r}, "
            f"engine={self.engine!r}{codecs})"
        )

    @property
    def keyring(self) -> Keyring | None:
        """The encryption keys as a Keyring, or ``None`` without encryption."""
        keys = self.encryption_keys
        return keys if isinstance(keys, Keyring) else None

    @property
    def compression_codec(self) -> Compression | None:
        """The compression setting as a Compression, or ``None`` without compression."""
        value = self.compression
        return value if isinstance(value, Compression) else None

    def arguments(self) -> dict[str, Any]:
        """These settings as the keyword arguments of :class:`SessionStorage`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def open_driver(self) -> Driver:
        """The driver these settings describe, rooted at :attr:`url`, with the clients'
        timeouts set and wrapped in the configured codecs. Does no I/O; raises as
        :func:`~session_storage.backends.open_driver` does."""
        driver, _ = open_driver(self.url, self.storage_options, self.engine)
        return self.wrap_driver(driver)

    def wrap_driver(self, driver: Driver) -> Driver:
        """``driver`` with these settings' timeout given to its client and wrapped in
        the configured codecs."""
        driver.timeout = self.timeout  # the clients' connect and read timeouts
        # Observed below the codecs: the bytes counted are the bytes sent and received.
        return with_codecs(observed(driver), self.keyring, self.compression_codec)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StorageSettings:
        """Read settings from the environment (``os.environ`` unless given).

        - ``SESSION_STORAGE_URL``: the URL; wins over the next three.
        - ``SESSION_STORAGE_BACKEND`` (``file``, ``memory``, ``s3``, ``gcs``, ``azure``)
          with ``SESSION_STORAGE_BUCKET`` (default ``sessions``) and
          ``SESSION_STORAGE_ROOT`` (the ``file`` backend's base folder, default ``.data``).
        - ``SESSION_STORAGE_OPTIONS``: a JSON object of fsspec storage options.
        - ``SESSION_STORAGE_TIMEOUT``: the deadline of one operation in seconds, or
          ``none``; default 30.
        - ``SESSION_STORAGE_ENGINE``: ``fsspec`` (default) or ``obstore``.
        - ``SESSION_STORAGE_ENCRYPTION_KEYS``: a JSON object of key id to base64 key,
          the encrypting key first.
        - ``SESSION_STORAGE_COMPRESSION``: ``zstd``, or a JSON object such as
          ``{"method": "zstd", "level": 9}``.

        With nothing set the URL is the local folder ``.data/sessions``. The cloud
        clients' own variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...) are read
        by those clients as usual. Raises ConfigurationError for unusable values.
        """
        env = os.environ if environ is None else environ
        url = env.get("SESSION_STORAGE_URL", "").strip()
        if not url:
            url = backend_url(
                env.get("SESSION_STORAGE_BACKEND", "").strip() or "file",
                env.get("SESSION_STORAGE_BUCKET", "").strip() or DEFAULT_BUCKET,
                env.get("SESSION_STORAGE_ROOT", "").strip() or DEFAULT_ROOT,
            )
        return cls(
            url=url,
            storage_options=options_from_env(env),
            timeout=timeout_from_env(env),
            engine=env.get("SESSION_STORAGE_ENGINE", "").strip() or DEFAULT_ENGINE,
            encryption_keys=keys_from_env(env),
            compression=compression_from_env(env),
        )


def options_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """Parse ``SESSION_STORAGE_OPTIONS``; empty or unset gives ``{}``."""
    raw = env.get("SESSION_STORAGE_OPTIONS", "").strip()
    if not raw:
        return {}
    try:
        options = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigurationError(f"SESSION_STORAGE_OPTIONS is not valid JSON: {exc}") from exc
    if not isinstance(options, dict):
        raise ConfigurationError(
            f"SESSION_STORAGE_OPTIONS must be a JSON object, got {type(options).__name__}"
        )
    return options
