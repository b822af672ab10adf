"""The unlock screen: right, wrong, throttled, must-change password, Caps Lock."""

from __future__ import annotations

from PySide6.QtCore import Qt

from gp_optout_desktop.services import session as session_service, users
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.unlock import caps_lock_guess


def _try(qtbot, window, user, password):
    window.unlock.user.setText(user)
    window.unlock.password.setText(password)
    qtbot.keyClick(window.unlock.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.unlock.busy.isVisible() and window.unlock.user.isEnabled(), timeout=10000)


def test_right_password_opens_the_front_desk(qtbot, window, unlock_as):
    assert window.pages.currentWidget() is window.unlock
    session = unlock_as(window, "reception")
    assert session.role == "receptionist"
    assert window.pages.currentWidget() is window.workspace
    assert window.nav.item(0).text() == "Front desk"
    assert window.user_label.text() == "Signed in: reception (Receptionist)"
    assert window.exclusion_label.text().startswith("Exclusion file")
    assert window.unlock.password.text() == ""  # the password does not linger in the widget
    assert window.desk.front.search.hasFocus()


def test_wrong_password_inline_error_and_reselected(qtbot, window):
    _try(qtbot, window, "reception", "not-the-password")
    assert window.session is None
    assert window.pages.currentWidget() is window.unlock
    assert window.unlock.error.isVisible()
    assert window.unlock.error.text() == "The user name or password is wrong."
    assert window.unlock.password.selectedText() == "not-the-password"
    assert window.unlock.password.hasFocus()
    assert dialogs.shown == []  # inline, never a modal


def test_throttled_after_five_failures_shows_next_try(qtbot, window):
    for _ in range(5):
        _try(qtbot, window, "gp", "wrong-password")
    _try(qtbot, window, "gp", "gp-demo-pass")  # even the right password waits now
    assert window.session is None
    text = window.unlock.error.text()
    assert text.startswith("Too many wrong passwords. The next try is allowed at ")
    assert text[-9:-1].count(":") == 2  # HH:MM:SS
    assert not window.unlock.unlock_button.isEnabled()
    qtbot.keyClick(window.unlock.password, Qt.Key.Key_Return)  # Enter does nothing while throttled
    assert not window.unlock.busy.isVisible() and window.session is None


def test_temporary_password_must_be_changed_first(qtbot, window, demo_folder):
    manager = session_service.unlock(demo_folder, "manager", "manager-demo-pass")
    temporary = users.reset_password(manager, "reception").data["password"]
    manager.lock()
    _try(qtbot, window, "reception", temporary)
    assert window.session is None
    assert window.unlock.pages.currentIndex() == 1
    window.unlock.new_password.setText("a-new-password-1")
    window.unlock.new_password2.setText("a-new-password-2")
    window.unlock.submit_new_password()
    assert "differ" in window.unlock.change_error.text()
    window.unlock.new_password2.setText("a-new-password-1")
    window.unlock.submit_new_password()
    qtbot.waitUntil(lambda: window.session is not None, timeout=10000)
    assert window.pages.currentWidget() is window.workspace
    window.lock()
    assert session_service.unlock(demo_folder, "reception", "a-new-password-1").must_change_password is False


def test_caps_lock_warning(qtbot, window):
    assert caps_lock_guess("A", shift=False) is True
    assert caps_lock_guess("a", shift=True) is True
    assert caps_lock_guess("a", shift=False) is False
    assert caps_lock_guess("1", shift=False) is None
    window.unlock.password.setFocus()
    qtbot.keyClick(window.unlock.password, Qt.Key.Key_A, Qt.KeyboardModifier.NoModifier)
    # offscreen key clicks carry the text Qt derives, lower case without Shift: no warning
    assert not window.unlock.caps.isVisible()
    qtbot.keyClicks(window.unlock.password, "Q", Qt.KeyboardModifier.NoModifier)
    assert window.unlock.caps.isVisible()


