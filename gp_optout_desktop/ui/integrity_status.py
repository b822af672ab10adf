"""The register check's line in the status bar, and its "Check the register" button (ADR 0011).

Unlock does not check the whole file; the window starts a check right after unlock, off
the UI thread and on a connection of its own, so the desk is usable at once. The line
says "Checking the register..." then the result; a failure turns it red and stays (every
further change is refused by the services until a backup is restored). On a server practice
the same line and button run the practice's check (services/server_integrity.py): a failure
turns it red and stays for the session, but does not block saves (ADR 0011 addendum).
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from . import worker

FAILED_STYLE = "color: #b00020; font-weight: bold;"
FILE_TIP = "Check the whole register file for damage or tampering now"
SERVER_TIP = ("Check the practice on the server now: its audit trail, every sealed patient row and its indexes, "
              "and every current state against its history")


class IntegrityStatus(QWidget):
    def __init__(self, session_provider: Callable, parent=None):
        super().__init__(parent)
        self._session = session_provider
        self._running = None  # the session a check is running for
        self.label = QLabel()
        self.label.setAccessibleName("Register check")
        self.button = QPushButton("Check the register")
        self.button.setToolTip(FILE_TIP)
        self.button.clicked.connect(lambda: self.start(full=True))
        self.button.setEnabled(False)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label)
        row.addWidget(self.button)
        self.last = None
        self._on_server = False

    def start(self, *, full: bool = False, why: str | None = None, on_server: bool | None = None) -> None:
        """``on_server`` (at sign-in): the words and the button's tip say what is checked there."""
        session = self._session()
        if session is None or self._running is not None:
            return
        from ..services import integrity

        if on_server is not None:
            self._on_server = on_server
            self.button.setText("Check the practice" if on_server else "Check the register")
            self.button.setToolTip(SERVER_TIP if on_server else FILE_TIP)
        self._running = session
        self.button.setEnabled(False)
        if self.last is None or self.last.ok:
            self.label.setStyleSheet("")
            self.label.setText("Checking the practice on the server..." if self._on_server
                               else "Checking the register...")
        reason = why or ("on demand" if full else "after unlock")
        worker.run(lambda: integrity.check(session, full=full, why=reason),
                   lambda result: self._done(session, result), lambda exc: self._failed(session, exc))

    def _done(self, session, result) -> None:
        self._running = None
        if session is not self._session():
            return  # locked (or another user unlocked) while it ran
        from ..services import integrity

        self.last = integrity.last(session) or result
        self.label.setText(self.last.describe())
        self.label.setToolTip(f"The check took {result.seconds:.1f} s.")
        self.label.setStyleSheet("" if self.last.ok else FAILED_STYLE)
        self.button.setEnabled(True)

    def _failed(self, session, exc: BaseException) -> None:
        self._running = None
        if session is not self._session():
            return
        self.label.setText(f"The register could not be checked: {exc}")
        self.label.setStyleSheet(FAILED_STYLE)
        self.button.setEnabled(True)

    def clear(self) -> None:
        self.last = None
        self.label.clear()
        self.label.setStyleSheet("")
        self.button.setEnabled(False)
