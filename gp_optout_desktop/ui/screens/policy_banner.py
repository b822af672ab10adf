"""A banner for the top of every screen while the practice-wide opt-out is on.

Everyone sees it (receptionists most of all: patients ask at the desk). The main window
places one above its screens; it reads services.exclusion.practice_optout_status and hides itself
when the opt-out is off or the register is locked.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel

from ...services import exclusion as exclusion_service
from ...services.on_server import on_server
from ._task import TaskRunner


def banner_text(current) -> str:
    when = f"{current.effective.day} {current.effective:%B %Y}"
    return (f"<b>Practice-wide opt-out is ON</b> since {when} (set by {current.recorded_by}). The exclusion file "
            "tells the clinical system to extract nobody's GP data except patients who have asked to be included. "
            f"Reason given: {_escape(current.reason)}")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class PolicyBanner(QFrame):
    def __init__(self, session_provider: Callable, bus, parent=None):
        super().__init__(parent)
        self._session_provider = session_provider
        self.runner = TaskRunner()
        self.setObjectName("policy_banner")
        self.setStyleSheet("#policy_banner { background: #fff4ce; border: 2px solid #8a5300; border-radius: 4px; }")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.RichText)
        self.label.setAccessibleName("Practice-wide opt-out")
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 10, 6)
        row.addWidget(self.label)
        self.state = None
        self.hide()
        if bus is not None:
            bus.changed.connect(lambda c: self.refresh() if (not c.areas or "policy" in c.areas) else None)
            bus.locked.connect(self.clear)
            bus.unlocked.connect(lambda _s: self.refresh())
        self.refresh()

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def refresh(self) -> None:
        session = self._session_provider()
        if session is None or on_server(session):  # not ported to the server yet: the patient view says so
            self.clear()
            return
        self.runner.run(lambda: exclusion_service.practice_optout_status(session), self._show, lambda _exc: self.clear())

    def _show(self, state) -> None:
        if self._session_provider() is None:  # locked while the read was under way
            self.clear()
            return
        self.state = state
        if state.on:
            self.label.setText(banner_text(state.latest))
            self.setAccessibleDescription(self.label.text())
        self.setVisible(state.on)

    def clear(self) -> None:
        self.state = None
        self.label.clear()
        self.hide()


def create(session_provider, bus) -> PolicyBanner:
    return PolicyBanner(session_provider, bus)