def test_show_hide_password(qtbot, window):
    from PySide6.QtWidgets import QLineEdit

    window.unlock.password.show_action.trigger()
    assert window.unlock.password.echoMode() == QLineEdit.EchoMode.Normal
    window.unlock.password.show_action.trigger()
    assert window.unlock.password.echoMode() == QLineEdit.EchoMode.Password


def test_lost_password_recovery_key_then_a_new_password(qtbot, tmp_path, new_window):
    from gp_optout_desktop.services import setup

    folder = tmp_path / "practice"
    session, recovery = setup.create_register(folder, ods="F84003", practice=setup.practice_details(name="Recovery"),
                                              user="pm", password="forgotten-password-1")
    users.add(session, "desk", "receptionist", "desk-password-1")
    session.lock()
    window = new_window(folder)
    form = window.unlock
    form.recovery_toggle.click()
    assert form.password_label.text() == "&Recovery key" and form.password.accessibleName() == "Recovery key"

    _try(qtbot, window, "desk", recovery)  # a receptionist cannot use it
    assert window.session is None and "only be used by a practice manager" in form.error.text()
    _try(qtbot, window, "pm", recovery.replace("-", " ").lower())  # spacing and case do not matter
    assert form.pages.currentIndex() == 1 and "recovery key" in form.change_note.text()
    assert window.session is None  # nothing opens before the new password is chosen
    form.new_password.setText("brand-new-password-1")
    form.new_password2.setText("brand-new-password-1")
    form.change_button.click()
    qtbot.waitUntil(lambda: window.session is not None, timeout=10000)
    assert window.session.role == "manager" and not window.session.must_change_password
    window.lock()
    assert form.password_label.text() == "&Password"  # back to passwords for the next person
    again = session_service.unlock(folder, "pm", "brand-new-password-1")
    again.lock()


def test_a_receptionist_sees_what_they_can_act_on_not_a_red_alarm(qtbot, desk):
    from gp_optout_desktop.ui.exclusion_status import FOR_THE_MANAGER

    assert desk.session.role == "receptionist"
    assert desk.exclusion_label.text() == FOR_THE_MANAGER  # the demo register was never exported
    assert "b00020" not in desk.exclusion_label.styleSheet()


def test_a_practice_manager_sees_the_alarm_in_red(qtbot, window):
    from tests.ui.conftest import unlock

    unlock(qtbot, window, user="manager")
    assert window.exclusion_label.text() == "Exclusion file: never exported"
    assert "b00020" in window.exclusion_label.styleSheet()


def test_a_register_that_lost_saved_changes_offers_the_way_out(qtbot, window, demo_folder, tmp_path, settings):
    """Refused at unlock (its seal is missing: it cannot be told what was lost), the screen
    names the problem and restores the latest backup in its place after a confirmation."""
    from gp_optout_desktop.services import backup
    from gp_optout_desktop.ui.screens import _paths

    manager = session_service.unlock(demo_folder, "manager", "manager-demo-pass")
    backup.backup(manager, tmp_path / "latest.gpbackup")
    manager.lock()
    (demo_folder / "register.seal").unlink()
    assert not window.unlock.restore_button.isVisible()
    _try(qtbot, window, "manager", "manager-demo-pass")
    assert window.session is None
    assert "Restore the latest backup" in window.unlock.error.text()
    assert window.unlock.restore_button.isVisible()

    dialogs.set_next_answer("Cancel")
    _paths.set_next_path(tmp_path / "latest.gpbackup")
    window.unlock.restore_button.click()
    assert not list(demo_folder.glob("before-restore-*")), "nothing replaced without the confirmation"

    _paths.set_next_path(tmp_path / "latest.gpbackup")
    dialogs.set_next_answer("Replace with the backup")
    dialogs.set_next_answer("OK")
    window.unlock.restore_button.click()
    qtbot.waitUntil(lambda: window.session is not None, timeout=20000)
    assert dialogs.shown[-1][0] == "Register restored"
    assert window.session.role == "manager"
    assert list(demo_folder.glob("before-restore-*"))
