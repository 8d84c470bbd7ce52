"""``python -m session_storage``: the session-storage command line."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
