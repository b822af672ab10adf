"""Audit trail (practice manager): filter by dates, user, action and patient; verify the
chain and say the result in words; export the filtered view to CSV (services.audit.export_csv:
an atomic write).

Reading the trail, verifying it and exporting it are themselves audited by services.audit.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDateEdit, QGridLayout, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPushButton)

from ...services import audit as audit_service
from ..model_table import ModelTable
from ..models.audit_model import AuditModel
from . import _paths
from ..widgets import fit_columns
from .base import SIZE_FROM_ROWS, Screen
from ...domain.uk_time import uk_today

TITLE = "Audit trail"
LIMIT = 5000
# Common action prefixes; the box is editable, and any prefix works ("type1." ...).
ACTIONS = [("Any action", ""), ("Logins and locks", "login"), ("Patient records read or changed", "patient."),
           ("Type 1 objections", "type1."), ("Type 2 objections", "type2."), ("Include-me requests", "include."),
           ("Letters", "letter."), ("Users", "user."), ("Refused (not permitted)", "denied."),
           ("Backups and restores", "register."), ("Audit trail views", "audit."), ("Exclusion file", "exclusion."),
           ("Practice-wide opt-out", "practice_optout.")]
_ANY = QDate(2000, 1, 1)


def _date_edit(name: str) -> QDateEdit:
    edit = QDateEdit()
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("dd/MM/yyyy")
    edit.setMinimumDate(_ANY)
    edit.setSpecialValueText("Any")  # shown at the minimum date: no limit
    edit.setDate(_ANY)
    edit.setAccessibleName(name)
    return edit


def _value(edit: QDateEdit) -> date | None:
    d = edit.date()
    return None if d == _ANY else date(d.year(), d.month(), d.day())


class AuditScreen(Screen):
    AREAS = None  # every operation writes an audit row

    def __init__(self, session_provider, bus, parent=None):
        super().__init__(session_provider, bus, TITLE, parent)
        self.model = AuditModel(self)
        self.outer.addWidget(self._build_filters())
        self.table = ModelTable()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Audit entries")
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        # ResizeToContents measures every row on every change: 4 s for 6,425 letters, measured.
        # Columns are sized once per reload from the first rows instead (0.3 s).
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Interactive)
        header.setResizeContentsPrecision(SIZE_FROM_ROWS)
        header.setStretchLastSection(True)
        self.count_label = QLabel()
        self.count_label.setAccessibleName("Entries shown")
        self.outer.addWidget(self.count_label)
        self.outer.addWidget(self.table, 1)
        self.outer.addLayout(self._build_actions())
        self.verify_result = QLabel("The chain has not been checked in this session.")
        self.verify_result.setWordWrap(True)
        self.verify_result.setAccessibleName("Verification result")
        self.outer.addWidget(self.verify_result)
        self.add_status_line()
        self.load_when_shown()

    def _build_filters(self) -> QGroupBox:
        box = QGroupBox("Filter")
        grid = QGridLayout(box)
        self.since = _date_edit("From date")
        self.until = _date_edit("To date")
        self.user = QLineEdit()
        self.user.setAccessibleName("User")
        self.user.setPlaceholderText("any user")
        self.action = QComboBox()
        self.action.setEditable(True)
        self.action.setAccessibleName("Action")
        for label, prefix in ACTIONS:
            self.action.addItem(label, prefix)
        self.patient = QLineEdit()
        self.patient.setAccessibleName("Patient NHS number")
        self.patient.setPlaceholderText("NHS number, or id:123")
        self.apply_button = QPushButton("&Apply filter")
        self.apply_button.setDefault(True)
        self.clear_button = QPushButton("C&lear filter")
        for col, (text, widget) in enumerate((("&From", self.since), ("&To", self.until), ("&User", self.user))):
            label = QLabel(text)
            label.setBuddy(widget)
            grid.addWidget(label, 0, col * 2)
            grid.addWidget(widget, 0, col * 2 + 1)
        for col, (text, widget) in enumerate((("A&ction", self.action), ("&Patient", self.patient))):
            label = QLabel(text)
            label.setBuddy(widget)
            grid.addWidget(label, 1, col * 2)
            grid.addWidget(widget, 1, col * 2 + 1)
        grid.addWidget(self.apply_button, 1, 4)
        grid.addWidget(self.clear_button, 1, 5)
        self.apply_button.clicked.connect(self.refresh)
        self.clear_button.clicked.connect(self.clear_filter)
        for line in (self.user, self.patient):
            line.returnPressed.connect(self.refresh)
        self.actions(self.apply_button, self.clear_button)
        return box

    def _build_actions(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.verify_button = QPushButton("&Verify the audit chain")
        self.export_button = QPushButton("&Export this view to CSV…")
        self.verify_button.clicked.connect(self.verify)
        self.export_button.clicked.connect(self.export_csv)
        row.addWidget(self.verify_button)
        row.addWidget(self.export_button)
        row.addStretch(1)
        self.actions(self.verify_button, self.export_button)
        return row

    # --- filter -------------------------------------------------------------------
    def action_prefix(self) -> str:
        text = self.action.currentText().strip()
        index = self.action.findText(text, Qt.MatchExactly)
        return self.action.itemData(index) if index >= 0 else text

    def filters(self) -> dict:
        return dict(since=_value(self.since), until=_value(self.until), user=self.user.text().strip() or None,
                    action=self.action_prefix() or None, patient=self.patient.text().strip() or None)

    def set_date_range(self, since: date | None, until: date | None) -> None:
        self.since.setDate(QDate(since.year, since.month, since.day) if since else _ANY)
        self.until.setDate(QDate(until.year, until.month, until.day) if until else _ANY)

    def clear_filter(self) -> None:
        self.set_date_range(None, None)
        self.user.clear()
        self.patient.clear()
        self.action.setCurrentIndex(0)
        self.refresh()

    def refresh(self) -> None:
        filters = self.filters()
        if filters["since"] and filters["until"] and filters["since"] > filters["until"]:
            self.show_error("The 'from' date is after the 'to' date.")
            return
        self.call(lambda s: audit_service.query(s, limit=LIMIT, **filters), self._show)

    def _show(self, rows) -> None:
        self.model.set_rows(rows)
        fit_columns(self.table)
        more = " (the newest only: narrow the filter to see older ones)" if len(rows) >= LIMIT else ""
        self.count_label.setText(f"{len(rows)} entries shown, newest first{more}.")

    def clear(self) -> None:
        super().clear()
        self.model.set_rows([])
        self.count_label.clear()

    # --- verify and export --------------------------------------------------------------
    def verify(self) -> None:
        def shown(result):
            self.verify_result.setText(result.describe())
            self.verify_result.setStyleSheet("color: #004b1c;" if result.ok else "color: #a4000f; font-weight: bold;")
            if result.ok:
                self.status.clear()
            else:
                self.show_error("The check failed: see above. Restore the latest backup and tell your Caldicott "
                                "Guardian.")
        self.call(audit_service.verify, shown, working="Checking every entry of the audit trail…")

    def export_csv(self) -> None:
        rows = self.model.rows
        suggested = Path.home() / f"audit-{uk_today():%Y-%m-%d}.csv"
        target = _paths.choose_save_file(self, "Export the audit view", suggested, "CSV files (*.csv)")
        if target is None:
            return
        # Not published: reloading the view would replace the rows just exported (the next
        # filter or reload shows the 'audit.export' row).
        self.call(lambda session: audit_service.export_csv(session, rows, target), working="Writing the CSV file…",
                  publish=False)


def create(session_provider, bus) -> AuditScreen:
    return AuditScreen(session_provider, bus)
