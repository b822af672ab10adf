"""Recording an objection with the keyboard alone; inline errors; Type 2 refused; dependants."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from gp_optout_desktop.domain import acting_for, nhs_number
from gp_optout_desktop.services import patients
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.desk import DONE, PATIENT, RECORD


def _type1(session, patient_id):
    return patients.view(session, patient_id).statuses["type1"]


def test_record_objection_with_the_keyboard_alone(qtbot, desk, add_patient):
    number = nhs_number.synthetic(620_000)
    pid = add_patient(desk.session, surname="Keyboardonly", forenames="Kim", nhs=number)
    front = desk.desk.front
    qtbot.keyClicks(front.search, number)
    qtbot.keyClick(front.search, Qt.Key.Key_Return)  # open the patient
    assert desk.desk.currentIndex() == PATIENT
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert desk.desk.currentIndex() == RECORD
    form = desk.desk.record
    assert form.type1.isChecked() and form.type1.hasFocus()
    assert form.effective.date() == form.received.date()  # today, both
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is form.via
    qtbot.keyClick(form.via, Qt.Key.Key_Down)  # in person at the desk -> by post
    assert form.via.currentData() == "post"
    dialogs.set_next_answer("Record")  # the read-back of who it is for
    qtbot.keyClick(form.via, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # save
    assert dialogs.shown[-1][0] == "Check who it is for" and "Kim Keyboardonly, " in dialogs.shown[-1][1]
    assert desk.desk.currentIndex() == DONE
    summary = desk.desk.done.text.text()
    assert summary.startswith("Type 1 objection recorded for Kim Keyboardonly.")
    assert "Received, not yet in force" in summary and "the practice manager adds the code" in summary
    assert "A letter is queued" in summary
    record = patients.view(desk.session, pid)
    assert record.statuses["type1"].active
    assert record.history[-1].via == "post" and record.history[-1].recorded_by == "reception"
    assert len(record.letters) == 1 and record.letters[0]["sent_at"] is None
    qtbot.keyClick(desk.desk.done.next_button, Qt.Key.Key_Return)  # next patient
    assert desk.desk.currentIndex() == 0 and front.search.hasFocus()


def test_type2_after_cutoff_is_refused_with_the_reason(qtbot, desk, add_patient):
    pid = add_patient(desk.session, surname="Latetypetwo")
    desk.desk.record_objection(pid)
    form = desk.desk.record
    form.type2.setChecked(True)
    dialogs.set_next_answer("Record")
    form.save_button.click()
    assert desk.desk.currentIndex() == RECORD
    assert form.messages["type"].isVisible()
    assert "cannot be recorded" in form.messages["type"].text()
    assert "National Data Opt-out" in form.messages["type"].text()
    assert patients.view(desk.session, pid).history == []


def test_proxy_without_evidence_shown_beside_the_field(qtbot, desk, add_patient):
    pid = add_patient(desk.session, surname="Proxied")
    desk.desk.record_objection(pid)
    form = desk.desk.record
    form.proxy_box.setChecked(True)
    form.proxy_role.setCurrentIndex(form.proxy_role.findData("lpa_health_welfare"))
    qtbot.keyClicks(form.proxy_name, "Pat Attorney")
    form.save_button.click()
    assert form.messages["proxy_evidence"].isVisible()
    assert "evidence" in form.messages["proxy_evidence"].text()
    qtbot.keyClicks(form.proxy_evidence, "OPG VALIDATED-OPG stamp seen")
    dialogs.set_next_answer("Record")
    qtbot.keyClick(form.proxy_evidence, Qt.Key.Key_Return)
    assert "lacks capacity" in form.messages["proxy_role"].text()  # an LPA needs the donor to lack capacity
    form.proxy_lacks_capacity.setChecked(True)
    dialogs.set_next_answer("Record")
    qtbot.keyClick(form.proxy_evidence, Qt.Key.Key_Return)
    assert desk.desk.currentIndex() == DONE
    event = patients.view(desk.session, pid).history[-1]
    assert event.proxy.name == "Pat Attorney" and event.proxy.role == "lpa_health_welfare"
    assert event.proxy.verified_by == "reception"


def test_dependants_added_on_the_same_form(qtbot, desk, add_patient):
    parent = add_patient(desk.session, surname="Famparent", forenames="Alex", dob="1980-01-01")
    child = add_patient(desk.session, surname="Famchild", forenames="Bo", dob="2015-03-04")
    desk.desk.record_objection(parent)
    form = desk.desk.record
    qtbot.keyClicks(form.dep_search, "Famchild")
    qtbot.keyClick(form.dep_search, Qt.Key.Key_Return)  # adds the only match
    assert form.dependant_ids() == [child]
    assert form.dep_search.text() == "" and form.dep_search.hasFocus()
    dialogs.set_next_answer("Go back")
    qtbot.keyClick(form.dep_search, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    title, text = dialogs.shown[-1]
    age = acting_for.age_on(date(2015, 3, 4), desk.session.today())
    assert title == "Check who it is for" and text.startswith("Record a Type 1 objection for these 2 people?")
    assert f"• Alex Famparent, {acting_for.age_on(date(1980, 1, 1), desk.session.today())}, born 1 Jan 1980" in text
    assert f"• Bo Famchild, {age}, born 4 Mar 2015" in text
    assert desk.desk.currentIndex() == RECORD and _type1(desk.session, child).event is None  # Go back saves nothing
    dialogs.set_next_answer("Record")
    qtbot.keyClick(form.dep_search, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert desk.desk.currentIndex() == DONE
    assert "Alex Famparent, Bo Famchild" in desk.desk.done.text.text()
    child_event = patients.view(desk.session, child).history[-1]
    assert child_event.submitted_by == parent
    assert _type1(desk.session, child).active and _type1(desk.session, parent).active


def test_escape_on_a_changed_form_asks_through_the_dialog_function(qtbot, desk, add_patient):
    from gp_optout_desktop.ui import dialogs

    pid = add_patient(desk.session, surname="Changedmind")
    desk.desk.record_objection(pid)
    form = desk.desk.record
    form.proxy_box.setChecked(True)
    dialogs.set_next_answer("Keep editing")
    qtbot.keyClick(form.type1, Qt.Key.Key_Escape)
    assert desk.desk.currentIndex() == RECORD and form.proxy_box.isChecked()
    dialogs.set_next_answer("Discard")
    qtbot.keyClick(form.type1, Qt.Key.Key_Escape)
    assert desk.desk.currentIndex() == 0
    assert [title for title, _ in dialogs.shown] == ["Discard this form?", "Discard this form?"]
    assert patients.view(desk.session, pid).history == []


def test_dependant_search_shows_age_and_postcode_and_never_adds_an_adult(qtbot, desk, add_patient):
    parent = add_patient(desk.session, surname="Depparent", forenames="Ann", dob="1980-01-01")
    add_patient(desk.session, surname="Depsame", forenames="Old", dob="1935-06-01")
    kid = add_patient(desk.session, surname="Depsame", forenames="Wyn", dob="2016-06-01")
    desk.desk.record_objection(parent)
    form = desk.desk.record
    qtbot.keyClicks(form.dep_search, "Depsame")
    qtbot.keyClick(form.dep_search, Qt.Key.Key_Return)  # one child, one adult: only the child can be added
    assert form.dependant_ids() == [kid]
    qtbot.keyClicks(form.dep_search, "Depsame")
    qtbot.waitUntil(lambda: form.dep_found.count() == 1, timeout=2000)
    label = form.dep_found.item(0).text()
    assert f"age {acting_for.age_on(date(1935, 6, 1), desk.session.today())}, born 01/06/1935" in label
    assert "LS1 4AP" in label and "16 or over: cannot be a dependant" in label
    qtbot.keyClick(form.dep_search, Qt.Key.Key_Return)
    assert form.dependant_ids() == [kid] and "16 or over" in form.messages["dependants"].text()


def test_several_children_found_enter_adds_nobody_until_one_is_chosen(qtbot, desk, add_patient):
    parent = add_patient(desk.session, surname="Sibparent", forenames="Ann", dob="1980-01-01")
    kids = [add_patient(desk.session, surname="Sibling", forenames=f, dob=d)
            for f, d in (("Ada", "2015-01-01"), ("Ben", "2017-01-01"))]
    desk.desk.record_objection(parent)
    form = desk.desk.record
    qtbot.keyClicks(form.dep_search, "Sibling")
    qtbot.keyClick(form.dep_search, Qt.Key.Key_Return)
    assert form.dependant_ids() == [] and form.dep_found.hasFocus()
    qtbot.keyClick(form.dep_found, Qt.Key.Key_Down)
    chosen = form.dep_found.currentItem().data(Qt.ItemDataRole.UserRole)
    qtbot.keyClick(form.dep_found, Qt.Key.Key_Return)
    assert form.dependant_ids() == [chosen] and chosen in kids


def test_the_patient_banner_stays_in_view_above_the_scrolling_form(qtbot, desk, add_patient):
    number = nhs_number.synthetic(640_000)
    pid = add_patient(desk.session, surname="Bannered", forenames="Bea", dob="1990-04-05", nhs=number)
    desk.desk.record_objection(pid)
    form = desk.desk.record
    age = acting_for.age_on(date(1990, 4, 5), desk.session.today())
    text = form.who.text()
    assert text.startswith("BANNERED, Bea") and f"age {age}, born 05/04/1990" in text
    assert nhs_number.display(number) in text and "LS1 4AP" in text
    form.proxy_box.setChecked(True)  # a longer form scrolls; the banner is outside the scroll area
    form.dep_search.setFocus()
    from PySide6.QtWidgets import QScrollArea
    scroll = form.findChild(QScrollArea)
    assert not scroll.widget().isAncestorOf(form.who) and form.who.isVisible()


def test_a_dependant_search_that_fails_says_so_beside_the_dependants(qtbot, desk, add_patient):
    parent = add_patient(desk.session, surname="Depfail", forenames="Ann", dob="1980-01-01")
    desk.desk.record_objection(parent)
    form = desk.desk.record
    desk.session.register.close()  # as when the register is closed under the form (damaged, or locked)
    qtbot.keyClicks(form.dep_search, "Depfail")
    qtbot.waitUntil(lambda: "Could not search for a dependant" in form.messages["dependants"].text(), timeout=2000)
    assert form.dep_found.count() == 0 and form.dependant_ids() == []
