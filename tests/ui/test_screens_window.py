"""The real main window: each role sees exactly the screens its permissions allow, every
screen opens, and a restore from the Backups screen brings the window back to unlock."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel

from gp_optout_desktop.services import backup as backup_service, session as session_service
from gp_optout_desktop.ui.screens import _paths, backups as backups_screen
from gp_optout_desktop.ui import dialogs

EXPECTED = {
    "reception": ["Front desk", "Overview", "Coding"],
    "gp": ["Front desk", "Overview", "Coding", "Practice-wide opt-out"],
    "manager": ["Front desk", "Overview", "Coding", "Letters", "Exclusion file", "Audit trail", "Users", "Backups",
                "Import", "Practice list", "Reconcile", "Settings"],
}


def nav_titles(window) -> list[str]:
    return [window.nav.item(i).text() for i in range(window.nav.count())]


@pytest.mark.parametrize("user", list(EXPECTED))
def test_each_role_sees_only_its_screens_and_each_opens(qtbot, window, unlock_as, user):
    unlock_as(window, user)
    assert nav_titles(window) == EXPECTED[user]
    for title, widget, *_ in window._extra:
        assert not isinstance(widget, QLabel), f"{title} could not be opened"
        window.nav.setCurrentRow(nav_titles(window).index(title))
        qtbot.waitUntil(lambda w=widget: not getattr(w, "busy", False), timeout=20000)
        assert "Something went wrong" not in widget.status.text()
        assert "may not" not in widget.status.text(), f"{title}: {widget.status.text()}"


def test_restore_from_the_backups_screen_returns_to_unlock(qtbot, window, unlock_as, demo_folder, tmp_path):
    _paths.reset()
    session = unlock_as(window, "manager")
    backup_service.backup(session, tmp_path / "b.gpbackup")
    window.nav.setCurrentRow(nav_titles(window).index("Backups"))
    screen = window.screens.currentWidget()
    assert isinstance(screen, backups_screen.BackupsScreen)
    qtbot.waitUntil(lambda: not screen.busy and screen.restore_button.isEnabled(), timeout=20000)
    screen.restore_password.setText("manager-demo-pass")
    _paths.set_next_path(tmp_path / "b.gpbackup")
    dialogs.set_next_answer("Restore")
    dialogs.set_next_answer("OK")
    screen.restore_button.click()
    qtbot.waitUntil(lambda: window.session is None, timeout=30000)
    assert window.pages.currentWidget() is window.unlock
    assert window._extra == []  # the manager's screens are gone until the next unlock
    again = session_service.unlock(demo_folder, "manager", "manager-demo-pass")
    again.lock()
    _paths.reset()


def test_the_audit_trail_is_read_only_when_opened(qtbot, window, unlock_as):
    from gp_optout_desktop.services import audit as audit_service

    session = unlock_as(window, "manager")

    def reads():
        return [r for r in audit_service.query(session, action="audit.read") if r.user == "manager"]

    qtbot.wait(200)
    before = len(reads())
    assert before == 0  # built at unlock, but not read until opened
    window.nav.setCurrentRow(nav_titles(window).index("Audit trail"))
    screen = window.screens.currentWidget()
    qtbot.waitUntil(lambda: not screen.busy and screen.model.rowCount() > 0, timeout=20000)
    assert len(reads()) == before + 2  # the screen's one read, plus the query above
