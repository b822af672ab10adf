"""Change my password on the register file: the real main window on a real demo register,
driven with qtbot (issue 15). Any role reaches it beside Lock now; the current password is
asked for again (a wrong one is one sentence, counted like a failed unlock, and changes
nothing); the new one is typed twice under the first sign-in's rules; afterwards only the new
one unlocks, the audit trail has the change, and no password reached the log."""

from __future__ import annotations

import logging
import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMenu, QToolBar

from gp_optout_desktop.services import session as session_service, users
from gp_optout_desktop.store import keyfile
from gp_optout_desktop.store.backend import FileStore
from gp_optout_desktop.store.errors import WrongPassword
from gp_optout_desktop.ui.change_password import DONE
from tests.ui.conftest import DEMO_PASSWORDS

NEW = "reception-own-pass-2"


def _audit(session) -> list[tuple]:
    """(user, action, outcome) of every entry, read without adding one."""
    with session.register.reading() as conn:
        rows = FileStore(conn).audit_rows(since=None, until=None, user=None, action_prefix=None, patient=None,
                                          limit=100_000)
    return [(r[2], r[4], r[6]) for r in sorted(rows)]  # oldest first


def _failures(folder, user: str) -> int:
    return keyfile.KeyFile.load(folder / "register.keys").throttle_state(user).get("failures", 0)


def _opened(qtbot, window, *, by_menu: bool = False):
    """Ctrl+Shift+P, or the menu's keys: Alt+R (Register), then P (Change my password)."""
    window.activateWindow()  # a shortcut reaches the active window only
    qtbot.waitUntil(window.isActiveWindow)
    if by_menu:
        qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.AltModifier)
        qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu), timeout=5000)
        qtbot.keyClick(QApplication.activePopupWidget(), Qt.Key.Key_P)
    else:
        qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    dialog = window.password_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.isVisible() and dialog.current.hasFocus())
    return dialog


def _submit(qtbot, dialog, current: str, new: str, again: str | None = None) -> str:
    dialog.current.setText(current)
    dialog.rows.first.setText(new)
    dialog.rows.second.setText(new if again is None else again)
    qtbot.keyClick(dialog.rows.second, Qt.Key.Key_Return)  # Enter in the last field submits
    qtbot.waitUntil(lambda: not dialog.running, timeout=30000)
    return dialog.message.text()


def test_a_receptionist_changes_their_password_and_only_the_new_one_unlocks(qtbot, window, unlock_as, demo_folder,
                                                                           caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    assert not window.password_action.isEnabled()  # locked: nothing to change
    session = unlock_as(window, "reception")
    menu = window.menuBar().actions()[0].menu()
    assert window.password_action in menu.actions() and window.password_action.isEnabled()
    assert menu.actions().index(window.password_action) == menu.actions().index(window.lock_action) + 1
    dialog = _opened(qtbot, window)
    assert dialog.note.text().startswith("Signed in as reception.")
    before = _audit(session)
    old = DEMO_PASSWORDS["reception"]

    assert _submit(qtbot, dialog, old, "a-new-password-1", "a-new-password-2") == \
        "The two passwords differ. Type the same password twice."
    assert dialog.rows.second.hasFocus()
    assert _submit(qtbot, dialog, old, "short") == "Choose a password of at least 10 characters."
    assert _submit(qtbot, dialog, "", NEW) == "Enter your current password."
    assert _submit(qtbot, dialog, old, old) == \
        "The new password is the same as the current one: choose a different one."
    assert _audit(session) == before and _failures(demo_folder, "reception") == 0

    # Someone at the desk left unlocked who does not know the password.
    assert _submit(qtbot, dialog, "a-guessed-password", NEW) == users.WRONG_CURRENT
    assert dialog.current.hasFocus() and dialog.current.selectedText() == "a-guessed-password"
    assert _audit(session) == before  # nothing written to the register
    assert _failures(demo_folder, "reception") == 1  # counted like a failed unlock
    assert keyfile.KeyFile.load(demo_folder / "register.keys").try_open("reception", old) is not None

    # The right one: both Argon2id runs on a worker, the desk answering meanwhile (as at the unlock).
    dialog.current.setText(old)
    dialog.rows.first.setText(NEW)
    dialog.rows.second.setText(NEW)
    threads, real, go_on = [], users.change_password, threading.Event()

    def held(*args):  # the real change, started only once the test has looked at the dialog meanwhile
        threads.append(threading.current_thread())
        go_on.wait(30)
        return real(*args)

    monkeypatch.setattr(users, "change_password", held)
    dialog.change_button.click()
    assert dialog.running and dialog.busy.isVisibleTo(dialog) and not dialog.change_button.isEnabled()
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)  # not while it is saving: its answer comes in a moment
    assert dialog.isVisible()
    go_on.set()
    qtbot.waitUntil(lambda: not dialog.running, timeout=30000)
    assert len(threads) == 1 and threads[0] is not threading.main_thread()
    assert dialog.message.text() == DONE
    assert (dialog.current.text(), dialog.rows.first.text(), dialog.rows.second.text()) == ("", "", "")
    assert not dialog.change_button.isVisible() and dialog.close_button.hasFocus()
    assert _audit(session)[len(before):] == [("reception", "user.change_password", "ok")]
    assert _failures(demo_folder, "reception") == 0  # the right password resets the count, as an unlock does
    qtbot.keyClick(dialog.close_button, Qt.Key.Key_Return)
    assert not dialog.isVisible()

    window.lock()
    window.unlock.password.setText(old)
    window.unlock.submit()
    qtbot.waitUntil(lambda: window.unlock.error.isVisible(), timeout=30000)
    assert window.unlock.error.text() == "The user name or password is wrong." and window.session is None
    assert unlock_as(window, "reception", NEW).user == "reception"
    # The wrong current password reached the audit trail at this unlock, as a failed unlock does.
    assert [a for a in _audit(window.session) if a[1] == "login" and a[2] == "failed"] == [
        ("reception", "login", "failed"), ("reception", "login", "failed")]
    for secret in (old, NEW, "a-guessed-password", "a-new-password-1", "a-new-password-2"):
        assert secret not in caplog.text


def test_every_role_reaches_it_by_keys_and_a_lock_forgets_what_was_typed(qtbot, window, unlock_as, demo_folder):
    for user in ("gp", "manager"):
        unlock_as(window, user, DEMO_PASSWORDS[user])
        assert window.password_action.isEnabled()
        assert window.password_action in window.findChild(QToolBar, "main-toolbar").actions()
        dialog = _opened(qtbot, window, by_menu=user == "gp")
        dialog.current.setText(DEMO_PASSWORDS[user])
        dialog.rows.first.setText("typed-but-not-sent")
        window.lock()  # Lock now, or the idle lock, with the dialog open
        assert not dialog.isVisible() and (dialog.current.text(), dialog.rows.first.text()) == ("", "")
        assert window.password_dialog is None and not window.password_action.isEnabled()
    with_old = session_service.unlock(demo_folder, "gp", DEMO_PASSWORDS["gp"])  # nothing was changed
    with_old.lock()
    with pytest.raises(WrongPassword):  # what was typed into the dialog the lock closed was not saved
        session_service.unlock(demo_folder, "gp", "typed-but-not-sent")
