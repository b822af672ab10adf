"""Settings (practice manager): the idle-lock time (stored, and the running idle lock follows
at once) and the letterhead; hidden from and refused to receptionists and GPs."""

from __future__ import annotations

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import audit as audit_service, settings as settings_service
from gp_optout_desktop.ui.screens import SCREENS, settings as settings_screen


def open_settings(qtbot, window):
    titles = [window.nav.item(i).text() for i in range(window.nav.count())]
    window.nav.setCurrentRow(titles.index(settings_screen.TITLE))
    screen = window.screens.currentWidget()
    assert isinstance(screen, settings_screen.SettingsScreen)
    qtbot.waitUntil(lambda: not screen.busy, timeout=20000)
    return screen


def test_manager_changes_the_idle_lock_and_the_running_lock_follows(qtbot, window, unlock_as):
    session = unlock_as(window, "manager")
    assert window.idle.timeout_ms == settings_service.DEFAULT_IDLE_LOCK_MINUTES * 60_000
    screen = open_settings(qtbot, window)
    assert screen.minutes.value() == settings_service.DEFAULT_IDLE_LOCK_MINUTES
    assert screen.minutes.maximum() == 15 and screen.minutes.minimum() == 1

    screen.minutes.setValue(10)
    screen.save_minutes_button.click()
    qtbot.waitUntil(lambda: not screen.busy and "10 minutes" in screen.status.text(), timeout=20000)
    assert settings_service.idle_lock_minutes(session) == 10  # stored
    assert window.idle.timeout_ms == 10 * 60_000  # the running idle lock re-read it
    assert window.idle.is_active()
    assert screen.minutes.value() == 10

    # Survives a lock and unlock.
    window.lock()
    unlock_as(window, "manager")
    assert window.idle.timeout_ms == 10 * 60_000
    rows = audit_service.query(window.session, action="settings.idle_lock")
    assert [(r.user, r.detail) for r in rows] == [("manager", "minutes=10")]


def test_manager_edits_the_letterhead_ods_read_only(qtbot, window, unlock_as):
    session = unlock_as(window, "manager")
    screen = open_settings(qtbot, window)
    before = settings_service.practice_details(session)
    assert screen.ods.text() == before["ods"] and screen.name.text() == before["name"]
    assert not hasattr(screen.ods, "setReadOnly")  # a label, not a field

    screen.name.setText("Riverside Surgery")
    screen.address.setPlainText("2 River Lane\n\nLeeds\nLS1 4AP")
    screen.phone.setText("0113 496 0000")
    screen.email.setText("not-an-address")
    screen.save_practice_button.click()
    qtbot.waitUntil(lambda: not screen.busy, timeout=20000)
    assert "needs an @" in screen.status.text()
    assert settings_service.practice_details(session)["name"] == before["name"]  # refused: nothing stored

    screen.email.setText("riverside@example.invalid")
    screen.save_practice_button.click()
    qtbot.waitUntil(lambda: not screen.busy and "Practice details saved" in screen.status.text(), timeout=20000)
    after = settings_service.practice_details(session)
    assert after["name"] == "Riverside Surgery" and after["address"] == ["2 River Lane", "Leeds", "LS1 4AP"]
    assert after["phone"] == "0113 496 0000" and after["email"] == "riverside@example.invalid"
    assert after["ods"] == before["ods"]
    qtbot.waitUntil(lambda: screen.address.toPlainText() == "2 River Lane\nLeeds\nLS1 4AP", timeout=20000)
    assert [r.action for r in audit_service.query(session, action="settings.practice")] == ["settings.practice"]


@pytest.mark.parametrize("user", ["reception", "gp"])
def test_hidden_from_and_refused_to_reception_and_gp(qtbot, window, unlock_as, user):
    session = unlock_as(window, user)
    spec = next(s for s in SCREENS if s.title == settings_screen.TITLE)
    assert spec.permission == "settings"
    assert [r for r in roles.ROLES if roles.allowed(r, spec.permission)] == [roles.MANAGER]
    titles = [window.nav.item(i).text() for i in range(window.nav.count())]
    assert settings_screen.TITLE not in titles
    with pytest.raises(PermissionError):
        settings_service.set_idle_lock_minutes(session, 10)
    with pytest.raises(PermissionError):
        settings_service.set_practice_details(session, name="Elsewhere")
    assert settings_service.idle_lock_minutes(session) == settings_service.DEFAULT_IDLE_LOCK_MINUTES
    assert window.idle.timeout_ms == settings_service.DEFAULT_IDLE_LOCK_MINUTES * 60_000
