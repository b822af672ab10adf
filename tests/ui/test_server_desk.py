"""The desk window pointed at a server register (--database / GP_OPTOUT_DATABASE): the real
main window, driven with qtbot, signing in to the real PostgreSQL the tests start. The front
desk works on the server; every screen not ported says so in one sentence; a lost server is
"Nothing was saved" and nothing is written on this computer."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from gp_optout_desktop.domain import nhs_number, roles
from gp_optout_desktop.services import patients, server_session
from gp_optout_desktop.ui import dialogs, exclusion_status
from gp_optout_desktop.ui.desk import DONE, PATIENT, RECORD
from gp_optout_desktop.ui.main_window import SERVER_SCREENS, MainWindow
from tests.server import accounts

pytestmark = pytest.mark.server


@pytest.fixture
def server(pg_db):
    reg = accounts.Register(pg_db)
    reg.rita = reg.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    reg.mo = reg.add_user("mo", "mo-password-1", roles.MANAGER)
    reg.manager = server_session.sign_in(accounts.address(pg_db), reg.mo, "mo-password-1")
    yield reg
    reg.manager.lock()
    reg.close()


def _window(qtbot, settings, pg_db, **kw) -> MainWindow:
    window = MainWindow(None, settings, server=accounts.address(pg_db), **kw)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def _sign_in(qtbot, window, user: str, password: str) -> None:
    window.unlock.user.setText(user)
    window.unlock.password.setText(password)
    window.unlock.submit()
    qtbot.waitUntil(lambda: window.session is not None or window.unlock.error.isVisible(), timeout=30000)


def _open(qtbot, window, number: str) -> None:
    front = window.desk.front
    front.search.clear()
    qtbot.keyClicks(front.search, number)
    qtbot.keyClick(front.search, Qt.Key.Key_Return)  # one match: Enter opens it


def test_a_receptionist_signs_in_to_the_server_and_records_and_withdraws_an_objection(qtbot, settings, pg_db,
                                                                                      server, tmp_path):
    number = nhs_number.synthetic(710_000)
    pid = patients.add(server.manager, surname="Serverside", forenames="Sam", dob="1970-01-01",
                       postcode_raw="LS1 4AP", nhs=number).data["patient_id"]
    window = _window(qtbot, settings, pg_db)
    # No local backup on a server; the recovery key is there (with the administrator's new password:
    # tests/ui/test_server_users.py).
    assert not window.unlock.recovery_toggle.isHidden() and window.unlock.recovery_key.isHidden()
    where = [w.text() for w in window.unlock.findChildren(QLabel) if w.accessibleName() == "Register"]
    assert where == [f"Register on the server {accounts.address(pg_db).describe()}"]
    audit_before = server.audit()

    _sign_in(qtbot, window, server.rita, "wrong-password-1")
    assert window.session is None
    assert window.unlock.error.text() == "The server refused the sign-in: the user name or password is wrong."
    assert server.audit() == audit_before  # nothing written

    _sign_in(qtbot, window, server.rita, "rita-password-1")
    qtbot.waitUntil(window.screens_ready)
    assert (window.session.user, window.session.role) == (server.rita, roles.RECEPTIONIST)  # read from the server
    assert window.user_label.text().startswith(f"Signed in: {server.rita} (Receptionist) on the server ")
    # The exclusion file's status is read from the server: never written, which a receptionist
    # is told to pass on (services/exclusion_server.py; ADR 0015 addendum, signing on the server).
    assert window.exclusion_label.text() == exclusion_status.FOR_THE_MANAGER
    titles = [window.nav.item(i).text() for i in range(window.nav.count())]
    assert titles[0] == "Front desk" and len(titles) > 2
    for row, title in enumerate(titles[1:], 1):
        page = window.screens.widget(row)
        if title in SERVER_SCREENS:
            assert not isinstance(page, QLabel)  # built: it runs on the server (test_server_screens.py)
            continue
        assert isinstance(page, QLabel)
        assert page.text().startswith(f"Not available on a server register yet: the {title} screen.")

    _open(qtbot, window, number)
    assert window.desk.currentIndex() == PATIENT
    view = window.desk.patient
    assert view.name.text() == "Sam Serverside" and view.message.text() == ""  # the exclusion file is ported
    view.record_button.click()
    assert window.desk.currentIndex() == RECORD
    dialogs.set_next_answer("Record")  # the read-back of who it is for
    window.desk.record.save_button.click()
    assert window.desk.currentIndex() == DONE
    assert window.desk.done.text.text().startswith("Type 1 objection recorded for Sam Serverside.")
    record = patients.view(server.manager, pid)  # another desk sees it on the server
    assert record.statuses["type1"].active and record.history[-1].recorded_by == server.rita

    window.desk.done.open_button.click()
    assert window.desk.currentIndex() == PATIENT and view.withdraw_button.isEnabled()
    view.withdraw_button.click()
    dialogs.set_next_answer("Withdraw")
    window.desk.record.save_button.click()
    assert window.desk.currentIndex() == DONE
    assert window.desk.done.text.text().startswith("Type 1 objection withdrawn for Sam Serverside.")
    assert not patients.view(server.manager, pid).statuses["type1"].active

    window.lock()
    assert window.session is None and window.pages.currentWidget() is window.unlock
    actions = [(r[1], r[3]) for r in server.audit()]
    assert (server.rita, "login") in actions and actions[-1] == (server.rita, "session.lock")
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["settings.ini"])  # no register here


def test_a_server_lost_at_the_desk_says_nothing_was_saved_and_writes_nothing_here(qtbot, settings, pg_db, server,
                                                                                 tmp_path):
    import psycopg

    from gp_optout_desktop.store.server import connect
    from tests.server.cluster import free_port

    number = nhs_number.synthetic(720_000)
    pid = patients.add(server.manager, surname="Outage", forenames="Olly", dob="1970-01-01",
                       postcode_raw="LS1 4AP", nhs=number).data["patient_id"]
    window = _window(qtbot, settings, pg_db)
    _sign_in(qtbot, window, server.rita, "rita-password-1")
    qtbot.waitUntil(window.screens_ready)
    _open(qtbot, window, number)
    window.desk.patient.record_button.click()
    session = window.session

    def cut(*conns) -> None:  # the server ends these connections, as in a restart
        with psycopg.connect(pg_db.admin_conninfo, autocommit=True) as admin:
            for conn in conns:
                admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))

    def said() -> list[str]:
        return [m.text() for m in window.desk.record.findChildren(QLabel) if m.isVisible() and "Nothing was saved" in m.text()]

    cut(session.desk.conn)
    window.desk.record.save_button.click()  # refused before the read-back: the people on it cannot be read
    assert window.desk.currentIndex() == RECORD  # the form and what was typed stay
    assert said() and "could not be reached" in said()[0]
    assert patients.view(server.manager, pid).history == []

    # The server answers again: the same save, tried again, connects again and is saved once.
    dialogs.set_next_answer("Record")
    window.desk.record.save_button.click()
    assert window.desk.currentIndex() == DONE
    assert len(patients.view(server.manager, pid).history) == 1

    # The server stays away (nothing listens where the desk would connect again).
    down = connect.parse(accounts.url(pg_db).replace(f":{pg_db.server.port}/", f":{free_port()}/"))
    session.reconnect = lambda: connect.connect(down, server.rita, "not-used")
    cut(session.desk.conn, session.search_desk.conn)
    window.desk.to_search()
    for _ in range(2):  # the search finds its connection lost; then it cannot connect again
        window.desk.front.search.setText(number)
        window.desk.front.search_now()
        assert "Nothing was saved" in window.desk.front.summary.text()
        assert window.desk.front.model.rowCount() == 0
    window.desk.open_patient(pid)
    assert window.desk.currentIndex() != PATIENT and "Nothing was saved" in window.desk.front.summary.text()
    window.lock()  # the lock's audit entry cannot be written; the window locks regardless
    assert window.session is None
    assert len(patients.view(server.manager, pid).history) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["settings.ini"])


def test_an_unreachable_server_at_sign_in_says_so_and_nothing_was_saved(qtbot, settings, pg_db, server):
    from tests.server.cluster import free_port

    url = accounts.url(pg_db).replace(f":{pg_db.server.port}/", f":{free_port()}/")
    from gp_optout_desktop.store.server import connect

    window = MainWindow(None, settings, server=connect.parse(url))
    qtbot.addWidget(window)
    window.show()
    _sign_in(qtbot, window, server.rita, "rita-password-1")
    assert window.session is None
    assert "cannot be reached" in window.unlock.error.text() and "Nothing was saved" in window.unlock.error.text()


def test_the_entry_point_opens_a_server_sign_in_from_the_option_or_the_environment(qtbot, pg_db, monkeypatch,
                                                                                    tmp_path):
    from gp_optout_desktop.ui import app

    url = accounts.url(pg_db)
    assert app.parse_args(["--database", url]).database == url
    opened = []
    monkeypatch.setattr(app, "_run", lambda _app, window, _folder: opened.append(window) or 0)
    folder = tmp_path / "register"
    assert app.main(["--register", str(folder), "--database", url]) == 0
    monkeypatch.setenv("GP_OPTOUT_DATABASE", url)
    assert app.main(["--register", str(folder)]) == 0
    for window in opened:
        qtbot.addWidget(window)
        assert window.server == accounts.address(pg_db) and window.pages.currentWidget() is window.unlock
        assert window.first_run is None and window.unlock.user.isEnabled()
    assert len(opened) == 2 and not folder.exists()  # the register folder is not touched
    monkeypatch.delenv("GP_OPTOUT_DATABASE")
    assert app.main(["--register", str(folder)]) == 0 and opened[-1].server is None  # the folder stays the default
    qtbot.addWidget(opened[-1])

    dialogs.set_next_answer("OK")
    assert app.main(["--database", url + "&sslmode=require"]) == 2
    assert dialogs.shown[-1][0] == "Server register" and "sslmode=verify-full" in dialogs.shown[-1][1]


def test_another_desks_objection_shows_in_the_open_patient_view_and_search_results(qtbot, settings, pg_db, server):
    from gp_optout_desktop.services import objections

    seen = nhs_number.synthetic(730_000)
    pid = patients.add(server.manager, surname="Livewire", forenames="Lou", dob="1970-01-01",
                       postcode_raw="LS1 4AP", nhs=seen).data["patient_id"]
    other = patients.add(server.manager, surname="Livewell", forenames="Lia", dob="1971-01-01",
                         postcode_raw="LS1 4AP").data["patient_id"]
    window = _window(qtbot, settings, pg_db)
    _sign_in(qtbot, window, server.rita, "rita-password-1")
    qtbot.waitUntil(window.screens_ready)
    qtbot.waitUntil(lambda: window.live is not None and window.live.state == "live", timeout=10000)
    _open(qtbot, window, seen)
    view = window.desk.patient
    assert not view.record_data.statuses["type1"].active

    objections.record(server.manager, pid)  # at another desk
    saved = time.perf_counter()
    qtbot.waitUntil(lambda: view.record_data is not None and view.record_data.statuses["type1"].active, timeout=5000)
    print(f"another desk's objection shown {1000 * (time.perf_counter() - saved):.0f} ms after it was saved")
    assert window.desk.currentIndex() == PATIENT and view.message.text() == ""
    # Never exported from the server: the change is not in the practice's own extracts yet.
    assert "Changed since the exclusion file was last written" in view.local_effect.text()

    window.desk.to_search()
    front = window.desk.front
    qtbot.keyClicks(front.search, "Livew")
    qtbot.waitUntil(lambda: front.model.rowCount() == 2 and not front.searching, timeout=10000)
    assert [front.model.index(r, 4).data() for r in range(2)] == ["", "Objects"]  # Livewell, Livewire
    objections.record(server.manager, other)  # at another desk
    qtbot.waitUntil(lambda: [front.model.index(r, 4).data() for r in range(2)] == ["Objects", "Objects"],
                    timeout=5000)
    window.lock()
    assert window.live is None


def test_the_patient_view_on_a_server_words_the_practice_wide_opt_out_as_the_server_has_it(qtbot, settings,
                                                                                         pg_db, server):
    """A practice moved to the server while its GPs had the practice-wide opt-out on (the
    migration copies the policy): a patient with no objection of their own is not worded as
    extracted; they are offered the request to be included."""
    from datetime import date

    number = nhs_number.synthetic(720_000)
    patients.add(server.manager, surname="Widespread", forenames="Wyn", dob="1970-01-01", postcode_raw="LS1 4AP",
                 nhs=number)
    with server.manager.desk.write() as tx:  # as the migration leaves a practice whose opt-out was on
        tx.conn.execute("INSERT INTO policy(state, effective, reason, recorded_by, recorded_at)"
                        " VALUES ('on', %s, 'The GPs decided', 'gp', now())", (date(2026, 1, 5),))
        tx.audit("practice_optout.on", detail="test")
    window = _window(qtbot, settings, pg_db)
    _sign_in(qtbot, window, server.rita, "rita-password-1")
    qtbot.waitUntil(window.screens_ready)
    _open(qtbot, window, number)
    view = window.desk.patient
    assert window.desk.currentIndex() == PATIENT and view.message.text() == ""
    assert view.effect.text().startswith("The practice-wide opt-out is on. National extractions leave them out only")
    assert view.include_button.isVisible() and view.include_button.isEnabled()


def test_while_the_server_is_stopped_the_desk_says_so_and_its_save_buttons_are_disabled(qtbot, settings, pg_db,
                                                                                        server, tmp_path):
    """The real server stopped under an open record form: the window shows plainly that the
    server is unreachable and nothing can be saved, and every save is disabled (the form keeps
    what was typed); once the server answers again the banner goes, the buttons come back and
    the same form saves once. Nothing is written on this computer meanwhile."""
    from gp_optout_desktop.services import live
    from gp_optout_desktop.ui.main_window import OUTAGE_TEXT

    number = nhs_number.synthetic(740_000)
    pid = patients.add(server.manager, surname="Stopped", forenames="Sam", dob="1970-01-01",
                       postcode_raw="LS1 4AP", nhs=number).data["patient_id"]
    window = _window(qtbot, settings, pg_db)
    _sign_in(qtbot, window, server.rita, "rita-password-1")
    qtbot.waitUntil(window.screens_ready)
    qtbot.waitUntil(lambda: window.live is not None and window.live.state == live.LIVE, timeout=10000)
    _open(qtbot, window, number)
    patient_view = window.desk.patient
    assert patient_view.record_button.isEnabled() and not window.outage.isVisible()
    window.desk.patient.record_button.click()
    record = window.desk.record
    assert window.desk.currentIndex() == RECORD and record.save_button.isEnabled()

    pg_db.server.halt()
    try:
        qtbot.waitUntil(lambda: window.live.state == live.DISCONNECTED, timeout=15000)
        assert window.outage.isVisible() and window.outage.text() == OUTAGE_TEXT
        assert "Server unreachable - nothing can be saved until it is back" in window.statusBar().currentMessage()
        assert not record.save_button.isEnabled()
        assert not patient_view.record_button.isEnabled() and not window.desk.front.search.isEnabled()
        assert window.desk.currentIndex() == RECORD  # the form stays where it was
        assert window.lock_action.isEnabled()
    finally:
        pg_db.server.resume()
    qtbot.waitUntil(lambda: window.live.state == live.LIVE, timeout=20000)
    assert not window.outage.isVisible() and window.statusBar().currentMessage() == ""
    assert record.save_button.isEnabled() and patient_view.record_button.isEnabled()
    dialogs.set_next_answer("Record")
    record.save_button.click()  # the desk's own connection did not survive: it connects again
    qtbot.waitUntil(lambda: window.desk.currentIndex() == DONE, timeout=10000)
    window.lock()
    assert not window.outage.isVisible()
    fresh = server_session.sign_in(accounts.address(pg_db), server.mo, "mo-password-1")
    try:
        assert len(patients.view(fresh, pid).history) == 1
    finally:
        fresh.lock()
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["settings.ini"])


def test_wrong_passwords_at_the_server_sign_in_are_slowed_and_a_restart_does_not_clear_them(qtbot, settings,
                                                                                           pg_db, server):
    """As on the register file: five wrong passwords, then the sign-in form refuses every try
    (the right password too) until the time it names, and the count is this computer's
    (store/sign_in_counts.py), so a new window (the program restarted) is still held."""
    window = _window(qtbot, settings, pg_db)
    for _ in range(5):
        window.unlock.error.clear_message()
        _sign_in(qtbot, window, server.rita, "wrong-password-1")
        assert window.session is None and "user name or password is wrong" in window.unlock.error.text()
    window.unlock.error.clear_message()
    _sign_in(qtbot, window, server.rita, "rita-password-1")
    assert window.session is None
    assert window.unlock.error.text().startswith("Too many wrong passwords. The next try is allowed at ")
    assert not window.unlock.unlock_button.isEnabled()

    again = _window(qtbot, settings, pg_db)  # the program restarted on this desk
    _sign_in(qtbot, again, server.rita, "rita-password-1")
    assert again.session is None and again.unlock.error.text().startswith("Too many wrong passwords.")
    # Another user at this desk signs in as usual.
    again.unlock.error.clear_message()
    again.unlock._retry_timer.stop()
    again.unlock.unlock_button.setEnabled(True)
    _sign_in(qtbot, again, server.mo, "mo-password-1")
    assert again.session is not None and again.session.user == server.mo
    again.lock()


def test_wrong_recovery_keys_are_slowed_like_wrong_passwords(settings, pg_db, server):
    """The recovery form's tries (a login password and a recovery key) count with the same
    login's wrong passwords in this computer's count: after five, even the right key waits."""
    from gp_optout_desktop.services import users
    from gp_optout_desktop.store.errors import Throttled, WrongPassword
    from gp_optout_desktop.ui.main_window import server_recovery

    recovery = users.new_recovery_key(server.manager).data["recovery_key"]
    recover = server_recovery(accounts.address(pg_db))
    for _ in range(5):
        with pytest.raises(WrongPassword, match="^The recovery key is wrong"):
            recover(None, server.mo, "mo-password-1", "ABCD-" * 12 + "ABCD")
    with pytest.raises(Throttled, match="^Too many wrong passwords"):
        recover(None, server.mo, "mo-password-1", recovery)
    restarted = server_recovery(accounts.address(pg_db))  # the program restarted: the count is in a file
    with pytest.raises(Throttled, match="^Too many wrong passwords"):
        restarted(None, server.mo, "mo-password-1", recovery)
