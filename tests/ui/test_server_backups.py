"""The Backups screen on a server practice (issue 15): the real main window signed in as the
practice's manager on the real PostgreSQL the tests start. The manager exports the practice
into a folder from the screen (the CLI's export, off the UI thread, with its stages shown) and
checks the export (restored into a temporary register on this PC, counts and both chains
verified, nothing written to the server). A wrong password, a missing folder, a lost server, a
full disk and a tampered file are each refused in a sentence and leave nothing behind."""

from __future__ import annotations

import errno
import zipfile

import psycopg
import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import backup as backup_service, server_backups, server_session
from gp_optout_desktop.store import from_server
from gp_optout_desktop.ui.screens import _paths
from gp_optout_desktop.ui.screens.server_backups import ServerBackupsScreen
from tests.server import accounts
from tests.ui.helpers import wait_idle
from tests.ui.test_server_screens import _objectors, _screen, _signed_in

pytestmark = pytest.mark.server


@pytest.fixture
def server(pg_db):
    reg = accounts.Register(pg_db)
    reg.mo = reg.add_user("mo", "mo-password-1", roles.MANAGER)
    reg.manager = server_session.sign_in(accounts.address(pg_db), reg.mo, "mo-password-1")
    _objectors(reg, 3, 770_000)
    yield reg
    reg.manager.lock()
    reg.close()


def _backups(qtbot, settings, pg_db, server):
    window = _signed_in(qtbot, settings, pg_db, server.mo, "mo-password-1")
    screen = _screen(qtbot, window, "Backups")
    assert isinstance(screen, ServerBackupsScreen)
    return window, screen


def _export(qtbot, screen, folder, password="mo-password-1") -> list[str]:
    """Export from the screen; returns the progress words it showed on the way."""
    shown = []
    screen._progress.said.connect(shown.append)
    screen.export_password.setText(password)
    _paths.set_next_path(folder)
    screen.export_button.click()
    assert not screen.export_button.isEnabled()  # the UI thread is free; the button waits for the answer
    wait_idle(qtbot, screen)
    return shown


def _check(qtbot, screen, path, password="mo-password-1") -> None:
    screen.check_password.setText(password)
    _paths.set_next_path(path)
    screen.check_button.click()
    wait_idle(qtbot, screen)


def _files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_manager_exports_the_practice_from_the_screen_and_checks_the_export(qtbot, settings, pg_db, server,
                                                                             tmp_path):
    window, screen = _backups(qtbot, settings, pg_db, server)
    folder = tmp_path / "usb"
    folder.mkdir()
    shown = _export(qtbot, screen, folder)
    [name] = _files(folder)
    assert name.startswith("gp-optout-server-export-") and name.endswith(".gpbackup")
    assert screen.status.text().startswith(f"Exported the practice to {name}: 3 patients, 3 events"), \
        screen.status.text()
    assert "It opens with your user name" in screen.status.text()
    assert shown[0] == "Checking your password…" and shown[-1].startswith(f"Writing {name} and checking it")
    assert any(s.startswith("Reading the practice from the server") for s in shown)
    assert "The export's recovery key" in screen.result.text()
    actions = [r[3] for r in server.audit()]
    assert actions[-1] == "register.export"

    before = server.audit()
    _check(qtbot, screen, folder / name)
    assert screen.status.text().startswith(f"{name} restores: made "), screen.status.text()
    assert "3 patients" in screen.status.text() and "Nothing was written to the server." in screen.status.text()
    assert server.audit() == before  # the check touched nothing on the server
    assert _files(folder) == [name]  # and left nothing beside the export

    # The export is what the screen says: a register backup that restores with the manager's login.
    file, _change = backup_service.restore(tmp_path / "restored", folder / name, server.mo, "mo-password-1")
    try:
        with file.read("backup") as conn:
            assert from_server.counts(conn)["patients"] == 3
    finally:
        file.lock()

    window.lock()  # the recovery key shown once does not outlive the lock
    assert window.session is None and screen.result.text() == "" and screen.export_password.text() == ""


