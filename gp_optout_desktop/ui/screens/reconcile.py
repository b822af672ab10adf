"""Reconcile (practice managers): compare the register with the clinical system's own search
export of the Type 1/Type 2 codes. Agreeing codes become confirmed; codes not in the clinical
system (a), not in the register (b, importable in one step) and differing (c) are listed.
A refused file is listed by row number only: the screen never repeats a patient from it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QPlainTextEdit,
                               QPushButton)

from ...domain.import_rows import ImportRefused
from ...services import reconcile as reconcile_service
from ..model_table import ModelTable
from ..models.reconcile_model import ReconcileModel
from . import _ask, _paths
from ..widgets import fit_columns
from .base import Screen

TITLE = "Reconcile"
ENCODING_CHOICES = (("UTF-8 (detect; refuse anything else)", None), ("Windows-1252", "cp1252"))


class ReconcileScreen(Screen):
    AREAS = frozenset()  # shows a run the manager starts; nothing else needs a reload

    def __init__(self, session_provider, bus, parent=None):
        super().__init__(session_provider, bus, TITLE, parent)
        self.path: Path | None = None
        self.result: reconcile_service.Result | None = None
        intro = QLabel(
            "In the clinical system, search for every patient with a Type 1 or Type 2 objection or withdrawal code "
            "and export one row per code with <b>NHS number, surname, forename(s), date of birth, postcode, code, "
            "code date</b> (the import's columns; comma or semicolon separated). Reconciling confirms every code "
            "the export shows, and lists what is (a) not coded, (b) not in the register, (c) different.")
        intro.setWordWrap(True)
        self.outer.addWidget(intro)
        row = QHBoxLayout()
        self.choose_button = QPushButton("&Choose the export and reconcile…")
        self.choose_button.clicked.connect(self.choose)
        self.encoding = QComboBox()
        for label, _value in ENCODING_CHOICES:
            self.encoding.addItem(label)
        self.encoding.setAccessibleName("The file's encoding")
        self.again_button = QPushButton("Reconcile &again")
        self.again_button.clicked.connect(self.run)
        self.report_button = QPushButton("Save the &report (CSV)…")
        self.report_button.clicked.connect(self.save_report)
        self.import_button = QPushButton("&Import (b) into the register…")
        self.import_button.clicked.connect(self.import_missing)
        for w in (self.choose_button, QLabel("Encoding:"), self.encoding, self.again_button):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.report_button)
        row.addWidget(self.import_button)
        self.outer.addLayout(row)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Reconciliation result")
        self.outer.addWidget(self.summary)
        self.problems = QPlainTextEdit()
        self.problems.setReadOnly(True)
        self.problems.setMaximumHeight(120)
        self.problems.setAccessibleName("Rows that cannot be reconciled")
        self.problems.setPlaceholderText("Rows that cannot be reconciled are listed here, by row number.")
        self.outer.addWidget(self.problems)
        self.problems.setVisible(False)  # shown only when a file is refused
        self.model = ReconcileModel(self)
        self.table = ModelTable()
        self.table.setModel(self.model)
        self.table.setAccessibleName("What the reconciliation found")
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.outer.addWidget(self.table, 1)
        self.add_status_line()
        self.actions(self.choose_button, self.again_button, self.report_button, self.import_button)
        self._update_buttons()
        self.load_when_shown()

    def refresh(self) -> None:
        self.call(reconcile_service.last_run_for, self._show_last, publish=False)

    def _show_last(self, last) -> None:
        if self.result is None:
            self.summary.setText(last.describe() if last else "The register has never been reconciled.")

    def _update_buttons(self) -> None:
        self.again_button.setEnabled(self.path is not None and not self.busy)
        self.report_button.setEnabled(self.result is not None and not self.busy)
        self.import_button.setEnabled(self.result is not None and bool(self.result.missing_rows) and not self.busy)

    def _on_busy(self, busy: bool) -> None:
        super()._on_busy(busy)
        self._update_buttons()

    def choose(self) -> None:
        path = _paths.choose_open_file(self, "Choose the clinical system's export", Path.home(),
                                       "CSV files (*.csv *.txt)")
        if path is None:
            return
        self.path = path
        self.run()

    def run(self) -> None:
        path = self.path
        if path is None:
            return
        encoding = ENCODING_CHOICES[self.encoding.currentIndex()][1]
        self.problems.clear()
        self.problems.setVisible(False)
        self.call(lambda s: reconcile_service.reconcile(s, path, encoding), self._done, failed=self._refused,
                  working="Checking every row and comparing…")

    def _done(self, result: reconcile_service.Result) -> None:
        self.result = result
        self.model.set_items(result.items)
        self.summary.setText(result.describe())
        warn = result.count("a") or result.count("c")
        self.summary.setStyleSheet("color: #a4000f;" if warn else "")
        n = result.confirmed
        self.show_info(f"Reconciled: {n:,} code{'' if n == 1 else 's'} newly confirmed.")
        if self.model.rowCount():
            fit_columns(self.table)
        if self.bus is not None:
            from ...services.changes import ChangeSet

            self.bus.publish(ChangeSet("Reconciled.", areas=frozenset({"coding", "patients"})))
        self._update_buttons()

    def _refused(self, exc: BaseException) -> None:
        if isinstance(exc, ImportRefused) and exc.problems:
            self.problems.setPlainText("\n".join(str(p) for p in exc.problems))
            self.problems.setVisible(True)
        self._update_buttons()

    def save_report(self) -> None:
        result = self.result
        if result is None:
            return
        path = _paths.choose_save_file(self, "Save the reconciliation report",
                                       Path.home() / f"reconciliation-{result.run_id}.csv", "CSV files (*.csv)")
        if path is not None:
            self.call(lambda s: reconcile_service.write_report(s, result, path),
                      lambda p: self.show_info(f"Report written to {p}."), publish=False)

    def import_missing(self) -> None:
        result = self.result
        if result is None or not result.missing_rows:
            return
        if not _ask.confirm(self, "Import (b)", f"Import the {len(result.missing_rows):,} rows in the clinical system "
                            "but not in the register? They come in as imported and confirmed; no letters are queued.",
                            yes="Import"):
            return
        self.call(lambda s: reconcile_service.import_missing(s, result), lambda _c: self._imported())

    def _imported(self) -> None:
        self.result.missing_rows = []
        self._update_buttons()

    def clear(self) -> None:
        super().clear()
        self.path = None
        self.result = None
        self.model.set_items([])
        self.summary.clear()
        self.problems.clear()
        self.problems.setVisible(False)
        self._update_buttons()


def create(session_provider, bus) -> ReconcileScreen:
    return ReconcileScreen(session_provider, bus)
