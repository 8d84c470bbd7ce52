"""ADK's own servers on a storage: URI schemes for ``adk web`` and ``adk api_server``.

ADK builds its session and artifact services from ``--session_service_uri`` and
``--artifact_service_uri`` through a registry of URI schemes. After
:func:`register_uri_schemes`, these URIs give a :class:`StorageSessionService` and a
:class:`StorageArtifactService` on a :class:`~session_storage.SessionStorage`::

    session-storage+file:///srv/adk        local disk (an absolute path)
    session-storage+memory://name          this process's memory (for trying things)
    session-storage+s3://bucket/prefix     S3 and S3-compatible stores
    session-storage+gs://bucket/prefix     Google Cloud Storage (also +gcs)
    session-storage+az://container/prefix  Azure Blob Storage (also +abfs, +abfss)
    session-storage://                     the storage SESSION_STORAGE_URL and the
                                           other SESSION_STORAGE_* variables describe

The URL after ``session-storage+`` is the storage's URL; every other setting (storage
options such as an endpoint or credentials, the engine, encryption keys,
compression) comes from the ``SESSION_STORAGE_*`` environment variables, as
:meth:`~session_storage.SessionStorage.from_env` reads them. ADK reads the registry
after importing ``services.py`` (or ``services.yaml``) from the agents folder, so the
registration goes there::

    # <agents folder>/services.py
    from session_storage.integrations.adk import register_uri_schemes

    register_uri_schemes()

A ``services.yaml`` can name the two factories instead, one entry per scheme and
service type (``class: session_storage.integrations.adk.session_service_from_uri``,
or ``artifact_service_from_uri``): ADK calls them with ``uri=``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ...core.errors import ConfigurationError
from ...settings import StorageSettings
from ...storage import SessionStorage
from .artifacts import StorageArtifactService
from .framework import service_registry
from .service import StorageSessionService

if TYPE_CHECKING:
    from .framework import ServiceRegistry

__all__ = [
    "SCHEMES",
    "artifact_service_from_uri",
    "register_uri_schemes",
    "session_service_from_uri",
    "storage_from_uri",
]

PREFIX = "session-storage"
"""The scheme of a storage described by the environment; ``PREFIX+<scheme>`` names
the storage URL's own scheme."""
SCHEMES = (
    PREFIX,
    *(f"{PREFIX}+{s}" for s in ("file", "memory", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")),
)
"""Every scheme :func:`register_uri_schemes` registers, for sessions and artifacts."""


def storage_from_uri(uri: str) -> SessionStorage:
    """The storage a ``session-storage+<url>`` (or ``session-storage://``) URI names,
    its other settings read from the ``SESSION_STORAGE_*`` variables.

    Any other URI raises :class:`~session_storage.core.errors.ConfigurationError`
    naming the accepted forms. Nothing is opened until the storage is first used.
    """
    scheme, sep, rest = uri.partition("://")
    environ = dict(os.environ)
    if sep and scheme == PREFIX and not rest:
        pass  # the environment alone describes the storage
    elif sep and scheme.startswith(f"{PREFIX}+") and len(scheme) > len(PREFIX) + 1:
        environ["SESSION_STORAGE_URL"] = f"{scheme[len(PREFIX) + 1 :]}://{rest}"
    else:
        raise ConfigurationError(
            f"not a session-storage URI: {uri!r}; use session-storage+<storage url> "
            "(session-storage+s3://bucket/prefix, session-storage+file:///path, ...) "
            "or session-storage:// for the storage SESSION_STORAGE_* describe"
        )
    return SessionStorage.from_settings(StorageSettings.from_env(environ))


def session_service_from_uri(uri: str, **kwargs: Any) -> StorageSessionService:
    """ADK's session service factory: a :class:`StorageSessionService` on
    :func:`storage_from_uri`'s storage. ``kwargs`` (ADK passes ``agents_dir``) are
    not used."""
    return StorageSessionService(storage_from_uri(uri))


def artifact_service_from_uri(uri: str, **kwargs: Any) -> StorageArtifactService:
    """ADK's artifact service factory: a :class:`StorageArtifactService` on
    :func:`storage_from_uri`'s storage. ``kwargs`` are not used."""
    return StorageArtifactService(storage_from_uri(uri))


def register_uri_schemes(registry: ServiceRegistry | None = None) -> None:
    """Register every scheme of :data:`SCHEMES` for sessions and artifacts with ADK's
    service registry (``registry``, or the one ADK's command line uses). Calling it
    again changes nothing."""
    target = service_registry() if registry is None else registry
    for scheme in SCHEMES:
        target.register_session_service(scheme, session_service_from_uri)
        target.register_artifact_service(scheme, artifact_service_from_uri)
