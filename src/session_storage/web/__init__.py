"""``session-storage serve``: a read-only web browser of a store (extra ``[web]``).

:func:`create_app` builds the ASGI application over an open :class:`SessionStorage`;
:func:`serve` runs it with uvicorn. The pages come from
:mod:`session_storage.views`; the rules every request passes (GET and HEAD only, the
token, the Content-Security-Policy) from :mod:`.security`. Without starlette, uvicorn
or jinja2 installed, importing this package raises MissingDependencyError naming the
extra.
"""

from __future__ import annotations

from ..core.errors import import_optional

for _module in ("starlette", "uvicorn", "jinja2"):
    import_optional(
        _module,
        f"session-storage serve needs {_module}, which is not installed: "
        "pip install 'session-storage[web]'",
    )

from .app import create_app  # noqa: E402
from .server import serve  # noqa: E402

__all__ = ["create_app", "serve"]
