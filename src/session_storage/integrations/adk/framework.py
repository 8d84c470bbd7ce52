"""The one place Google ADK is imported: every module of this package takes its names here.

Without ADK installed, importing :mod:`session_storage.integrations.adk` (or any of
its modules) raises :class:`~session_storage.core.errors.MissingDependencyError`
naming the extra to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.errors import MissingDependencyError

if TYPE_CHECKING:
    # Only named here for types: the registry itself is imported by service_registry().
    from google.adk.cli.service_registry import ServiceRegistry as ServiceRegistry

try:
    from google.adk.artifacts import artifact_util
    from google.adk.artifacts.base_artifact_service import (
        ArtifactVersion,
        BaseArtifactService,
        ensure_part,
    )
    from google.adk.errors import StaleSessionError
    from google.adk.errors.already_exists_error import AlreadyExistsError
    from google.adk.errors.input_validation_error import InputValidationError
    from google.adk.errors.session_not_found_error import SessionNotFoundError
    from google.adk.events.event import Event
    from google.adk.platform import time as platform_time
    from google.adk.platform import uuid as platform_uuid
    from google.adk.sessions.base_session_service import (
        BaseSessionService,
        GetSessionConfig,
        ListSessionsResponse,
    )
    from google.adk.sessions.session import Session
    from google.adk.sessions.state import State
    from google.genai import types
    from pydantic import ValidationError
    from pydantic_core import to_jsonable_python
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without ADK
    raise MissingDependencyError(
        "session_storage.integrations.adk needs google-adk, which is not installed: "
        'pip install "session-storage[adk]"'
    ) from exc

__all__ = [
    "AlreadyExistsError",
    "ArtifactVersion",
    "BaseArtifactService",
    "BaseSessionService",
    "Event",
    "GetSessionConfig",
    "InputValidationError",
    "ListSessionsResponse",
    "Session",
    "SessionNotFoundError",
    "StaleSessionError",
    "State",
    "ValidationError",
    "artifact_util",
    "ensure_part",
    "platform_time",
    "platform_uuid",
    "service_registry",
    "to_jsonable_python",
    "types",
]


def service_registry() -> ServiceRegistry:
    """ADK's registry of service URI schemes (the one ``adk web`` and ``adk api_server``
    consult); imported on first use, since it belongs to ADK's command line."""
    from google.adk.cli.service_registry import get_service_registry

    return get_service_registry()
