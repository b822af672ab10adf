"""Import (practice manager): bring in the objections already coded in the clinical system
from a CSV file. The file is checked first (nothing written) and the screen says what would
change; importing is all rows or none. Problems are listed by row number only: the screen
never repeats a patient from the file (ui/screens/_csv_import.py).
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from ...services import importer
from ...services.session import code_table
from ._csv_import import CsvImportScreen

TITLE = "Import"


def codes_help() -> str:
    table = code_table()
    lines = []
    for code in table.codes:
        lines.append(f"{code.meaning.split(':')[0]}: Read v2 {code.read_v2}, CTV3 {code.ctv3}, SNOMED CT {code.snomed}")
    return "\n".join(lines)


class ImportScreen(CsvImportScreen):
    CONFIRM_TITLE = "Import the objections"
    CONFIRM_TEXT = ("Import every row of {name} into the register? Each new event is recorded as imported from the "
                    "clinical system and already coded there.")
    CONFIRM_YES = "Import"

    def __init__(self, session_provider, bus, parent=None):
        super().__init__(session_provider, bus, TITLE, (
            "Bring in the objections already coded in the practice's clinical system, so that nobody has to type "
            "them again. In the clinical system, search for patients with any of the codes below and export the "
            "result as a CSV file with one row per coded event and these columns: <b>NHS number, surname, "
            "forename(s), date of birth, postcode, clinical code, code date</b> (title and address lines too, if "
            "you have them). Patients already in the register are matched by NHS number; events already recorded "
            "are skipped, so importing the same file twice changes nothing. No letters are queued."), parent)

    def add_before_file(self) -> None:
        codes = QLabel(codes_help())
        codes.setAccessibleName("Codes the import recognises")
        codes.setStyleSheet("color: #333333;")
        self.outer.addWidget(codes)

    def check_file(self, session, text: str):
        return importer.check(session, text)

    def apply_file(self, session, text: str):
        return importer.import_objections(session, text)


def create(session_provider, bus) -> ImportScreen:
    return ImportScreen(session_provider, bus)
