"""Import (practice manager): bring in the objections already coded in the clinical system
from a CSV file. The file is checked first (nothing written) and the screen says what would
change; importing is all rows or none. Problems are listed by row number only: the screen
never repeats a patient from the file.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout

from ...domain.import_rows import ImportRefused
from ...services import importer
from ...services.session import code_table
from . import _ask, _paths
from .base import Screen

TITLE = "Import"


def codes_help() -> str:
    table = code_table()
    lines = []
    for code in table.codes:
        lines.append(f"{code.meaning.split(':')[0]}: Read v2 {code.read_v2}, CTV3 {code.ctv3}, SNOMED CT {code.snomed}")
    return "\n".join(lines)


class ImportScreen(Screen):
    AREAS = frozenset()  # shows nothing from the register: no change needs a reload

    def __init__(self, session_provider, bus, parent=None):
        super().__init__(session_provider, bus, TITLE, parent)
        self.path: Path | None = None
        intro = QLabel(
            "Bring in the objections already coded in the practice's clinical system, so that nobody has to type "
            "them again. In the clinical system, search for patients with any of the codes below and export the "
            "result as a CSV file with one row per coded event and these columns: <b>NHS number, surname, "
            "forename(s), date of birth, postcode, clinical code, code date</b> (title and address lines too, if "
            "you have them). Patients already in the register are matched by NHS number; events already recorded "
            "are skipped, so importing the same file twice changes nothing. No letters are queued.")
        intro.setWordWrap(True)
        self.outer.addWidget(intro)
        codes = QLabel(codes_help())
        codes.setAccessibleName("Codes the import recognises")
        codes.setStyleSheet("color: #333333;")
        self.outer.addWidget(codes)

        box = QGroupBox("The file")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.choose_button = QPushButton("&Choose the CSV file…")
        self.choose_button.clicked.connect(self.choose)
        self.file_label = QLabel("No file chosen.")
        self.file_label.setAccessibleName("Chosen file")
        self.check_button = QPushButton("C&heck it again")
        self.check_button.clicked.connect(self.check)
        self.import_button = QPushButton("&Import…")
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

    def refresh(self) -> None:
        """Nothing to load: the screen starts from a file the manager chooses."""

    def _update_buttons(self) -> None:
        self.check_button.setEnabled(self.path is not None and not self.busy)
        self.import_button.setEnabled(self._checked_ok and not self.busy)

    def _on_busy(self, busy: bool) -> None:
        super()._on_busy(busy)
        self._update_buttons()

    def choose(self) -> None:
        path = _paths.choose_open_file(self, "Choose the CSV file exported from the clinical system", Path.home(),
                                       "CSV files (*.csv *.txt)")
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
        self.call(lambda s: importer.check(s, importer.read_csv_file(path)), self._checked, failed=self._refused,
                  working="Checking every row…")

    def _checked(self, plan: importer.ImportPlan) -> None:
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
        if not _ask.confirm(self, "Import the objections",
                            f"Import every row of {path.name} into the register? Each new event is recorded as "
                            "imported from the clinical system and already coded there.", yes="Import"):
            return
        self._checked_ok = False
        self.call(lambda s: importer.import_objections(s, importer.read_csv_file(path)), self._imported, failed=self._refused,
                  working="Importing…")

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


def create(session_provider, bus) -> ImportScreen:
    return ImportScreen(session_provider, bus)
