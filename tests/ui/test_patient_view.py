"""The patient view: status in plain words, withdraw, mark coded, NDOO signpost."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import Qt

from gp_optout_desktop.services import objections, patients
from tests.in_force_helpers import confirm
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.desk import DONE, PATIENT, RECORD


def _objector(desk, add_patient, surname):
    pid = add_patient(desk.session, surname=surname, forenames="Pat")
    objections.record(desk.session, pid, effective=date(2014, 1, 6), received=date(2014, 1, 6), via="post")
    return pid


def test_status_history_and_letters_in_plain_words(qtbot, desk, add_patient):
    pid = _objector(desk, add_patient, "Plainwords")
    desk.desk.open_patient(pid)
    view = desk.desk.patient
    assert view.status_labels["type1"].text() == "Objects to their GP data leaving the practice, since 6 Jan 2014"
    assert view.status_labels["type2"].text() == "No Type 2 objection recorded"
    assert view.effect.text().startswith("Objection received. Not yet in force")
    assert "Their GP data stays in the practice" not in view.effect.text()
    assert view.pending.text().startswith("Pending: the practice manager adds the code in the clinical system")
    assert view.local_effect.text().startswith("The practice's own extracts leave them out: the exclusion file lists")
    assert view.history.rowCount() == 1
    cells = [view.history.item(0, c).text() for c in range(view.history.columnCount())]
    assert cells[:4] == ["6 Jan 2014", "Type 1 objection recorded", "6 Jan 2014", "by post"]
    assert cells[4].startswith("reception, ") and cells[5] == "The patient" and cells[6] == "Not yet coded"
    assert view.letters.item(0, 0).text() == "Acknowledgement of an objection (code pending)"  # as it would print
    assert view.letters.item(0, 3).text() == "Not yet sent"
    assert view.withdraw_button.isEnabled()


def test_withdraw_confirmed_through_the_dialog_function(qtbot, desk, add_patient):
    pid = _objector(desk, add_patient, "Withdrawer")
    desk.desk.open_patient(pid)
    desk.desk.patient.withdraw_button.click()
    assert desk.desk.currentIndex() == RECORD
    form = desk.desk.record
    assert form.title.text() == "Record a withdrawal" and not form.dep_box.isVisible()
    dialogs.set_next_answer("Cancel")
    form.save_button.click()
    assert desk.desk.currentIndex() == RECORD
    assert patients.view(desk.session, pid).statuses["type1"].active  # nothing withdrawn
    dialogs.set_next_answer("Withdraw")
    form.save_button.click()
    assert desk.desk.currentIndex() == DONE
    assert desk.desk.done.text.text().startswith("Type 1 objection withdrawn for Pat Withdrawer.")
    assert [t for t, _ in dialogs.shown] == ["Withdraw the objection?", "Withdraw the objection?"]
    desk.desk.done.open_button.click()
    assert desk.desk.currentIndex() == PATIENT
    status = desk.desk.patient.status_labels["type1"].text()
    assert status == f"Does not object (Type 1 objection withdrawn {date.today().day} {date.today():%b %Y})"
    assert not desk.desk.patient.withdraw_button.isEnabled()
    assert desk.desk.patient.effect.text().startswith("Withdrawal received. Not yet in force")
    assert desk.desk.patient.local_effect.text().startswith("The practice's own extracts may include them")
    assert not patients.view(desk.session, pid).statuses["type1"].active


def test_mark_coded_and_signpost(qtbot, desk, add_patient):
    pid = _objector(desk, add_patient, "Codedone")
    desk.desk.open_patient(pid)
    view = desk.desk.patient
    assert not view.coded_button.isEnabled()  # nothing selected yet
    view.history.selectRow(0)
    assert view.coded_button.isEnabled()
    view.coded_button.click()
    assert view.message.text() == ("Marked as coded; not yet confirmed: it counts as in force once a reconciliation "
                                   "finds the code in the clinical system.")
    today = date.today()
    # A tick is a claim, not a proof: shown with who made it, and still not in force.
    marked = f"marked coded by reception on {today.day} {today:%b %Y}, not yet confirmed"
    assert view.history.item(0, 6).text() == marked[0].upper() + marked[1:]
    assert view.effect.text().startswith(f"Objection received; {marked}. Not yet in force")
    assert "stays in the practice" not in view.effect.text()
    assert view.pending.text().startswith("Pending: the next reconciliation against the clinical system's export")
    assert not view.coded_button.isEnabled() or not view.history.selectedItems()
    assert patients.view(desk.session, pid).history[0].coded_by == "reception"
    # A reconciliation finds the code in the clinical system's export: now, and only now, in force.
    confirm(desk.session, pid)
    desk.desk.open_patient(pid)
    assert view.effect.text() == (f"Their GP data stays in the practice: the Type 1 code was confirmed in the "
                                  f"clinical system on {today.day} {today:%b %Y}, so national extractions leave "
                                  "them out (except for direct care and what Type 1 does not stop).")
    assert not view.pending.isVisibleTo(view) and view.pending.text() == ""
    assert view.history.item(0, 6).text() == f"Confirmed {today.day} {today:%b %Y} (reconciliation test)"
    assert view.signposted.text() == "Not signposted yet"
    view.signpost_button.click()
    assert view.signposted.text() == f"Signposted on {today.day} {today:%b %Y}"
    assert patients.view(desk.session, pid).signposts == [today]


def test_escape_goes_back_and_forgets_the_patient(qtbot, desk, add_patient):
    pid = _objector(desk, add_patient, "Escaper")
    desk.desk.open_patient(pid)
    assert desk.desk.currentIndex() == PATIENT
    qtbot.keyClick(desk.desk.patient.record_button, Qt.Key.Key_Escape)
    assert desk.desk.currentIndex() == 0
    assert desk.desk.patient.history.rowCount() == 0 and desk.desk.patient.name.text() == ""


def test_an_objector_without_an_nhs_number_is_flagged(qtbot, desk, add_patient):
    pid = add_patient(desk.session, surname="Unnumbered", forenames="Pat", nhs=None)
    objections.record(desk.session, pid)
    desk.desk.open_patient(pid)
    effect = desk.desk.patient.local_effect
    assert effect.text().startswith("Objects, but no NHS number is recorded") and "Add their NHS number" in effect.text()
    assert "a4000f" in effect.styleSheet()  # shown as a warning


def test_add_the_missing_nhs_number_from_the_record(qtbot, desk, add_patient):
    from gp_optout_desktop.domain.nhs_number import synthetic
    from gp_optout_desktop.services import session as session_service, audit as audit_service
    from gp_optout_desktop.ui.desk import NEW

    pid = add_patient(desk.session, surname="Unnumbered", forenames="Pat", nhs=None, address=["1 Lane"])
    other = add_patient(desk.session, surname="Numbered", forenames="Sam")
    taken = patients.view(desk.session, other).patient.nhs_number
    objections.record(desk.session, pid)
    desk.desk.open_patient(pid)
    view = desk.desk.patient
    assert view.local_effect.text().startswith("Objects, but no NHS number")

    view.edit_button.click()
    form = desk.desk.new
    assert desk.desk.currentIndex() == NEW and form.title.text() == "Correct the patient's details"
    assert form.edits["surname"].text() == "Unnumbered" and form.edits["address1"].text() == "1 Lane"
    assert form.edits["nhs_number"].hasFocus()  # the field that is missing

    form.save()  # nothing typed yet
    assert "Nothing was changed." in form.general.text()
    form.edits["nhs_number"].setText(taken)  # somebody else's number
    form.save()
    assert "already has this NHS number" in form.messages["nhs_number"].text()
    assert patients.view(desk.session, pid).patient.nhs_number is None

    new_number = synthetic(700_000)
    form.edits["nhs_number"].setText(new_number)
    qtbot.keyClick(form.edits["nhs_number"], Qt.Key.Key_Return)
    assert desk.desk.currentIndex() == PATIENT
    assert view.message.text() == "Updated Pat Unnumbered's NHS number."
    assert view.local_effect.text().startswith("The practice's own extracts leave them out: the exclusion file lists")
    assert patients.view(desk.session, pid).patient.nhs_number == new_number

    manager = session_service.unlock(desk.session.folder, "manager", "manager-demo-pass")
    try:
        (row,) = audit_service.query(manager, action="patient.update")
    finally:
        manager.lock()
    assert row.patient == new_number and row.detail == "changed=nhs_number previous_nhs=none"

    # Esc from a correction goes back to the patient, not the search.
    view.edit_button.click()
    qtbot.keyClick(form.edits["surname"], Qt.Key.Key_Escape)
    assert desk.desk.currentIndex() == PATIENT and view.patient_id == pid


def test_type2_recorded_in_error_letter_from_the_record(qtbot, desk, add_patient):
    from gp_optout_desktop.services import letters as letters_service

    pid = add_patient(desk.session, surname="Latetype", forenames="Two")
    desk.desk.open_patient(pid)
    view = desk.desk.patient
    dialogs.set_next_answer("Cancel")
    view.type2_letter_button.click()
    assert [p for p in letters_service.pending(desk.session) if p.patient_id == pid] == []
    dialogs.set_next_answer("Queue the letter")
    view.type2_letter_button.click()
    assert view.message.text().startswith("Letter queued: Type 2 recorded in error")
    assert [p.kind for p in letters_service.pending(desk.session) if p.patient_id == pid] == ["type2_in_error"]
    assert view.signposted.text().startswith("Signposted on")


def test_says_when_the_change_is_not_in_the_exclusion_file_yet(qtbot, desk, add_patient, tmp_path):
    from gp_optout_desktop.services import exclusion, session as session_service

    pid = _objector(desk, add_patient, "Notyet")
    desk.desk.open_patient(pid)
    assert "(Changed since the exclusion file was last written" in desk.desk.patient.local_effect.text()
    manager = session_service.unlock(desk.session.folder, "manager", "manager-demo-pass")
    try:
        exclusion.export(manager, tmp_path / "exclusions")
    finally:
        manager.lock()
    desk.desk.open_patient(pid)
    assert desk.desk.patient.local_effect.text() == "The practice's own extracts leave them out: the exclusion file lists them."
