"""Coding (everyone may view; practice managers export, print and set the target): every code
still to be added to or removed from the clinical system, by due date, overdue rows highlighted.
A code leaves this list only when a reconciliation finds it in the clinical system's export."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QSpinBox

from ...domain import coding as rules, roles
from ...services import coding as coding_service
from ..model_table import ModelTable
from ..models.coding_model import CodingModel
from . import _paths
from ..widgets import fit_columns
from .base import Screen

TITLE = "Coding"


class CodingScreen(Screen):
    AREAS = frozenset({"patients", "policy", "coding", "settings"})

    def __init__(self, session_provider, bus, parent=None):
        super().__init__(session_provider, bus, TITLE, parent)
        intro = QLabel(
            "National extractions read the code in each patient's record in the clinical system, nothing else. "
            "Key each code below in the clinical system (by hand, or with its batch tool: see the user guide), "
            "then reconcile: a code leaves this list only when the clinical system's export shows it. "
            "A row someone marked as coded stays until then.")
        intro.setWordWrap(True)
        self.outer.addWidget(intro)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Coding worklist summary")
        self.outer.addWidget(self.summary)
        row = QHBoxLayout()
        self.csv_button = QPushButton("Export &CSV…")
        self.csv_button.clicked.connect(self.export_csv)
        self.pdf_button = QPushButton("Print &checklist (PDF)…")
        self.pdf_button.clicked.connect(self.export_pdf)
        self.target = QSpinBox()
        self.target.setRange(1, rules.MAX_TARGET_WORKING_DAYS)
        self.target.setSuffix(" working days")
        self.target.setAccessibleName("Coding target")
        for inner in self.target.findChildren(QLineEdit):  # the spin box's own text field, read out too
            inner.setAccessibleName("Coding target")
        self.target_button = QPushButton("Set &target")
        self.target_button.clicked.connect(self.save_target)
        for w in (self.csv_button, self.pdf_button):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(QLabel("Coding target:"))
        row.addWidget(self.target)
        row.addWidget(self.target_button)
        self.outer.addLayout(row)
        self.model = CodingModel(self)
        self.table = ModelTable()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Codes to key in the clinical system")
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.outer.addWidget(self.table, 1)
        self.add_status_line()
        self.actions(self.csv_button, self.pdf_button, self.target_button)
        self.load_when_shown()

    def _manager(self) -> bool:
        session = self._session_provider()
        return session is not None and roles.allowed(session.role, "coding_worklist")

    def refresh(self) -> None:
        manager = self._manager()
        for w in (self.csv_button, self.pdf_button, self.target, self.target_button):
            w.setVisible(manager)
        self.call(lambda s: (coding_service.worklist(s), coding_service.target_days(s)), self._show, publish=False)

    def _show(self, result) -> None:
        worklist, target = result
        self.worklist = worklist
        self.model.set_items(worklist.items, worklist.today)
        self.target.setValue(target)
        self.summary.setText(worklist.describe())
        self.summary.setStyleSheet("color: #a4000f; font-weight: bold;" if worklist.overdue else "")
        if self.model.rowCount():
            fit_columns(self.table)

    def export_csv(self) -> None:
        path = _paths.choose_save_file(self, "Save the coding worklist", Path.home() / "coding-worklist.csv",
                                       "CSV files (*.csv)")
        if path is not None:
            self.call(lambda s: coding_service.export_csv(s, path))

    def export_pdf(self) -> None:
        path = _paths.choose_save_file(self, "Save the coding checklist", Path.home() / "coding-checklist.pdf",
                                       "PDF files (*.pdf)")
        if path is not None:
            self.call(lambda s: coding_service.export_checklist(s, path))

    def save_target(self) -> None:
        days = self.target.value()
        self.call(lambda s: coding_service.set_target_days(s, days))

    def clear(self) -> None:
        super().clear()
        self.model.set_items([], None)
        self.summary.clear()


def create(session_provider, bus) -> CodingScreen:
    return CodingScreen(session_provider, bus)
