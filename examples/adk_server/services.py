"""Read by ``adk web`` / ``adk api_server`` from this agents folder before they build their
services: registers the ``session-storage+...`` URI schemes."""

from session_storage.integrations.adk import register_uri_schemes

register_uri_schemes()