def test_a_tampered_export_or_a_wrong_password_is_named_by_the_check(qtbot, settings, pg_db, server, tmp_path):
    window, screen = _backups(qtbot, settings, pg_db, server)
    folder = tmp_path / "usb"
    folder.mkdir()
    _export(qtbot, screen, folder)
    [name] = _files(folder)
    with zipfile.ZipFile(folder / name) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    db = bytearray(items["register.db"])
    db[len(db) // 2] ^= 0x01
    items["register.db"] = bytes(db)
    bad = tmp_path / "tampered.gpbackup"
    with zipfile.ZipFile(bad, "w") as zf:
        for item, data in items.items():
            zf.writestr(item, data)
    before = server.audit()
    _check(qtbot, screen, bad)
    assert screen.status.text() == ("The backup's content hash does not match: the file is damaged or was altered.")
    _check(qtbot, screen, folder / name, password="not-my-password")
    assert screen.status.text().startswith("That password does not open this backup.")
    assert server.audit() == before
    window.lock()


def test_a_wrong_password_a_missing_folder_or_a_lost_server_writes_nothing(qtbot, settings, pg_db, server,
                                                                            tmp_path):
    window, screen = _backups(qtbot, settings, pg_db, server)
    folder = tmp_path / "usb"
    folder.mkdir()
    _export(qtbot, screen, folder, password="not-my-password")
    assert screen.status.text() == server_backups.WRONG_PASSWORD
    assert _files(folder) == [] and screen.result.text() == ""

    _export(qtbot, screen, tmp_path / "not-plugged-in")
    assert screen.status.text().startswith(f"The folder {tmp_path / 'not-plugged-in'} does not exist")
    assert not (tmp_path / "not-plugged-in").exists()

    exports_before = [r for r in server.audit() if r[3] == "register.export"]
    with psycopg.connect(pg_db.admin_conninfo, autocommit=True) as admin:  # the server restarts under the desk
        admin.execute("SELECT pg_terminate_backend(%s)", (window.session.desk.conn.info.backend_pid,))
    _export(qtbot, screen, folder)
    assert screen.status.text() == "The register server could not be reached. Nothing was saved.", \
        screen.status.text()
    assert _files(folder) == []
    assert [r for r in server.audit() if r[3] == "register.export"] == exports_before
    window.lock()


def test_a_full_disk_while_the_export_is_written_leaves_nothing_half_done(qtbot, settings, pg_db, server, tmp_path,
                                                                          monkeypatch):
    from gp_optout_desktop.store import backup as store_backup

    real = store_backup._export_copy

    def fills_up(conn, data_key, target):  # the disk fills while the encrypted copy is written
        real(conn, data_key, target)
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(store_backup, "_export_copy", fills_up)
    window, screen = _backups(qtbot, settings, pg_db, server)
    folder = tmp_path / "usb"
    folder.mkdir()
    _export(qtbot, screen, folder)
    assert "the disk is full" in screen.status.text(), screen.status.text()
    assert _files(folder) == []  # no export, no scratch register, no half-written copy
    assert "register.export" not in [r[3] for r in server.audit()]
    window.lock()


def test_only_a_practice_manager_has_the_screen_and_the_service_refuses_others(qtbot, settings, pg_db, server,
                                                                              tmp_path):
    gp = server.add_user("gia", "gia-password-1", roles.GP)
    window = _signed_in(qtbot, settings, pg_db, gp, "gia-password-1")
    assert "Backups" not in [window.nav.item(i).text() for i in range(window.nav.count())]
    with pytest.raises(PermissionError):
        server_backups.export_practice(window.session, tmp_path, "gia-password-1")
    assert not list(tmp_path.glob("*.gpbackup"))
    assert server.audit()[-1][3:5] == ("denied.backup", "denied")
    window.lock()


def test_the_practice_is_checked_after_sign_in_and_on_demand_and_a_failure_is_shown_and_audited(
        qtbot, settings, pg_db, server):
    window, screen = _backups(qtbot, settings, pg_db, server)
    status = window.integrity
    qtbot.waitUntil(lambda: status.label.text().startswith("Server check at "), timeout=30000)
    assert "3 patients and 3 events agree; no damage found." in status.label.text()
    assert status.button.text() == "Check the practice" and status.button.isEnabled()
    assert "register.check" not in [r[3] for r in server.audit()]  # a passing background check: not audited

    screen.integrity_button.click()
    wait_idle(qtbot, screen)
    assert screen.integrity_result.text().startswith("Server check at "), screen.status.text()
    assert server.audit()[-1][3:5] == ("register.check", "ok")  # on demand: audited

    a, b = _two_patients(server)
    with psycopg.connect(pg_db.admin_conninfo, autocommit=True) as admin:  # behind the program
        admin.execute("UPDATE patients p SET identity = q.identity FROM patients q"
                      " WHERE (p.id, q.id) IN ((%s, %s), (%s, %s))", (a, b, b, a))
    status.button.click()
    qtbot.waitUntil(lambda: "failed its integrity check" in status.label.text(), timeout=30000)
    assert f"Patient row {a}: its sealed details do not open" in status.label.text()
    assert "bold" in status.label.styleSheet()
    assert server.audit()[-1][3:5] == ("register.check", "failed")
    screen.integrity_button.click()
    wait_idle(qtbot, screen)
    assert "failed its integrity check" in screen.integrity_result.text()
    assert screen.status.text() == "The practice on the server failed its check: see below."
    window.lock()
    assert status.label.text() == ""


def _two_patients(server) -> tuple[int, int]:
    rows = server.desk.conn.execute("SELECT id FROM patients ORDER BY id LIMIT 2").fetchall()
    return rows[0][0], rows[1][0]
