"""Settings (practice manager): how long the register waits without use before it locks
itself, and the letterhead printed on every letter. The ODS code is shown but fixed at
creation. Saves go through services.settings, which checks the role and audits them; the
ChangeSet (area 'settings') is published so the running idle lock picks up the new time.
"""

from __future__ import annotations

from PySide6.QtWidgets import (QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton,
                               QSpinBox)

from ...services import settings as settings_service
from .base import Screen

TITLE = "Settings"


class SettingsScreen(Screen):
    AREAS = frozenset({"settings"})

    def __init__(self, session_provider, bus, parent=None):
        super().__init__(session_provider, bus, TITLE, parent)
        self.outer.addWidget(self._build_idle())
        self.outer.addWidget(self._build_practice())
        self.add_status_line()
        self.outer.addStretch(1)
        self.load_when_shown()

    def _build_idle(self) -> QGroupBox:
        box = QGroupBox("Idle lock")
        row = QHBoxLayout(box)
        text = QLabel(f"The register locks itself after this long without a key press or mouse movement, and closes "
                      f"every patient shown. Shorter is safer at a busy desk; at most "
                      f"{settings_service.MAX_IDLE_LOCK_MINUTES} minutes.")
        text.setWordWrap(True)
        self.minutes = QSpinBox()
        self.minutes.setRange(1, settings_service.MAX_IDLE_LOCK_MINUTES)
        self.minutes.setSuffix(" minutes")
        self.minutes.setAccessibleName("Idle lock minutes")
        inner = self.minutes.findChild(QLineEdit)
        if inner is not None:
            inner.setAccessibleName("Idle lock minutes")
        label = QLabel("Lock after:")
        label.setBuddy(self.minutes)
        self.save_minutes_button = QPushButton("Save the &idle lock time")
        self.save_minutes_button.clicked.connect(self.save_minutes)
        row.addWidget(text, 1)
        row.addWidget(label)
        row.addWidget(self.minutes)
        row.addWidget(self.save_minutes_button)
        self.actions(self.save_minutes_button)
        return box

    def _build_practice(self) -> QGroupBox:
        box = QGroupBox("Practice details (the letterhead on every letter)")
        form = QFormLayout(box)
        self.ods = QLabel()
        self.ods.setAccessibleName("ODS code")
        self.ods.setToolTip("The practice's ODS code is fixed when the register is created.")
        self.name = QLineEdit()
        self.name.setAccessibleName("Practice name")
        self.address = QPlainTextEdit()
        self.address.setAccessibleName("Practice address")
        self.address.setToolTip("One address line per line; the postcode on the last line")
        self.address.setTabChangesFocus(True)
        self.address.setFixedHeight(self.address.fontMetrics().lineSpacing() * 5 + 12)
        self.phone = QLineEdit()
        self.phone.setAccessibleName("Practice phone")
        self.email = QLineEdit()
        self.email.setAccessibleName("Practice email")
        form.addRow("ODS code:", self.ods)
        form.addRow("Practice &name:", self.name)
        form.addRow("&Address (one line each):", self.address)
        form.addRow("&Phone:", self.phone)
        form.addRow("&Email:", self.email)
        self.save_practice_button = QPushButton("&Save practice details")
        self.save_practice_button.clicked.connect(self.save_practice)
        save_row = QHBoxLayout()
        save_row.addWidget(self.save_practice_button)
        save_row.addStretch(1)
        form.addRow("", save_row)
        self.actions(self.save_practice_button)
        return box

    # --- loading ----------------------------------------------------------------
    def refresh(self) -> None:
        self.call(lambda s: (settings_service.idle_lock_minutes(s), settings_service.practice_details(s)), self._fill)

    def _fill(self, loaded) -> None:
        minutes, practice = loaded
        self.minutes.setValue(minutes)
        self.ods.setText(practice.get("ods", ""))
        self.name.setText(practice.get("name", ""))
        self.address.setPlainText("\n".join(practice.get("address", [])))
        self.phone.setText(practice.get("phone", ""))
        self.email.setText(practice.get("email", ""))

    def clear(self) -> None:
        super().clear()
        for field in (self.name, self.phone, self.email):
            field.clear()
        self.address.clear()
        self.ods.clear()

    # --- saving -----------------------------------------------------------------
    def save_minutes(self) -> None:
        minutes = self.minutes.value()
        self.call(lambda s: settings_service.set_idle_lock_minutes(s, minutes), working="Saving…")

    def save_practice(self) -> None:
        details = {"name": self.name.text(), "address": self.address.toPlainText().splitlines(),
                   "phone": self.phone.text(), "email": self.email.text()}
        self.call(lambda s: settings_service.set_practice_details(s, **details), working="Saving…")


def create(session_provider, bus) -> SettingsScreen:
    return SettingsScreen(session_provider, bus)
