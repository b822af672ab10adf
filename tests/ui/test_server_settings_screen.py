"""The Settings screen on a server register (ADR 0015 addendum srvrest15): the real main window
signed in as a practice manager on the real PostgreSQL the tests start, saving the idle-lock
time and the letterhead from the screen; the window's own idle lock follows; another desk's
session reads both from the server; a bad email is refused in words and nothing is saved."""

from __future__ import annotations

import pytest

from gp_optout_desktop.services import letters
from tests.ui.helpers import wait_idle
from tests.ui.test_server_screens import _screen, _signed_in, server  # noqa: F401  (server: the fixture)

pytestmark = pytest.mark.server


def test_a_manager_saves_the_settings_from_the_screen_on_the_server(qtbot, settings, pg_db, server):  # noqa: F811
    from gp_optout_desktop.services import settings as settings_service

    window = _signed_in(qtbot, settings, pg_db, server.mo, "mo-password-1")
    screen = _screen(qtbot, window, "Settings")
    assert screen.status.text() == "" and screen.ods.text() == "F84003" and screen.name.text() == "Server Surgery"
    assert screen.minutes.value() == settings_service.DEFAULT_IDLE_LOCK_MINUTES

    screen.minutes.setValue(9)
    screen.save_minutes_button.click()
    wait_idle(qtbot, screen)
    assert screen.status.text() == "The register now locks after 9 minutes without use.", screen.status.text()
    assert settings_service.idle_lock_minutes(server.manager) == 9  # another desk reads it from the server
    qtbot.waitUntil(lambda: window.idle.timeout_ms == 9 * 60_000)  # this window's own lock follows

    screen.email.setText("no-at-sign")
    before = server.audit()
    screen.save_practice_button.click()
    wait_idle(qtbot, screen)
    assert screen.status.text() == "The practice email address needs an @.", screen.status.text()
    assert server.audit() == before  # nothing saved

    screen.name.setText("Riverside Surgery")
    screen.address.setPlainText("2 River Road\nLeeds\nLS1 4AP")
    screen.phone.setText("01632 960002")
    screen.email.setText("riverside@example.invalid")
    screen.save_practice_button.click()
    wait_idle(qtbot, screen)
    assert screen.status.text() == "Practice details saved: new letters use them.", screen.status.text()
    details = settings_service.practice_details(server.manager)
    assert details == {"name": "Riverside Surgery", "address": ["2 River Road", "Leeds", "LS1 4AP"],
                       "phone": "01632 960002", "email": "riverside@example.invalid", "ods": "F84003"}
    with server.manager.read_store("search") as store:  # what a letter is printed with
        letterhead = letters.practice_details(store)
    assert (letterhead.name, letterhead.address, letterhead.ods_code) == (
        "Riverside Surgery", ("2 River Road", "Leeds", "LS1 4AP"), "F84003")
    actions = [r[3] for r in server.audit()]
    assert actions.count("settings.idle_lock") == 1 and actions.count("settings.practice") == 1
    window.lock()
