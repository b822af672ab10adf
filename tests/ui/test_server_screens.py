"""Screens beyond the front desk on a server register (ADR 0015 addendum): the real main window,
signed in as a practice manager on the real PostgreSQL the tests start, driving the real Audit
trail and Letters screens over objections recorded through the services."""

from __future__ import annotations

import csv

import pytest
from PySide6.QtWidgets import QLabel

from gp_optout_desktop.domain import nhs_number, roles
from gp_optout_desktop.services import objections, patients, server_session
from gp_optout_desktop.ui.main_window import MainWindow
from gp_optout_desktop.ui.screens import _paths
from tests.server import accounts
from tests.ui.helpers import wait_idle

pytestmark = pytest.mark.server


@pytest.fixture
def server(pg_db):
    reg = accounts.Register(pg_db)
    reg.mo = reg.add_user("mo", "mo-password-1", roles.MANAGER)
    reg.manager = server_session.sign_in(accounts.address(pg_db), reg.mo, "mo-password-1")
    yield reg
    reg.manager.lock()
    reg.close()


def _signed_in(qtbot, settings, pg_db, user: str, password: str) -> MainWindow:
    window = MainWindow(None, settings, server=accounts.address(pg_db))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.unlock.user.setText(user)
    window.unlock.password.setText(password)
    window.unlock.submit()
    qtbot.waitUntil(lambda: window.session is not None, timeout=30000)
    qtbot.waitUntil(window.screens_ready)
    return window


def _screen(qtbot, window, title: str):
    titles = [window.nav.item(i).text() for i in range(window.nav.count())]
    window.nav.setCurrentRow(titles.index(title))
    screen = window.screens.currentWidget()
    assert not isinstance(screen, QLabel), screen.text()  # built, not the "not available" sentence
    wait_idle(qtbot, screen)
    return screen


def _objectors(server, count: int, start: int) -> list[tuple[int, str]]:
    made = []
    for i in range(count):
        number = nhs_number.synthetic(start + i)
        pid = patients.add(server.manager, surname=f"Screen{i}", forenames="Sally", dob="1970-01-01",
                           postcode_raw="LS1 4AP", nhs=number).data["patient_id"]
        objections.record(server.manager, pid)
        made.append((pid, number))
    return made


def test_a_manager_filters_verifies_and_exports_the_audit_trail_on_the_server(qtbot, settings, pg_db, server,
                                                                               tmp_path):
    (_pid, number), _other = _objectors(server, 2, 740_000)
    window = _signed_in(qtbot, settings, pg_db, server.mo, "mo-password-1")
    screen = _screen(qtbot, window, "Audit trail")
    assert screen.model.rowCount() > 0 and screen.status.text() == ""
    assert {r.action for r in screen.model.rows} >= {"patient.create", "type1.register", "login"}

    screen.patient.setText(number)
    screen.action.setCurrentIndex([screen.action.itemText(i) for i in range(screen.action.count())]
                                  .index("Type 1 objections"))
    screen.apply_button.click()
    wait_idle(qtbot, screen)
    assert screen.status.text() == ""
    shown = screen.model.rows
    assert len(shown) == 1 and shown[0].patient == number and shown[0].action == "type1.register"
    assert screen.count_label.text() == "1 entries shown, newest first."

    screen.verify_button.click()
    wait_idle(qtbot, screen)
    assert screen.verify_result.text().startswith("The audit trail is intact: "), screen.status.text()

    target = tmp_path / "audit.csv"
    _paths.set_next_path(target)
    screen.export_button.click()
    wait_idle(qtbot, screen)
    assert screen.status.text().startswith("Exported 1 entries to "), screen.status.text()
    with open(target, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:3] == ["seq", "at_utc", "user"] and len(rows) == 2
    assert rows[1][4] == "type1.register" and rows[1][5] == number
    actions = [r[3] for r in server.audit()]
    assert "audit.export" in actions and "audit.verify" in actions
    window.lock()
