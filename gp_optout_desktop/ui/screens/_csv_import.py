"""A screen that brings a CSV file from the clinical system into the register (practice
manager): choose the file, check it with nothing written (the screen says what would change,
in counts), then apply it, all rows or none; every step off the UI thread. Problems are listed
by row number only: the screen never repeats a patient from the file. The Import screen
(coded objections) and the Practice list screen are two of these."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout

from ...domain.import_rows import ImportRefused
from ...services import importer
from . import _ask, _paths
from .base import Screen


class CsvImportScreen(Screen):
    AREAS = frozenset()  # shows nothing from the register: no change needs a reload
    CHOOSE_TITLE = "Choose the CSV file exported from the clinical system"
    APPLY_LABEL = "&Import…"
    CONFIRM_TITLE = CONFIRM_TEXT = CONFIRM_YES = ""  # "{name}": the file's name
    APPLYING = "Importing…"

    def check_file(self, session, text: str):
        """The service's check: a plan with ``describe(done=False)``; writes nothing."""
        raise NotImplementedError

    def apply_file(self, session, text: str):
        """The service's import: a ChangeSet."""
        raise NotImplementedError

    def __init__(self, session_provider, bus, title: str, intro_html: str, parent=None):
        super().__init__(session_provider, bus, title, parent)
        self.path: Path | None = None
        intro = QLabel(intro_html)
        intro.setWordWrap(True)
        self.outer.addWidget(intro)
        self.add_before_file()

        box = QGroupBox("The file")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.choose_button = QPushButton("&Choose the CSV file…")
        self.choose_button.clicked.connect(self.choose)
        self.file_label = QLabel("No file chosen.")
        self.file_label.setAccessibleName("Chosen file")
        self.check_button = QPushButton("C&heck it again")
        self.check_button.clicked.connect(self.check)
        self.import_button = QPushButton(self.APPLY_LABEL)
        self.import_button.clicked.connect(self.run_import)
        for w in (self.choose_button, self.file_label):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.check_button)
        row.addWidget(self.import_button)
        layout.addLayout(row)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setAccessibleName("What the import would do")
        layout.addWidget(self.result)
        self.problems = QPlainTextEdit()
        self.problems.setReadOnly(True)
        self.problems.setAccessibleName("Rows that cannot be imported")
        self.problems.setPlaceholderText("Rows that cannot be imported are listed here, with the reason.")
        layout.addWidget(self.problems, 1)
        self.outer.addWidget(box, 1)
        self.add_status_line()
        self.actions(self.choose_button, self.check_button)
        self._checked_ok = False
        self._update_buttons()

    def add_before_file(self) -> None:
        """Anything shown between the introduction and the file (the Import screen's codes)."""

    def refresh(self) -> None:
        """Nothing to load: the screen starts from a file the manager chooses."""

    def _update_buttons(self) -> None:
        self.check_button.setEnabled(self.path is not None and not self.busy)
        self.import_button.setEnabled(self._checked_ok and not self.busy)

    def _on_busy(self, busy: bool) -> None:
        super()._on_busy(busy)
        self._update_buttons()

    def choose(self) -> None:
        path = _paths.choose_open_file(self, self.CHOOSE_TITLE, Path.home(), "CSV files (*.csv *.txt)")
        if path is None:
            return
        self.path = path
        self.file_label.setText(path.name)
        self.check()

    def check(self) -> None:
        path = self.path
        if path is None:
            return
        self._checked_ok = False
        self.result.clear()
        self.problems.clear()
        self.call(lambda s: self.check_file(s, importer.read_csv_file(path)), self._checked, failed=self._refused,
                  working="Checking every row…")

    def _checked(self, plan) -> None:
        self._checked_ok = True
        self.result.setText(f"Checked, nothing written yet. The file has {plan.describe(done=False)}")
        self.show_info("The file can be imported.")
        self._update_buttons()

    def _refused(self, exc: BaseException) -> None:
        self._checked_ok = False
        if isinstance(exc, ImportRefused):
            self.problems.setPlainText("\n".join(str(p) for p in exc.problems))
        self._update_buttons()

    def run_import(self) -> None:
        path = self.path
        if path is None or not self._checked_ok:
            return
        if not _ask.confirm(self, self.CONFIRM_TITLE, self.CONFIRM_TEXT.format(name=path.name), yes=self.CONFIRM_YES):
            return
        self._checked_ok = False
        self.call(lambda s: self.apply_file(s, importer.read_csv_file(path)), self._imported, failed=self._refused,
                  working=self.APPLYING)

    def _imported(self, changes) -> None:
        self.result.setText(changes.summary)
        self._update_buttons()

    def clear(self) -> None:
        super().clear()
        self.path = None
        self._checked_ok = False
        self.file_label.setText("No file chosen.")
        self.result.clear()
        self.problems.clear()
        self._update_buttons()
