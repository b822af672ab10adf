"""Practice list (practice manager): bring the register up to date with the practice's list
of registered patients, exported from the clinical system as CSV (services/practice_list.py,
as `gp-optout practice-list import`): checked first with nothing written, the screen saying in
counts what would change (new patients, details updated, patients now deducted, deceased or
re-registered, superseded NHS numbers, and registered patients not in the file, who are never
changed); then imported, all rows or none. On either engine (ui/screens/_csv_import.py)."""

from __future__ import annotations

from ...services import practice_list
from ._csv_import import CsvImportScreen

TITLE = "Practice list"


class PracticeListScreen(CsvImportScreen):
    CHOOSE_TITLE = "Choose the practice's patient list exported from the clinical system"
    APPLY_LABEL = "&Bring the register up to date…"
    CONFIRM_TITLE = "Import the practice list"
    CONFIRM_TEXT = ("Bring the register up to date with every row of {name}? New patients are added, details and "
                    "registration states are changed as the file says; patients not in the file stay as they are.")
    CONFIRM_YES = "Import the list"
    APPLYING = "Bringing the register up to date…"

    def __init__(self, session_provider, bus, parent=None):
        super().__init__(session_provider, bus, TITLE, (
            "Keep the register in step with the practice's patient list, so that letters and notices go only to "
            "patients still with the practice. In the clinical system, export the registered patients (and those "
            "who left or died) as a CSV file with these columns: <b>NHS number, surname, forename(s), date of "
            "birth, postcode, registration status</b> (registration date, date of death, previous NHS number, "
            "title and address lines too, if you have them). Patients are matched by NHS number; importing the "
            "same file twice changes nothing. Patients in the register but not in the file are counted, never "
            "deducted: a partial export must not remove anyone."), parent)

    def check_file(self, session, text: str):
        return practice_list.check(session, text)

    def apply_file(self, session, text: str):
        return practice_list.import_list(session, text)


def create(session_provider, bus) -> PracticeListScreen:
    return PracticeListScreen(session_provider, bus)
