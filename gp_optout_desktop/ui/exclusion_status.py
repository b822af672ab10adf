"""The status bar's line about the exclusion file (services.exclusion.status), and whether
it needs the user's attention (out of date, expired or never written)."""

from __future__ import annotations

from ..services import exclusion
from ..store.errors import StoreError


def describe(session) -> str:
    try:
        return exclusion.status(session)
    except StoreError as exc:  # a status line must never break the window
        return f"Exclusion file: status unknown ({exc})"


def needs_attention(text: str) -> bool:
    return not text.startswith("Exclusion file: up to date")
