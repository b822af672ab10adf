"""What a desk on a server register says where the server cannot yet do what the register
file does (ADR 0015): one plain sentence, never a traceback. No psycopg here, so the window
can ask without server mode installed."""

from __future__ import annotations

from ..store.errors import StoreError


class NotOnServer(StoreError):
    """A screen or action of the register file not yet ported to the server."""


def not_yet(what: str) -> str:
    return f"Not available on a server register yet: {what}."


def on_server(session) -> bool:
    """True for services/server_session.py ServerSession (a class attribute, no import)."""
    return bool(getattr(session, "on_server", False))
