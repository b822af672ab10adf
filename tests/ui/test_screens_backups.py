"""Backups screen: back up now (dated file, checked), last backup shown, restore after confirmation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import backup as backup_service, patients, session as session_service
from gp_optout_desktop.services import users as users_service
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.bus import ChangeBus
from gp_optout_desktop.ui.screens import SCREENS, _paths, backups as backups_screen
from tests.ui.helpers import wait_idle


@pytest.fixture
def bus():
    return ChangeBus()


@pytest.fixture
def screen(qtbot, manager, bus):
    widget = backups_screen.create(lambda: manager, bus)
    qtbot.addWidget(widget)
    widget.show()
    wait_idle(qtbot, widget)
    return widget


def test_describe_last_in_words():
    now = datetime(2026, 3, 10, 12, tzinfo=timezone.utc)
    text, attention = backups_screen.describe_last(None, now)
    assert attention and "No backup" in text
    last = {"at": (now - timedelta(days=9)).isoformat(), "file": "/media/usb/b.gpbackup", "verified": True}
    text, attention = backups_screen.describe_last(last, now)
    assert attention and "9 days ago" in text and "more than 7 days old" in text and "checked after writing" in text
    text, attention = backups_screen.describe_last({**last, "at": now.isoformat()}, now)
    assert not attention and "(today)" in text


def test_back_up_now_writes_a_dated_checked_file(qtbot, screen, manager, tmp_path):
    assert "No backup has been made" in screen.last.text()
    folder = tmp_path / "usb"
    folder.mkdir()
    _paths.set_next_path(folder)
    screen.backup_button.click()
    wait_idle(qtbot, screen)
    files = list(folder.glob("gp-optout-backup-*.gpbackup"))
    assert len(files) == 1 and datetime.now().strftime("%Y-%m-%d") in files[0].name
    assert "Backup written and verified" in screen.status.text()
    qtbot.waitUntil(lambda: "checked after writing" in screen.last.text())
    assert str(files[0]) in screen.last.text()
    assert backup_service.last_backup(manager)["file"] == str(files[0])


def test_back_up_to_a_missing_folder_says_so(qtbot, screen, manager, tmp_path):
    _paths.set_next_path(tmp_path / "not-plugged-in")
    screen.backup_button.click()
    wait_idle(qtbot, screen)
    assert "does not exist" in screen.status.text()
    assert backup_service.last_backup(manager) is None


def test_restore_after_confirmation_brings_back_the_backup(qtbot, screen, manager, bus, register_dir, tmp_path,
                                                           add_patient):
    kept = add_patient(manager, surname="Kept")
    made = backup_service.backup(manager, tmp_path / "b.gpbackup")
    assert made.data["counts"]["patients"] == 1
    add_patient(manager, surname="Later")
    screen.restore_password.setText("pm-password-1")
    # Cancelled at the confirmation: nothing happens.
    _paths.set_next_path(tmp_path / "b.gpbackup")
    dialogs.set_next_answer("Cancel")
    screen.restore_button.click()
    assert manager.register.is_open

    locked = []
    bus.locked.connect(lambda: locked.append(True))
    _paths.set_next_path(tmp_path / "b.gpbackup")
    dialogs.set_next_answer("Restore")
    dialogs.set_next_answer("OK")  # the "Register restored" message
    screen.restore_button.click()
    wait_idle(qtbot, screen)
    assert locked and not manager.register.is_open
    assert dialogs.shown[-1][0] == "Register restored"
    assert screen.restore_password.text() == ""
    assert list(register_dir.glob("before-restore-*"))  # the previous register kept aside
    again = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        rows = patients.find(again, "Later")
        assert rows == [] and patients.view(again, kept).patient.surname == "Kept"
    finally:
        again.lock()


def test_restore_with_wrong_password_keeps_the_register(qtbot, screen, manager, bus, register_dir, tmp_path,
                                                        add_patient):
    backup_service.backup(manager, tmp_path / "b.gpbackup")
    add_patient(manager, surname="Later")
    screen.restore_password.setText("not-my-password")
    _paths.set_next_path(tmp_path / "b.gpbackup")
    dialogs.set_next_answer("Restore")
    dialogs.set_next_answer("OK")
    screen.restore_button.click()
    wait_idle(qtbot, screen)
    title, text = dialogs.shown[-1]
    assert title == "Restore failed" and "was not replaced" in text
    again = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        assert len(patients.find(again, "Later")) == 1
    finally:
        again.lock()


def test_restore_without_password_asks_for_it(qtbot, screen):
    screen.restore_button.click()
    assert "Enter your password" in screen.status.text()


def test_backups_hidden_from_and_refused_to_other_roles(manager, tmp_path, register_dir):
    spec = next(s for s in SCREENS if s.title == backups_screen.TITLE)
    assert spec.permission == "backup"
    assert [r for r in roles.ROLES if roles.allowed(r, spec.permission)] == [roles.MANAGER]
    users_service.add(manager, "doc", roles.GP, password="doc-password-1")
    backup_service.backup(manager, tmp_path / "b.gpbackup")
    manager.lock()
    gp = session_service.unlock(register_dir, "doc", "doc-password-1")
    with pytest.raises(PermissionError):
        backup_service.backup(gp, tmp_path / "c.gpbackup")
    with pytest.raises(PermissionError):
        backup_service.last_backup(gp)
    gp.lock()
    with pytest.raises(PermissionError, match="may not restore"):  # refused by the live register, and audited there
        backup_service.restore(register_dir, tmp_path / "b.gpbackup", "doc", "doc-password-1")


def test_restoring_another_practices_backup_asks_for_its_code_then_restores(qtbot, screen, manager, bus,
                                                                           register_dir, tmp_path):
    from gp_optout_desktop.services import setup

    practice = setup.practice_details(name="Other Surgery", address=["9 Far Road"], phone="01632 960009",
                                      email="other@example.invalid")
    other, _ = setup.create_register(tmp_path / "other", ods="B82005", practice=practice, user="pm",
                                     password="other-password-1")
    backup_service.backup(other, tmp_path / "other.gpbackup")
    other.lock()
    screen.restore_password.setText("pm-password-1")
    screen.backup_password.setText("other-password-1")
    _paths.set_next_path(tmp_path / "other.gpbackup")
    dialogs.set_next_answer("Restore")
    dialogs.set_next_answer("OK")
    screen.restore_button.click()
    wait_idle(qtbot, screen)
    title, text = dialogs.shown[-1]
    assert title == "Restore failed" and "another practice (ODS code B82005)" in text and "type B82005" in text
    assert not list(register_dir.glob("before-restore-*"))
    assert screen.restore_password.text() == "" and screen.backup_password.text() == ""

    session = session_service.unlock(register_dir, "pm", "pm-password-1")  # unlock again, as the screen asks
    screen._session_provider = lambda: session  # the main window would hand the screen the new session
    screen.restore_password.setText("pm-password-1")
    screen.backup_password.setText("other-password-1")
    screen.confirm_ods.setText("B82005")
    _paths.set_next_path(tmp_path / "other.gpbackup")
    dialogs.set_next_answer("Restore")
    dialogs.set_next_answer("OK")
    screen.restore_button.click()
    wait_idle(qtbot, screen)
    assert dialogs.shown[-1][0] == "Register restored"
    assert list(register_dir.glob("before-restore-*"))
    session_service.unlock(register_dir, "pm", "other-password-1").lock()
