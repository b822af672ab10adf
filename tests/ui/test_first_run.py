"""First run: create the practice's register (recovery key shown once) or a demo register."""

from __future__ import annotations

from PySide6.QtCore import Qt

from gp_optout_desktop.services import session as session_service, settings as settings_service
from gp_optout_desktop.ui import dialogs


def test_create_register_shows_the_recovery_key_once(qtbot, tmp_path, new_window):
    folder = tmp_path / "new-register"
    window = new_window(folder)
    first = window.first_run
    assert window.pages.currentWidget() is first
    first.create_choice.click()
    values = {"practice_name": "Test Surgery", "ods": "F84003", "address1": "1 Test Road", "user": "pm",
              "password": "pm-password-1", "password2": "pm-password-2"}
    for name, value in values.items():
        qtbot.keyClicks(first.fields[name], value)
    qtbot.keyClick(first.fields["password2"], Qt.Key.Key_Return)
    assert "differ" in first.create_error.text()
    assert not settings_service.register_exists(folder)
    first.fields["password2"].setText("pm-password-1")
    first.create_button.click()
    qtbot.waitUntil(lambda: first.currentIndex() == 2, timeout=10000)
    key = first.key_label.text()
    assert key and all(f.text() == "" for f in first.fields.values())
    assert not first.continue_button.isEnabled()
    saved = tmp_path / "key.txt"
    dialogs.set_next_answer(str(saved))
    first.save_button.click()
    assert key in saved.read_text(encoding="utf-8") and "Test Surgery" in saved.read_text(encoding="utf-8")
    dialogs.set_next_answer("Print")
    first.print_button.click()
    assert first.key_message.text() == "Sent to the printer."
    first.kept.setChecked(True)
    first.continue_button.click()
    assert window.session.user == "pm" and window.session.role == "manager"
    assert first.key_label.text() == ""  # shown once only
    assert window.pages.currentWidget() is window.workspace
    window.lock()
    recovered = session_service.unlock_with_recovery(folder, "pm", key)
    assert recovered.role == "manager"
    recovered.lock()


def test_invalid_ods_refused_inline(qtbot, tmp_path, new_window):
    window = new_window(tmp_path / "reg")
    first = window.first_run
    first.show_create()
    for name, value in {"practice_name": "X", "ods": "123", "user": "pm", "password": "pm-password-1",
                        "password2": "pm-password-1"}.items():
        first.fields[name].setText(value)
    first.create()
    qtbot.waitUntil(lambda: first.create_button.isEnabled(), timeout=10000)
    assert first.create_error.isVisible()
    assert first.create_error.text() == "A GP practice ODS code is one letter and five digits, e.g. F84003."
    assert first.fields["ods"].hasFocus()
    assert not settings_service.register_exists(tmp_path / "reg")


def test_demo_register_names_its_users_then_unlocks(qtbot, tmp_path, new_window, unlock_as):
    folder = tmp_path / "demo"
    window = new_window(folder)
    window.first_run.demo_patients = 60
    window.first_run.demo_choice.click()
    qtbot.waitUntil(lambda: window.first_run.demo_continue.isVisible(), timeout=20000)
    text = window.first_run.demo_text.text()
    assert "60 synthetic patients" in text and "reception-demo-pass" in text
    window.first_run.demo_continue.click()
    assert window.pages.currentWidget() is window.unlock
    assert "reception-demo-pass" in window.unlock.hint.text()
    assert window.unlock.user.text() == "reception"
    unlock_as(window, "reception")
    assert window.user_label.text() == "Signed in: reception (Receptionist)"
