"""Questions asked by these screens, all through ui.dialogs (tests queue the answers)."""

from __future__ import annotations

from .. import dialogs

CANCEL = "Cancel"


def confirm(parent, title: str, text: str, *, yes: str = "Yes") -> bool:
    """True only if the user chose ``yes``; Escape or closing means Cancel."""
    return dialogs.ask(parent, title, text, buttons=(yes, CANCEL), default=CANCEL, escape=CANCEL) == yes


def inform(parent, title: str, text: str) -> None:
    dialogs.inform(parent, title, text)
