"""Import a backend's optional client library, or say which extra installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import MissingDependencyError

__all__ = ["require"]


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``; raise MissingDependencyError naming the extra if absent."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f'the {extra} backend needs {module}: pip install "session-storage[{extra}]"',
            backend=extra,
        ) from exc
