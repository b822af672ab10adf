"""The status bar's line about the exclusion file (services.exclusion.status), and whether
it needs the user's attention (out of date, expired or never written)."""

from __future__ import annotations

from ..domain import roles
from ..services import exclusion
from ..store.errors import StoreError


FOR_THE_MANAGER = "Exclusion file: the practice manager needs to write it again (tell them if they do not know)"


def describe(session) -> str:
    """The line itself; someone who cannot write the file gets what they can act on: tell the
    practice manager, not an alarm about a task that is not theirs."""
    try:
        text = exclusion.status(session)
    except StoreError as exc:  # a status line must never break the window
        return f"Exclusion file: status unknown ({exc})"
    if needs_attention(text) and not roles.allowed(session.role, "export"):
        return FOR_THE_MANAGER
    return text


def needs_attention(text: str) -> bool:
    """Red in the status bar: only for those who can act on it."""
    return not text.startswith("Exclusion file: up to date") and text != FOR_THE_MANAGER
