"""Exclusion file (practice manager): when it was last written, where, how many patients,
whether it is out of date and why; export now; export the public key.

A missing or full destination gives a clear error and the previous set stays current:
the writer only replaces its CURRENT pointer after the new set was written and re-read.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from PySide6.QtWidgets import (QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout)

from ...domain.exclusion_rules import EXCLUDE_ALL_EXCEPT_LISTED, EXCLUDE_LISTED
from ...services import exclusion as exclusion_service
from . import _ask, _paths
from .base import Screen
from ...domain.uk_time import UK

TITLE = "Exclusion file"
KEY_FILE = "gp-optout-exclusion-public-key.pem"
MODE_WORDS = {
    EXCLUDE_LISTED: "patients listed are objectors: do not extract them",
    EXCLUDE_ALL_EXCEPT_LISTED: "practice-wide opt-out: extract nobody except the patients listed",
}


def _when(ts: str) -> str:
    moment = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).astimezone(UK)
    return f"{moment.day} {moment:%b %Y at %H:%M}"


def describe_status(status, now: datetime) -> tuple[list[str], str]:
    """(lines in words, verdict: 'never' | 'out_of_date' | 'expired' | 'current')."""
    last = status.last
    if last is None:
        return (["The exclusion file has never been written from this register. Until it is, the clinical system "
                 "has no list and must extract nobody (it fails closed)."], "never")
    lines = [
        f"Last written: {_when(last['at'])} by {last['by']}.",
        f"Where: {last['directory']}",
        f"How many patients: {last['rows']:,} ({MODE_WORDS.get(last['mode'], last['mode'])}).",
        f"Valid until: {_when(last['valid_until'])}.",
    ]
    if status.out_of_date:
        why = []
        changes = status.revision - last["revision"]
        if changes > 0:
            why.append(f"the register has changed {changes} time{'s' if changes != 1 else ''} since it was written "
                       f"(revision {last['revision']} then, {status.revision} now)")
        if last["mode"] != status.mode_now:
            why.append("the practice-wide opt-out has been turned "
                       f"{'on' if status.mode_now == EXCLUDE_ALL_EXCEPT_LISTED else 'off'} since")
        if changes < 0:
            why.append("the register is older than the file (was a backup restored?)")
        lines.append("OUT OF DATE: " + "; ".join(why or ["the register has changed"]) + ". Export now.")
        return lines, "out_of_date"
    if status.expired(now):
        lines.append("EXPIRED: the clinical system will refuse it and extract nobody. Export now.")
        return lines, "expired"
    lines.append("Up to date: nothing has changed since it was written.")
    return lines, "current"


class ExclusionScreen(Screen):
    AREAS = None  # any change to the register can make the file out of date

    def __init__(self, session_provider, bus, parent=None):
        super().__init__(session_provider, bus, TITLE, parent)
        self.status_box = QGroupBox("The current file")
        box = QVBoxLayout(self.status_box)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Exclusion file status")
        box.addWidget(self.summary)
        self.verdict_label = QLabel()
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setAccessibleName("Is it up to date")
        box.addWidget(self.verdict_label)
        self.outer.addWidget(self.status_box)
        self.outer.addWidget(self._build_export())
        self.outer.addWidget(self._build_key())
        self.add_status_line()
        self.outer.addStretch(1)
        self.verdict = None
        self.load_when_shown()

    def _build_export(self) -> QGroupBox:
        box = QGroupBox("Export now")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.folder = QLineEdit()
        self.folder.setAccessibleName("Export folder")
        self.folder.setPlaceholderText("the folder the clinical system reads")
        self.choose_button = QPushButton("C&hoose folder…")
        self.choose_button.clicked.connect(self.choose_folder)
        label = QLabel("&Folder:")
        label.setBuddy(self.folder)
        row.addWidget(label)
        row.addWidget(self.folder, 1)
        row.addWidget(self.choose_button)
        layout.addLayout(row)
        # The national-check file is built from a disclosure cohort (gp-optout national-check), not from this list.
        self.export_button = QPushButton("&Export the exclusion file now")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.export)
        layout.addWidget(self.export_button)
        self.actions(self.export_button, self.choose_button)
        return box

    def _build_key(self) -> QGroupBox:
        box = QGroupBox("Public key")
        row = QHBoxLayout(box)
        text = QLabel("The clinical system checks each file's signature with this key. Install it there once.")
        text.setWordWrap(True)
        self.key_button = QPushButton("Export the &public key…")
        self.key_button.clicked.connect(self.export_key)
        self.replace_key_button = QPushButton("&Replace the signing key…")
        self.replace_key_button.setToolTip("Only if the register (and so its private key) may have been copied: "
                                           "the clinical system then needs the new public key")
        self.replace_key_button.clicked.connect(self.replace_key)
        row.addWidget(text, 1)
        row.addWidget(self.key_button)
        row.addWidget(self.replace_key_button)
        self.actions(self.key_button, self.replace_key_button)
        return box

    def refresh(self) -> None:
        self.call(exclusion_service.export_status, self._show)

    def _show(self, status) -> None:
        lines, self.verdict = describe_status(status, datetime.now(timezone.utc))
        # The last line is the verdict: shown on its own, in colour, where the eye lands.
        details, verdict = (lines[:-1], lines[-1]) if self.verdict != "never" else ([], lines[0])
        self.summary.setText("\n".join(details))
        self.summary.setVisible(bool(details))
        self.verdict_label.setText(verdict)
        self.verdict_label.setStyleSheet("color: #004b1c; font-weight: bold;" if self.verdict == "current"
                                         else "color: #a4000f; font-weight: bold;")
        if status.last and not self.folder.text():
            self.folder.setText(status.last["directory"])

    def clear(self) -> None:
        super().clear()
        self.summary.clear()
        self.verdict_label.clear()
        self.verdict = None

    def choose_folder(self) -> None:
        chosen = _paths.choose_folder(self, "Choose the export folder", self.folder.text() or Path.home())
        if chosen is not None:
            self.folder.setText(str(chosen))

    def export(self) -> None:
        text = self.folder.text().strip()
        if not text:
            self.choose_folder()
            text = self.folder.text().strip()
            if not text:
                return
        folder = Path(text)
        # The writer would create a missing folder; a vanished drive or share must be an error instead,
        # or the file lands on the wrong disk where nothing reads it.
        if not folder.is_dir():
            self.show_error(f"The folder {folder} does not exist (is the drive or share connected?). Nothing was "
                            "written; the previous exclusion file, if any, is unchanged.")
            return
        self.call(lambda s: exclusion_service.export(s, folder), lambda _c: self.refresh(),
                  working="Writing, signing and re-reading the exclusion file…")

    def export_key(self) -> None:
        start = Path(self.folder.text().strip() or Path.home()) / KEY_FILE
        target = _paths.choose_save_file(self, "Save the public key", start, "PEM public key (*.pem)")
        if target is not None:
            self.call(lambda s: exclusion_service.export_public_key(s, target))

    def replace_key(self) -> None:
        if not _ask.confirm(self, "Replace the signing key",
                            "Make a new signing key? Do this only if the register may have been copied. Until the "
                            "new public key is installed on the system that reads the exclusion file, that system "
                            "refuses every new file (it fails closed: nothing is extracted).", yes="Replace the key"):
            return
        self.call(exclusion_service.replace_signing_key)


def create(session_provider, bus) -> ExclusionScreen:
    return ExclusionScreen(session_provider, bus)
