"""A keyboard-only objection for an adult and two children, counted key by key through the
real window: the desk's budget is 45 keystrokes (issue 12). Every key press counts, each
character typed included; the read-back dialog's Enter counts as one."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from gp_optout_desktop.domain import nhs_number
from gp_optout_desktop.services import patients
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.desk import DONE, PATIENT, RECORD

BUDGET = 45


class Keys:
    def __init__(self, qtbot):
        self.qtbot, self.count = qtbot, 0

    def type(self, text: str) -> None:
        self.qtbot.keyClicks(QApplication.focusWidget(), text)
        self.count += len(text)

    def press(self, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
        self.qtbot.keyClick(QApplication.focusWidget(), key, modifier)
        self.count += 1


def test_an_adult_and_two_children_in_at_most_45_keystrokes(qtbot, desk, add_patient):
    numbers = [nhs_number.synthetic(630_000 + i) for i in range(3)]
    adult = add_patient(desk.session, surname="Keycount", forenames="Ann", dob="1980-05-05", nhs=numbers[0])
    kids = [add_patient(desk.session, surname="Keycount", forenames=f, dob=d, nhs=n)
            for f, d, n in (("Bea", "2014-01-01", numbers[1]), ("Cy", "2017-01-01", numbers[2]))]
    keys = Keys(qtbot)
    desk.desk.front.focus_search()
    keys.type(numbers[0])
    keys.press(Qt.Key.Key_Return)  # exactly one match: opens
    assert desk.desk.currentIndex() == PATIENT
    keys.press(Qt.Key.Key_F4)  # record an objection
    assert desk.desk.currentIndex() == RECORD
    keys.press(Qt.Key.Key_N, Qt.KeyboardModifier.AltModifier)  # to the dependants search
    assert desk.desk.record.dep_search.hasFocus()
    for number in numbers[1:]:
        keys.type(number)
        keys.press(Qt.Key.Key_Return)  # the only match is added
    assert desk.desk.record.dependant_ids() == kids
    dialogs.set_next_answer("Record")
    keys.press(Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    keys.count += 1  # Enter on the read-back dialog (its default button is Record)
    assert desk.desk.currentIndex() == DONE
    assert all(patients.view(desk.session, pid).statuses["type1"].active for pid in (adult, *kids))
    assert keys.count <= BUDGET, keys.count
    print(f"keystrokes for an adult and two children: {keys.count} (budget {BUDGET})")


def test_f_keys_from_the_desk(qtbot, desk, add_patient):
    pid = add_patient(desk.session, surname="Fkeys", forenames="Flo")
    front = desk.desk.front
    front.focus_search()
    qtbot.keyClicks(front.search, "Fkeys")
    qtbot.keyClick(front.search, Qt.Key.Key_F4)  # one match: record for them
    assert desk.desk.currentIndex() == RECORD and desk.desk.record.patient_id == pid
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_F2)  # untouched form: straight back to the search
    assert desk.desk.currentIndex() == 0 and front.search.hasFocus()
    qtbot.keyClick(front.search, Qt.Key.Key_F3)  # a new patient, prefilled from the search
    assert desk.desk.new.edits["surname"].text() == "Fkeys"
    qtbot.keyClicks(desk.desk.new.edits["forenames"], "Typed")
    dialogs.set_next_answer("Keep editing")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_F2)  # a typed form asks first
    assert dialogs.shown[-1][0] == "Discard this form?" and desk.desk.new.edits["forenames"].text() == "Typed"
