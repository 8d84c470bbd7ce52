"""The one table of backends: name, URL schemes, URL template, pip extra and driver.

Settings read it to turn a backend name into a URL, :func:`open_driver` to find the
driver of a URL's scheme, drivers for their name and scheme, and
:class:`MissingDependencyError` messages for the extra to install. Driver modules are
named here as strings and imported only when their scheme is used, so a missing cloud
client costs nothing until someone asks for that cloud.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import ConfigurationError

__all__ = [
    "AZURE",
    "BACKENDS",
    "DEFAULT_ENGINE",
    "ENGINES",
    "FILE",
    "GCS",
    "GENERIC",
    "MEMORY",
    "S3",
    "Backend",
    "by_name",
    "by_scheme",
    "check_engine",
    "driver_ref",
]

DEFAULT_ENGINE = "fsspec"
ENGINES = ("fsspec", "obstore")
"""The clients a backend can run on: fsspec (every backend) and obstore (the clouds)."""


@dataclass(frozen=True, slots=True)
class Backend:
    """One backend, as people name it and as URLs spell it."""

    name: str
    """Name in settings, metadata and messages: file, memory, s3, gcs, azure."""
    scheme: str
    """The URL scheme the library writes (``storage.url``)."""
    aliases: tuple[str, ...]
    """Other URL schemes, and backend names, that mean this backend."""
    url_template: str
    """The URL for a bucket (``{bucket}``) and, on local disk, a base folder (``{root}``)."""
    driver: str
    """``module:Class`` of the driver, relative to this package."""
    extra: str | None = None
    """The pip extra that installs the client library; None: nothing to install."""
    obstore_driver: str | None = None
    """``module:Class`` of the obstore engine's driver; None: fsspec only."""

    @property
    def schemes(self) -> tuple[str, ...]:
        """Every URL scheme that means this backend, the one it writes first."""
        return (self.scheme, *self.aliases)


FILE = Backend("file", "file", ("local",), "{root}/{bucket}", "local.driver:LocalDriver")
MEMORY = Backend("memory", "memory", (), "memory://{bucket}", "memory:MemoryDriver")
_OBSTORE = "obstore.driver:Obstore{}Driver"
S3 = Backend("s3", "s3", ("s3a",), "s3://{bucket}", "s3:S3Driver", "s3", _OBSTORE.format("S3"))
GCS = Backend(
    "gcs", "gs", ("gcs",), "gs://{bucket}", "gcs:GCSDriver", "gcs", _OBSTORE.format("GCS")
)
AZURE = Backend(
    "azure",
    "az",
    ("abfs", "abfss"),
    "az://{bucket}",
    "azure:AzureDriver",
    "azure",
    _OBSTORE.format("Azure"),
)

BACKENDS: tuple[Backend, ...] = (FILE, MEMORY, S3, GCS, AZURE)

GENERIC = Backend("fsspec", "fsspec", (), "{bucket}", "generic:GenericDriver")
"""Every other fsspec protocol and every chained URL (``sftp://``, ``ftp://``,
``dir::file:///srv/x``): the generic driver, which names itself after the protocol."""

_BY_SCHEME = {scheme: backend for backend in BACKENDS for scheme in backend.schemes}
# Settings take a backend's name as well as any of its schemes (``gcs``, ``gs``).
_BY_NAME = {**_BY_SCHEME, **{backend.name: backend for backend in BACKENDS}}


def by_name(name: str) -> Backend:
    """The backend a settings name means (``s3``, ``gcs``, ``local``, ... any case).

    Raises ConfigurationError naming the known backends when nothing matches.
    """
    backend = _BY_NAME.get(name.strip().lower())
    if backend is None:
        known = ", ".join(b.name for b in BACKENDS)
        raise ConfigurationError(f"unknown backend {name!r}; expected one of {known}")
    return backend


def by_scheme(scheme: str | None, url: str) -> Backend:
    """The backend of a URL's scheme; no scheme (a plain path) is local disk. A chained
    URL (``dir::...``) or a scheme only fsspec knows is :data:`GENERIC`.

    Raises ConfigurationError naming the supported schemes when nothing matches.
    """
    if "::" in url:
        return GENERIC
    backend = _BY_SCHEME.get((scheme or FILE.scheme).lower())
    if backend is None and scheme and _fsspec_knows(scheme.lower()):
        return GENERIC
    if backend is None:
        known = ", ".join(f"{s}://" for s in sorted(_BY_SCHEME))
        raise ConfigurationError(
            f"unsupported URL scheme {scheme!r} in {url!r}; use {known}, any protocol "
            "fsspec knows (sftp://, ftp://, ...) or a chained URL (dir::file:///...)"
        )
    return backend


def _fsspec_knows(protocol: str) -> bool:
    from fsspec.registry import known_implementations, registry

    return protocol in known_implementations or protocol in registry


def check_engine(engine: object) -> str:
    """``engine`` as one of :data:`ENGINES` (any case); ``None`` is the default.

    Raises ConfigurationError naming the engines for anything else.
    """
    if engine is None:
        return DEFAULT_ENGINE
    name = engine.strip().lower() if isinstance(engine, str) else None
    if name not in ENGINES:
        raise ConfigurationError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    return name


def driver_ref(backend: Backend, engine: str) -> str:
    """``module:Class`` of ``backend``'s driver on ``engine``.

    Raises ConfigurationError when the engine cannot serve the backend.
    """
    if engine == DEFAULT_ENGINE:
        return backend.driver
    if backend.obstore_driver is None:
        served = ", ".join(f"{b.scheme}://" for b in BACKENDS if b.obstore_driver)
        raise ConfigurationError(
            f"the {engine} engine cannot serve the {backend.name} backend; it serves "
            f"{served}. Use engine='fsspec' for {backend.scheme}://",
            backend=backend.name,
        )
    return backend.obstore_driver
