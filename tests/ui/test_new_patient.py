"""The new-patient form: NHS number and postcode checked as typed; a bad one is refused."""

from __future__ import annotations

from PySide6.QtCore import Qt

from gp_optout_desktop.domain import nhs_number
from gp_optout_desktop.services import patients
from gp_optout_desktop.ui.desk import NEW, RECORD
from gp_optout_desktop.ui.new_patient import prefill_from_query


def _fill(qtbot, form, **values):
    for name, value in values.items():
        form.edits[name].clear()
        if value.isascii():
            qtbot.keyClicks(form.edits[name], value)
        else:  # QTest can only type ASCII; a name like Siân is pasted
            form.edits[name].insert(value)


def test_invalid_nhs_number_is_refused_with_the_reason_shown(qtbot, desk):
    desk.desk.new_patient("")
    form = desk.desk.new
    assert desk.desk.currentIndex() == NEW
    qtbot.keyClicks(form.edits["nhs_number"], "943 476")
    assert form.messages["nhs_number"].text() == "6 of 10 digits"
    qtbot.keyClicks(form.edits["nhs_number"], " 5918")  # the right number ends 5919
    reason = form.messages["nhs_number"].text()
    assert reason == "Not a valid NHS number: the check digit does not match (a digit may be mistyped)."
    _fill(qtbot, form, surname="Badnumber", forenames="Jo", dob="06/01/1970", postcode="ls1 4ap")
    assert form.messages["postcode"].text() == "Valid postcode format (LS1 4AP)"
    qtbot.keyClick(form.edits["postcode"], Qt.Key.Key_Return)  # try to save
    assert desk.desk.currentIndex() == NEW
    assert form.messages["nhs_number"].isVisible() and form.messages["nhs_number"].text() == reason
    assert form.edits["nhs_number"].hasFocus()
    assert patients.find_ids(desk.session, "Badnumber") == []


def test_postcode_checked_as_typed(qtbot, desk):
    desk.desk.new_patient("")
    form = desk.desk.new
    qtbot.keyClicks(form.edits["postcode"], "QA1")
    assert form.messages["postcode"].text().startswith("Keep typing")
    qtbot.keyClicks(form.edits["postcode"], " 1AA")
    assert "not a UK postcode" in form.messages["postcode"].text()
    form.edits["postcode"].setText("ZZ99 3VZ")
    assert "pseudo-postcode" in form.messages["postcode"].text()


def test_valid_patient_saved_then_the_objection_form_opens(qtbot, desk):
    number = nhs_number.synthetic(630_000)
    desk.desk.new_patient("")
    form = desk.desk.new
    _fill(qtbot, form, nhs_number=nhs_number.display(number), title="Ms", surname="O'Newcomer",
          forenames="Siân", dob="1985-02-03", address1="1 High Street", postcode="cf10 1aa")
    assert form.messages["nhs_number"].text() == "Valid NHS number"
    qtbot.keyClick(form.edits["postcode"], Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert desk.desk.currentIndex() == RECORD
    assert desk.desk.record.general.text() == "Added Ms Siân O'Newcomer."
    [pid] = patients.find_ids(desk.session, number)
    saved = patients.view(desk.session, pid).patient
    assert (saved.surname, saved.postcode, str(saved.dob), saved.address) == ("O'Newcomer", "CF10 1AA", "1985-02-03",
                                                                               ("1 High Street",))


def test_duplicate_nhs_number_shown_beside_the_field(qtbot, desk, add_patient):
    number = nhs_number.synthetic(640_000)
    add_patient(desk.session, surname="Firstholder", nhs=number)
    desk.desk.new_patient(number)  # prefilled from the search
    form = desk.desk.new
    assert form.edits["nhs_number"].text() == nhs_number.display(number)
    _fill(qtbot, form, surname="Secondholder", forenames="Al", dob="01/01/1990", postcode="LS1 4AP")
    form.save_button.click()
    assert "already in the register" in form.messages["nhs_number"].text()
    assert patients.find_ids(desk.session, "Secondholder") == []


def test_prefill_from_query():
    assert prefill_from_query("9434765919") == {"nhs": "943 476 5919"}
    assert prefill_from_query("06/01/1970") == {"dob": "06/01/1970"}
    assert prefill_from_query("ls14ap") == {"postcode": "LS1 4AP"}
    assert prefill_from_query("Smith, J") == {"surname": "Smith", "forenames": "J"}
    assert prefill_from_query("") == {}


def test_every_problem_is_shown_at_once_with_focus_on_the_first(qtbot, desk):
    from gp_optout_desktop.ui.desk import NEW

    desk.desk.new_patient("")
    form = desk.desk.new
    assert desk.desk.currentIndex() == NEW
    form.edits["nhs_number"].setText("999 000 0019")  # a wrong check digit
    form.edits["dob"].setText("31/02/1990")
    form.edits["postcode"].setText("ZZ")
    form.save_button.click()
    for field in ("nhs_number", "surname", "forenames", "dob", "postcode"):
        assert form.messages[field].isVisible() and form.messages[field].text(), field
    assert form.edits["nhs_number"].hasFocus()  # the first in the form's order
    assert desk.desk.currentIndex() == NEW


def test_a_date_of_birth_typed_the_short_way_is_one_field(qtbot, desk):
    from gp_optout_desktop.services import patients

    desk.desk.new_patient("")
    form = desk.desk.new
    for name, value in (("surname", "Shortdate"), ("forenames", "Sam"), ("dob", "1/2/85"), ("postcode", "LS1 4AP")):
        form.edits[name].setText(value)
    form.save_button.click()
    found = patients.find(desk.session, "Shortdate")
    assert [(p.name.split(",")[0], p.dob.isoformat()) for p in found] == [("SHORTDATE", "1985-02-01")]


def test_escape_asks_before_throwing_away_a_typed_form(qtbot, desk):
    from PySide6.QtCore import Qt

    from gp_optout_desktop.ui import dialogs
    from gp_optout_desktop.ui.desk import NEW

    desk.desk.new_patient("")
    form = desk.desk.new
    qtbot.keyClicks(form.edits["surname"], "Halfdone")
    dialogs.set_next_answer("Keep editing")
    qtbot.keyClick(form.edits["surname"], Qt.Key.Key_Escape)
    assert desk.desk.currentIndex() == NEW and form.edits["surname"].text() == "Halfdone"
    assert dialogs.shown[-1][0] == "Discard this form?"
    dialogs.set_next_answer("&Discard")
    qtbot.keyClick(form.edits["surname"], Qt.Key.Key_Escape)
    assert desk.desk.currentIndex() == 0
    desk.desk.new_patient("")  # an untouched form goes back without a question
    asked = len(dialogs.shown)
    qtbot.keyClick(desk.desk.new.edits["surname"], Qt.Key.Key_Escape)
    assert desk.desk.currentIndex() == 0 and len(dialogs.shown) == asked
