"""Idle lock and Lock now: the register closes, every view forgets the patient, and
unlocking returns to the same place."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.services import objections, patients, settings as settings_service
from gp_optout_desktop.ui.desk import PATIENT, RECORD


def _assert_nothing_shown(window):
    desk = window.desk
    assert window.session is None
    assert window.pages.currentWidget() is window.unlock
    assert desk.front.search.text() == "" and desk.front.model.rowCount() == 0
    assert desk.patient.patient_id is None and desk.patient.name.text() == ""
    assert desk.patient.history.rowCount() == 0 and desk.patient.letters.rowCount() == 0
    assert all(label.text() == "" for label in desk.patient.status_labels.values())
    assert desk.record.who.text() == "" and desk.record.dep_added.count() == 0
    assert window.user_label.text() == "Locked"


def test_idle_lock_clears_views_and_unlock_restores_the_patient(qtbot, demo_folder, new_window, unlock_as, add_patient):
    window = new_window(demo_folder, idle_ms=400)
    session = unlock_as(window)
    pid = add_patient(session, surname="Idlepatient", forenames="Ira")
    objections.record(session, pid)
    qtbot.keyClicks(window.desk.front.search, "Idlepatient")
    qtbot.keyClick(window.desk.front.search, Qt.Key.Key_Return)
    assert window.desk.currentIndex() == PATIENT and window.desk.patient.name.text() == "Ira Idlepatient"
    register = session.register
    qtbot.waitUntil(lambda: window.session is None, timeout=3000)
    _assert_nothing_shown(window)
    assert not register.is_open  # the connection is closed and the key forgotten
    assert window.unlock.user.text() == "reception" and window.unlock.password.hasFocus()
    session = unlock_as(window)
    assert window.desk.currentIndex() == PATIENT
    assert window.desk.patient.patient_id == pid
    assert window.desk.patient.status_labels["type1"].text().startswith("Objects to their GP data")
    window.lock()  # tidy: do not let the short timer fire during teardown


def test_input_keeps_the_register_open(qtbot, demo_folder, new_window, unlock_as):
    window = new_window(demo_folder, idle_ms=600)
    unlock_as(window)
    for _ in range(6):  # 6 x 200 ms of typing outlasts the 600 ms timeout
        qtbot.keyClick(window.desk.front.search, Qt.Key.Key_A)
        qtbot.wait(200)
        assert window.session is not None
    qtbot.waitUntil(lambda: window.session is None, timeout=3000)


def test_lock_now_ctrl_l_from_the_record_form(qtbot, desk, add_patient):
    pid = add_patient(desk.session, surname="Locknow")
    desk.desk.record_objection(pid)
    form = desk.desk.record
    form.proxy_box.setChecked(True)
    qtbot.keyClicks(form.proxy_name, "Someone Private")
    assert desk.lock_action.toolTip() == "Lock the register now (Ctrl+L)"
    qtbot.keyClick(form.proxy_name, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    _assert_nothing_shown(desk)
    assert form.proxy_name.text() == "" and not form.proxy_box.isChecked()
    desk.unlock.password.setText("reception-demo-pass")
    desk.unlock.submit()
    qtbot.waitUntil(lambda: desk.session is not None, timeout=10000)
    assert desk.desk.currentIndex() == RECORD and form.patient_id == pid
    assert patients.view(desk.session, pid).history == []  # the half-filled form was never saved


def test_another_user_starts_at_the_front_desk(qtbot, desk, add_patient, unlock_as):
    pid = add_patient(desk.session, surname="Otheruser")
    desk.desk.open_patient(pid)
    desk.lock()
    unlock_as(desk, "gp")
    assert desk.desk.currentIndex() == 0 and desk.desk.patient.patient_id is None


def test_idle_minutes_setting_is_for_the_practice_manager(demo):
    assert settings_service.idle_lock_minutes(demo) == settings_service.DEFAULT_IDLE_LOCK_MINUTES
    changes = settings_service.set_idle_lock_minutes(demo, 15)
    assert "15 minutes" in changes.summary
    assert settings_service.idle_lock_minutes(demo) == 15
    with pytest.raises(ValidationError):
        settings_service.set_idle_lock_minutes(demo, 16)
    demo.role = roles.RECEPTIONIST
    with pytest.raises(roles.PermissionDenied):
        settings_service.set_idle_lock_minutes(demo, 10)
    assert settings_service.idle_lock_minutes(demo) == 15


def test_window_uses_the_register_setting(qtbot, demo, register_dir, new_window, unlock_as):
    settings_service.set_idle_lock_minutes(demo, 12)
    demo.lock()
    window = new_window(register_dir)
    unlock_as(window)
    assert window.idle.timeout_ms == 12 * 60_000 and window.idle.is_active()


def test_the_idle_lock_steps_aside_at_unlock_and_still_locks(qtbot):
    """Armed at unlock, it steps aside as after any input (the screens are built meanwhile,
    without their events passing through the Python filter), comes back, and still locks
    after the timeout with no input: never before it (issue 13, ADR 0014)."""
    import time

    from PySide6.QtWidgets import QApplication

    from gp_optout_desktop.ui.idle_lock import IdleLock

    lock = IdleLock(QApplication.instance(), 400)
    fired = []
    lock.idle.connect(lambda: fired.append(time.monotonic()))
    start = time.monotonic()
    lock.start()
    assert lock.is_active() and not lock.watching()
    qtbot.waitUntil(lock.watching, timeout=2000)  # back after a quarter of the timeout
    qtbot.waitUntil(lambda: bool(fired), timeout=3000)
    assert fired[0] - start >= 0.4
    assert not lock.watching() and not lock.is_active()
