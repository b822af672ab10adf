"""Backups (practice manager): back up now to a chosen folder, the last backup's time and
check, and restore with the register core's checks after a confirmation.

A restore swaps the register files, so the register is locked first and everyone
unlocks the restored copy afterwards; the previous register is kept aside, not deleted.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout

from ...services import backup as backup_service
from . import _ask, _paths
from .base import Screen, describe_error
from ...domain.uk_time import uk

TITLE = "Backups"
SUFFIX = ".gpbackup"  # a zip inside; its own suffix so nobody is tempted to unpack it
STALE_DAYS = 7


def backup_name(now: datetime) -> str:
    return f"gp-optout-backup-{uk(now):%Y-%m-%d-%H%M}{SUFFIX}"


def describe_last(last: dict | None, now: datetime) -> tuple[str, bool]:
    """Plain words about the last backup, and whether it needs attention."""
    if not last:
        return "No backup has been made of this register yet. Make one now.", True
    at = datetime.fromisoformat(last["at"])
    days = (now - at).days
    check = ("checked after writing: it was read back, decrypted and its contents and audit trail verified"
             if last.get("verified") else "NOT checked after writing")
    age = "today" if days == 0 else ("yesterday" if days == 1 else f"{days} days ago")
    text = f"Last backup: {uk(at):%d %b %Y at %H:%M} ({age}), to {last['file']}; {check}."
    stale = days >= STALE_DAYS or not last.get("verified")
    if days >= STALE_DAYS:
        text += f" It is more than {STALE_DAYS} days old: make a new one."
    return text, stale


class BackupsScreen(Screen):
    AREAS = frozenset({"backup"})

    def __init__(self, session_provider, bus, parent=None):
        super().__init__(session_provider, bus, TITLE, parent)
        self.last = QLabel()
        self.last.setWordWrap(True)
        self.last.setAccessibleName("Last backup")
        self.outer.addWidget(self.last)
        advice = QLabel("Keep three copies on two kinds of media, one of them away from the surgery (for example a "
                        "USB disk taken off site). Never keep the register or its backups on a network share.")
        advice.setWordWrap(True)
        self.outer.addWidget(advice)
        self.outer.addWidget(self._build_backup())
        self.outer.addWidget(self._build_restore())
        self.add_status_line()
        self.outer.addStretch(1)
        self._last_file: str | None = None
        self.load_when_shown()

    def _build_backup(self) -> QGroupBox:
        box = QGroupBox("Back up now")
        row = QHBoxLayout(box)
        text = QLabel("Choose a folder; the file is named with today's date and checked after writing.")
        text.setWordWrap(True)
        self.backup_button = QPushButton("&Back up now…")
        self.backup_button.clicked.connect(self.back_up)
        row.addWidget(text, 1)
        row.addWidget(self.backup_button)
        self.actions(self.backup_button)
        return box

    def _build_restore(self) -> QGroupBox:
        box = QGroupBox("Restore from a backup")
        layout = QVBoxLayout(box)
        text = QLabel("Every check runs before anything is replaced: your password for this register, then the "
                      "backup's hash, decryption with its own keys, the database's integrity, its counts and its "
                      "audit trail. The current register is moved aside, not deleted, and everyone must unlock "
                      "again afterwards. Only a practice manager of this register, named in the backup too, can "
                      "restore it. Wrong passwords are counted and recorded, as at unlock.")
        text.setWordWrap(True)
        layout.addWidget(text)
        form = QFormLayout()
        self.restore_password = QLineEdit()
        self.restore_password.setEchoMode(QLineEdit.Password)
        self.restore_password.setAccessibleName("Your password for this register")
        form.addRow("Your &password for this register:", self.restore_password)
        self.backup_password = QLineEdit()
        self.backup_password.setEchoMode(QLineEdit.Password)
        self.backup_password.setAccessibleName("Your password in the backup, if it was different")
        form.addRow("Your password in the &backup (if it was different):", self.backup_password)
        self.confirm_ods = QLineEdit()
        self.confirm_ods.setMaxLength(10)
        self.confirm_ods.setAccessibleName("The backup's practice code, only to restore another practice's backup")
        form.addRow("&Another practice's backup: type its ODS code:", self.confirm_ods)
        layout.addLayout(form)
        self.restore_button = QPushButton("&Restore from a backup file…")
        self.restore_button.clicked.connect(self.restore)
        layout.addWidget(self.restore_button)
        self.actions(self.restore_button)
        return box

    def refresh(self) -> None:
        self.call(backup_service.last_backup, self._show_last)

    def _show_last(self, last: dict | None) -> None:
        text, attention = describe_last(last, datetime.now(timezone.utc))
        self._last_file = last["file"] if last else None
        self.last.setText(text)
        self.last.setStyleSheet("color: #8a5300; font-weight: bold;" if attention else "")

    def clear(self) -> None:
        super().clear()
        self.last.clear()
        self.restore_password.clear()
        self.backup_password.clear()
        self.confirm_ods.clear()

    def back_up(self) -> None:
        start = Path(self._last_file).parent if self._last_file else Path.home()
        folder = _paths.choose_folder(self, "Choose the folder for the backup", start)
        if folder is None:
            return
        target = Path(folder) / backup_name(datetime.now(timezone.utc))
        self.call(lambda s: backup_service.backup(s, target), lambda _c: self.refresh(),
                  working=f"Writing and checking the backup {target.name}… (the register can still be used)")

    def restore(self) -> None:
        password = self.restore_password.text()
        backup_password = self.backup_password.text() or None
        confirm_ods = self.confirm_ods.text().strip() or None
        if not password:
            self.show_error("Enter your password for this register (and your password in the backup if it was "
                            "different).")
            self.restore_password.setFocus()
            return
        start = Path(self._last_file).parent if self._last_file else Path.home()
        source = _paths.choose_open_file(self, "Choose the backup to restore", start,
                                         f"Register backups (*{SUFFIX});;All files (*)")
        if source is None:
            return
        if not _ask.confirm(
            self, "Restore the register",
            f"Restore the register from {Path(source).name}?\n\nAnything recorded since that backup was made will "
            "not be in the restored register (the current one is kept aside in the register folder). The register "
            "locks now and everyone must unlock again.", yes="Restore"):
            return
        session = self.session()
        folder, user = session.folder, session.user
        self.restore_password.clear()
        self.backup_password.clear()

        def run(current):
            current.lock()  # the files are about to be swapped: close the connection first
            restored, changes = backup_service.restore(folder, Path(source), user, password,
                                                       backup_password=backup_password, confirm_ods=confirm_ods)
            restored.lock()  # everyone, this user too, unlocks the restored register afresh
            return changes

        def done(changes):
            _ask.inform(self, "Register restored", changes.summary + "\n\nUnlock the register to continue.")
            self._locked_by_restore()

        def failed(exc):
            # Every check runs before the swap, so the live register was not replaced; but it was locked.
            more = ""
            if isinstance(exc, backup_service.ConfirmationNeeded) and exc.kind == "ods":
                more = (f"\n\nIf you mean to, type {exc.ods} in 'Another practice's backup: type its ODS code' and "
                        "restore again.")
            _ask.inform(self, "Restore failed", f"{describe_error(exc)}{more}\n\nThe current register was not "
                        "replaced. Unlock it to continue.")
            self._locked_by_restore()

        # Not published: the old session is closed, so screens must not reload from it.
        self.call(run, done, failed=failed, working="Checking the backup and restoring…", publish=False)

    def _locked_by_restore(self) -> None:
        # The register is closed: bus.locked makes the main window lock and show its unlock screen.
        self.bus.locked.emit()


def create(session_provider, bus):
    """The register file's Backups screen, or on a server practice its own (export and check)."""
    from ...services.on_server import on_server

    if on_server(session_provider()):
        from .server_backups import ServerBackupsScreen

        return ServerBackupsScreen(session_provider, bus)
    return BackupsScreen(session_provider, bus)
