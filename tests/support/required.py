"""What a test needs from the machine: skipped without it on a developer's machine,
a failure under ``CI=true``, where nothing may be skipped."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["require", "unavailable"]


def unavailable(message: str) -> NoReturn:
    """Stop the test: a failure under ``CI=true``, a skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require(condition: bool, message: str) -> None:
    """At a test module's top: fail its collection under ``CI=true`` unless
    ``condition`` holds; elsewhere skip the module."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)
