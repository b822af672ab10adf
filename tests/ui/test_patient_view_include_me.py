"""Include-me from the patient view: offered only while the practice-wide opt-out is on,
recorded (and withdrawn) through the service, the status lines and the register follow."""

from __future__ import annotations

from gp_optout_desktop.domain.events import INCLUDE
from gp_optout_desktop.domain.practice_policy import ON
from gp_optout_desktop.services import (audit as audit_service, exclusion as exclusion_service,
                                        letters as letters_service, patients, session as session_service)
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.desk import PATIENT
from gp_optout_desktop.ui.screens import include_me


def turn_on_as_gp(folder, window):
    gp = session_service.unlock(folder, "gp", "gp-demo-pass")
    try:
        window.bus.publish(exclusion_service.set_practice_optout(gp, ON, "Partners' decision"))
    finally:
        gp.lock()


def test_include_me_offered_only_while_the_opt_out_is_on_then_recorded_and_withdrawn(
        qtbot, desk, demo_folder, add_patient):
    session = desk.session
    pid = add_patient(session, surname="Includer", forenames="Robin")
    desk.desk.open_patient(pid)
    view = desk.desk.patient
    assert desk.desk.currentIndex() == PATIENT
    assert not view.include_button.isVisible() and not view.include_withdraw_button.isVisible()  # opt-out off

    assert view.effect.text().startswith("Their GP data may be extracted: no Type 1 objection is recorded.")
    turn_on_as_gp(demo_folder, desk)  # published on the bus: the open patient view re-reads
    assert view.include_button.isVisible() and view.include_button.isEnabled()
    assert view.effect.text().startswith("The practice-wide opt-out is on. National extractions leave them out only")
    assert view.local_effect.text().startswith("The practice's own extracts leave them out")
    assert not view.include_withdraw_button.isVisible()

    # Cancelled: nothing recorded.
    dialogs.set_next_answer("Cancel")
    view.include_button.click()
    assert not patients.view(session, pid).statuses[INCLUDE].active
    assert view.include_button.isEnabled()

    dialogs.set_next_answer("Record request")
    dialogs.set_next_answer("OK")
    view.include_button.click()
    qtbot.waitUntil(lambda: view.status_labels[INCLUDE].text().startswith("Asked to be included"), timeout=10000)
    title, text = dialogs.shown[-2]
    assert title == include_me.TITLE and "Robin Includer" in text and "opt-out is on" in text
    assert view.message.text().startswith("Request to be included recorded for Robin Includer.")
    assert view.status_labels[INCLUDE].isVisible()
    assert not view.include_button.isVisible()
    assert view.include_withdraw_button.isVisible() and view.include_withdraw_button.isEnabled()
    assert view.effect.text().startswith("Their GP data may be extracted: they asked to be included")
    rec = patients.view(session, pid)
    assert rec.statuses[INCLUDE].active and rec.statuses[INCLUDE].event.recorded_by == "reception"
    assert [p.kind for p in letters_service.pending(session) if p.patient_id == pid] == ["include_received"]

    dialogs.set_next_answer("Withdraw request")
    dialogs.set_next_answer("OK")
    view.include_withdraw_button.click()
    qtbot.waitUntil(lambda: view.status_labels[INCLUDE].text() == "Has not asked to be included", timeout=10000)
    assert dialogs.shown[-2][0] == include_me.WITHDRAW_TITLE
    assert not patients.view(session, pid).statuses[INCLUDE].active
    assert view.include_button.isVisible() and not view.include_withdraw_button.isVisible()
    assert view.history.rowCount() == 2
    assert {view.history.item(r, 1).text() for r in range(2)} == {"Request to be included recorded",
                                                                  "Request to be included withdrawn"}
    manager = session_service.unlock(demo_folder, "manager", "manager-demo-pass")
    try:
        actions = [r.action for r in audit_service.query(manager, action="include.") if r.user == "reception"]
    finally:
        manager.lock()
    assert actions == ["include.withdraw", "include.register"]


def test_an_active_request_can_be_withdrawn_even_with_the_opt_out_off(qtbot, desk, add_patient):
    from gp_optout_desktop.domain import codes
    from gp_optout_desktop.services import objections

    session = desk.session
    pid = add_patient(session, surname="Earlyasker", forenames="Sam")
    objections.record(session, pid, INCLUDE, codes.REGISTER)
    desk.desk.open_patient(pid)
    view = desk.desk.patient
    assert not view.include_button.isVisible()  # the opt-out is off: nothing to ask for
    assert view.include_withdraw_button.isVisible()
    dialogs.set_next_answer("Withdraw request")
    dialogs.set_next_answer("OK")
    view.include_withdraw_button.click()
    qtbot.waitUntil(lambda: not view.include_withdraw_button.isVisible(), timeout=10000)
    assert "changes nothing until a GP turns it on" in dialogs.shown[-2][1]
    assert not patients.view(session, pid).statuses[INCLUDE].active
    assert not view.include_button.isVisible()
