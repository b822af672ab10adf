"""Backups on a server practice (practice manager): the practice's encrypted export into a
folder the manager picks, and the check that an export file restores (services/server_backups.py).

Both run off the UI thread (ADR 0014): the export's stages come back as progress through a
queued signal; the check touches nothing on the server. The whole server (every practice)
is backed up by its administrator (docs/server-setup.md); this export is what restores ONE
practice, into a register file or an empty server practice.
"""

from __future__ import annotations

from pathlib import Path

import shiboken6
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QLineEdit, QPushButton, QVBoxLayout

from ...services import server_backups
from . import _paths
from .base import Screen

TITLE = "Backups"


class _Progress(QObject):
    """Words from the worker thread to the screen: ``said`` is emitted on the worker and
    delivered on the UI thread (the relay lives there), never touching a widget off it."""

    said = Signal(str)

    def __init__(self, show):
        super().__init__()
        self._show = show
        self.said.connect(self._deliver)

    @Slot(str)
    def _deliver(self, words: str) -> None:
        self._show(words)


class ServerBackupsScreen(Screen):
    AREAS = frozenset({"backup"})

    def __init__(self, session_provider, bus, parent=None):
        super().__init__(session_provider, bus, TITLE, parent)
        about = QLabel("The server's administrator backs up the whole server (every practice on it). This "
                       "practice's own export is an encrypted register backup of this practice only: it restores "
                       "into a register file (Backups on a register file, or gp-optout restore) or into an empty "
                       "practice on a server. Keep it off site, apart from its recovery key.")
        about.setWordWrap(True)
        self.outer.addWidget(about)
        self.outer.addWidget(self._build_export())
        self.outer.addWidget(self._build_check())
        self.outer.addWidget(self._build_integrity())
        self.add_status_line()
        self.outer.addStretch(1)
        self._progress = _Progress(self._show_progress)
        self._last_folder: Path | None = None

    @staticmethod
    def _section(title: str, explanation: str) -> tuple[QGroupBox, QVBoxLayout]:
        """A titled box opening with its explanation, for the screen's three actions."""
        box = QGroupBox(title)
        layout = QVBoxLayout(box)
        text = QLabel(explanation)
        text.setWordWrap(True)
        layout.addWidget(text)
        return box, layout

    def _action(self, layout: QVBoxLayout, label: str, slot) -> QPushButton:
        button = QPushButton(label)
        button.clicked.connect(slot)
        layout.addWidget(button)
        self.actions(button)
        return button

    def _password_field(self, name: str) -> QLineEdit:
        field = QLineEdit()
        field.setEchoMode(QLineEdit.Password)
        field.setAccessibleName(name)
        return field

    def _build_export(self) -> QGroupBox:
        box, layout = self._section(
            "Export this practice",
            "Reads the practice from the server in one snapshot with its audit trail verified, writes it as a new "
            "encrypted file in the folder you choose and checks it after writing. The file opens with your user "
            "name and the password you sign in with. Desks keep working meanwhile.")
        form = QFormLayout()
        self.export_password = self._password_field("Your password, for the export")
        form.addRow("Your &password (the export opens with it):", self.export_password)
        layout.addLayout(form)
        self.export_button = self._action(layout, "&Export this practice…", self.export)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setAccessibleName("Export result")
        self.result.setTextInteractionFlags(self.status.textInteractionFlags())
        layout.addWidget(self.result)
        return box

    def _build_check(self) -> QGroupBox:
        box, layout = self._section(
            "Check an export",
            "Proves an export made under your login can be restored: it is restored into a temporary register on "
            "this PC (its hash, decryption, counts and both audit trails checked), then the temporary register is "
            "deleted. Nothing on the server is touched.")
        form = QFormLayout()
        self.check_password = self._password_field("Your password in the export")
        form.addRow("Your password &in the export (as it was when it was made):", self.check_password)
        layout.addLayout(form)
        self.check_button = self._action(layout, "&Check an export…", self.check)
        return box

    def _build_integrity(self) -> QGroupBox:
        box, layout = self._section(
            "Check the practice on the server",
            "Checks the practice as it is on the server now: its audit trail from the first entry to the last, every "
            "patient's sealed details and search indexes, and every current state against its history. It runs "
            "after each sign-in too (the status bar). The check is recorded in the audit trail.")
        self.integrity_button = self._action(layout, "Check the practice &now", self.check_practice)
        self.integrity_result = QLabel()
        self.integrity_result.setWordWrap(True)
        self.integrity_result.setAccessibleName("Practice check result")
        layout.addWidget(self.integrity_result)
        return box

    def check_practice(self) -> None:
        from ...services import server_integrity

        self.integrity_result.clear()
        self.call(lambda s: server_integrity.check(s, why="on demand"), self._checked,
                  working="Checking the practice on the server… (desks can keep working)")

    def _checked(self, result) -> None:
        self.integrity_result.setText(result.describe())
        self.integrity_result.setStyleSheet("" if result.ok else "color: #b00020; font-weight: bold;")
        if result.ok:
            self.show_info("The practice on the server passed its check.")
        else:
            self.show_error("The practice on the server failed its check: see below.")

    def refresh(self) -> None:
        """Nothing to load: the server keeps no 'last backup' of its own for this screen (its
        exports are entries register.export in the Audit trail)."""

    def clear(self) -> None:
        super().clear()
        self.result.clear()  # the export's recovery key must not outlive the lock
        self.integrity_result.clear()
        self.export_password.clear()
        self.check_password.clear()

    def _show_progress(self, words: str) -> None:
        if shiboken6.isValid(self) and self.busy:
            self.show_info(words)

    def export(self) -> None:
        password = self.export_password.text()
        if not password:
            self.show_error("Type your password: the export opens with it.")
            self.export_password.setFocus()
            return
        folder = _paths.choose_folder(self, "Choose the folder for the practice's export",
                                      self._last_folder or Path.home())
        if folder is None:
            return
        self._last_folder = Path(folder)
        self.export_password.clear()
        self.result.clear()
        said = self._progress.said.emit  # emitted on the worker thread, delivered on this one
        self.call(lambda s: server_backups.export_practice(s, Path(folder), password, said), self._exported,
                  working="Exporting the practice… (desks can keep working)")

    def _exported(self, change) -> None:
        self.result.setText(f"{change.summary}\n\nThe export's recovery key (opens it without your password; shown "
                            f"once, keep it apart from the file): {change.data['recovery_key']}")
        self.result.setStyleSheet("color: #004b1c;")

    def check(self) -> None:
        password = self.check_password.text()
        if not password:
            self.show_error("Type your password in the export (the one you signed in with when it was made).")
            self.check_password.setFocus()
            return
        source = _paths.choose_open_file(self, "Choose the export to check", self._last_folder or Path.home(),
                                         f"Practice exports (*{server_backups.SUFFIX});;All files (*)")
        if source is None:
            return
        self.check_password.clear()
        user = self.session().user
        self.call(lambda _s: server_backups.check_export(Path(source), user, password),
                  lambda report: self.show_info(report.summary), working=f"Checking {Path(source).name}…")


def create(session_provider, bus) -> ServerBackupsScreen:
    return ServerBackupsScreen(session_provider, bus)
