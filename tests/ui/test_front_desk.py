"""Search as you type on the real window; Enter opens; nothing found offers a new patient."""

from __future__ import annotations

from PySide6.QtCore import Qt

from gp_optout_desktop.domain import nhs_number
from gp_optout_desktop.ui.desk import NEW, PATIENT


def test_search_as_you_type_debounced(qtbot, desk):
    front = desk.desk.front
    qtbot.keyClicks(front.search, "Jo")
    assert front.model.rowCount() == 0  # not yet: the search waits for a pause in typing
    qtbot.waitUntil(lambda: front.model.rowCount() > 0, timeout=2000)
    names = [front.model.data(front.model.index(r, 1)) for r in range(front.model.rowCount())]
    assert all(n.startswith("JO") for n in names)
    assert front.summary.text() == f"{len(names)} patients found."
    qtbot.keyClicks(front.search, "nes, ")
    qtbot.waitUntil(lambda: front.model.query == "Jones, ", timeout=2000)
    assert all(front.model.data(front.model.index(r, 1)).startswith("JONES,") for r in range(front.model.rowCount()))


def test_nhs_number_then_enter_opens_the_patient(qtbot, desk, add_patient):
    number = nhs_number.synthetic(610_000)
    add_patient(desk.session, surname="Enterkey", forenames="Robin", nhs=number)
    front = desk.desk.front
    qtbot.keyClicks(front.search, f"{number[:3]} {number[3:6]} {number[6:]}")
    qtbot.keyClick(front.search, Qt.Key.Key_Return)  # before the debounce fired: it searches first
    assert desk.desk.currentIndex() == PATIENT
    assert desk.desk.patient.name.text() == "Robin Enterkey"
    assert desk.desk.patient.status_labels["type1"].text() == "No Type 1 objection recorded"


def test_down_arrow_then_enter_opens_the_chosen_row(qtbot, desk):
    front = desk.desk.front
    qtbot.keyClicks(front.search, "Smith")
    qtbot.waitUntil(lambda: front.model.rowCount() > 1, timeout=2000)
    second = front.model.patient_id(1)
    qtbot.keyClick(front.search, Qt.Key.Key_Down)
    assert front.table.hasFocus()
    qtbot.keyClick(front.table, Qt.Key.Key_Down)
    qtbot.keyClick(front.table, Qt.Key.Key_Return)
    assert desk.desk.currentIndex() == PATIENT
    assert desk.desk.patient.patient_id == second
    assert "Smith" in desk.desk.patient.name.text()
    qtbot.keyClick(desk.desk.patient, Qt.Key.Key_Escape)
    assert desk.desk.currentIndex() == 0 and desk.desk.patient.name.text() == ""


def test_nothing_found_offers_a_prefilled_new_patient(qtbot, desk):
    front = desk.desk.front
    qtbot.keyClicks(front.search, "Qwertyname, Sam")
    qtbot.waitUntil(lambda: front.summary.text() == "No patient found.", timeout=2000)
    assert front.not_found_button.isVisible()
    assert not front.open_button.isEnabled()
    qtbot.keyClick(front.search, Qt.Key.Key_Return)
    assert desk.desk.currentIndex() == NEW
    assert desk.desk.new.edits["surname"].text() == "Qwertyname"
    assert desk.desk.new.edits["forenames"].text() == "Sam"


def test_two_matches_and_enter_opens_nobody_until_the_user_picks(qtbot, desk, add_patient):
    first = add_patient(desk.session, surname="Twinsearch", forenames="Freya", dob="1991-02-03")
    second = add_patient(desk.session, surname="Twinsearch", forenames="Wyn", dob="1991-02-03")
    front = desk.desk.front
    qtbot.keyClicks(front.search, "03/02/1991")
    qtbot.keyClick(front.search, Qt.Key.Key_Return)  # before the debounce: it searches, finds two
    assert front.model.rowCount() == 2 and desk.desk.currentIndex() == 0
    assert front.table.hasFocus() and not front.table.currentIndex().isValid()
    assert "Choose one" in front.summary.text()
    qtbot.keyClick(front.table, Qt.Key.Key_Return)  # Enter again with nobody chosen: still nobody opens
    assert desk.desk.currentIndex() == 0
    front.record_button.click()  # nor does Record objection pick someone
    assert desk.desk.currentIndex() == 0
    qtbot.keyClick(front.table, Qt.Key.Key_Down)
    qtbot.keyClick(front.table, Qt.Key.Key_Down)
    chosen = front.model.patient_id(front.table.currentIndex().row())
    qtbot.keyClick(front.table, Qt.Key.Key_Return)
    assert desk.desk.currentIndex() == PATIENT and desk.desk.patient.patient_id == chosen
    assert {first, second} >= {chosen}


def test_exactly_one_match_opens_on_enter(qtbot, desk, add_patient):
    only = add_patient(desk.session, surname="Onlyone", forenames="Sol", dob="1992-02-03")
    front = desk.desk.front
    qtbot.keyClicks(front.search, "Onlyone")
    qtbot.keyClick(front.search, Qt.Key.Key_Return)
    assert desk.desk.currentIndex() == PATIENT and desk.desk.patient.patient_id == only


def test_up_from_the_first_row_goes_back_to_the_search_and_down_with_nothing_found_stays(qtbot, desk):
    front = desk.desk.front
    qtbot.keyClicks(front.search, "Smith")
    qtbot.waitUntil(lambda: front.model.rowCount() > 1, timeout=2000)
    qtbot.keyClick(front.search, Qt.Key.Key_Down)
    assert front.table.hasFocus() and front.table.currentIndex().row() == 0
    qtbot.keyClick(front.table, Qt.Key.Key_Down)
    qtbot.keyClick(front.table, Qt.Key.Key_Up)  # row 1 -> row 0: the table moves
    assert front.table.hasFocus() and front.table.currentIndex().row() == 0
    qtbot.keyClick(front.table, Qt.Key.Key_Up)  # from the first row: back to typing
    assert front.search.hasFocus() and desk.desk.currentIndex() == 0
    front.search.clear()
    qtbot.keyClicks(front.search, "Qwertynobody")
    qtbot.waitUntil(lambda: front.summary.text() == "No patient found.", timeout=2000)
    qtbot.keyClick(front.search, Qt.Key.Key_Down)  # nothing to move to: the key is the box's own
    assert front.search.hasFocus()
