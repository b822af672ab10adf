"""`gp-optout migrate-to-server` (issue 15 item 6) on the real test cluster: a demo register
(the project's synthetic generator, with coded/confirmed marks, letters, a practice-wide
opt-out and its code list) moves into an empty server practice and is compared table by
table and patient by patient; refusals change nothing on the server; a migration killed
halfway (an injected failure, and a CLI process killed with SIGKILL) leaves the practice empty.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from gp_optout_desktop import cli
from gp_optout_desktop.services import exclusion, objections, server_migration, session as session_service
from gp_optout_desktop.store import retired
from gp_optout_desktop.store.server import chain, connect, migrate, ops, schema
from tests.server import practices
from tests.server.test_server_cli import address

ROOT = Path(__file__).resolve().parents[2]


def _empty(pg_db, practice_id: int) -> bool:
    """Seen by the administrator (a superuser is not bound by row-level security)."""
    with pg_db.admin() as conn:
        seq = conn.execute("SELECT audit_seq FROM practices WHERE id = %s", (practice_id,)).fetchone()[0]
        rows = sum(conn.execute(f"SELECT count(*) FROM {t} WHERE practice_id = %s", (practice_id,)).fetchone()[0]
                   for t in ("meta", "users", "key_slots", "patients", "patient_tokens", "events", "event_marks",
                             "current_state", "policy", "letters", "audit"))
    return seq == 0 and rows == 0


@pytest.fixture
def rich_demo(register_dir):
    """A demo register of 800 synthetic patients (manager 'manager') with a practice-wide
    opt-out turned on by the GP (policy rows and their code list) and one more event marked coded."""
    from gp_optout_desktop.services import demo as demo_service

    demo, _recovery, _stats = demo_service.create_demo(register_dir, 800)
    gp = session_service.unlock(register_dir, "gp", "gp-demo-pass")
    exclusion.set_practice_optout(gp, "on", "The partners decided at the practice meeting")
    gp.lock()
    with demo.register.reading() as conn:
        uncoded = conn.execute("SELECT id FROM events WHERE coded_at IS NULL AND kind = 'type1' LIMIT 1").fetchone()
    if uncoded:
        objections.mark_coded(demo, uncoded[0])
    yield demo
    if demo.register.is_open:
        demo.lock()


@pytest.fixture
def target(pg_db):
    admin = practices.init(pg_db)
    practice = practices.new_practice(pg_db, admin, "Moved Surgery")
    admin.close()
    return practice


def _server_conn(pg_db, practice):
    login, password = practice.logins[0]
    return practices.connect(pg_db, login, password)


def test_a_demo_register_moves_to_the_server_and_every_table_patient_and_chain_matches(pg_db, rich_demo, target,
                                                                                      tmp_path):
    session = rich_demo
    with session.register.reading() as conn:
        snap = migrate.read_source(conn)
    assert snap.counts["patients"] == 800 and snap.counts["events"] > 50
    assert snap.counts["marks"] > 0 and snap.counts["policy"] == 1 and snap.counts["practice_codes"] > 0
    assert snap.counts["letters"] > 0
    unwrap = os.urandom(32)
    report = server_migration.migrate(session, _server_conn(pg_db, target), unwrap, server="test", login_prefix=pg_db.role_prefix)
    assert report.practice_id == target.id and report.source_head_seq == snap.head.seq

    # A fresh desk unlocks the practice with the manager's key slot and reads it all back.
    desk = ops.Desk.unlock(_server_conn(pg_db, target), unwrap, user=target.logins[0][0], role="manager")
    counts = migrate.server_counts(desk.conn)
    assert counts == {t: snap.counts[t] for t in migrate.COUNTED}
    # Every patient: details, history (with marks) and current state equal the file's.
    from gp_optout_desktop.store import events as events_store, patients as patients_store

    by_nhs = {desk.get_patient(pid).nhs_number: pid for (pid,) in desk.conn.execute("SELECT id FROM patients")}
    with session.register.reading() as conn:
        for (source_id,) in conn.execute("SELECT id FROM patients").fetchall():
            p = patients_store.get(conn, source_id)
            sid = by_nhs[p.nhs_number]
            moved = desk.get_patient(sid)
            assert (moved.surname, moved.forenames, moved.dob, moved.postcode, tuple(moved.address)) == \
                   (p.surname, p.forenames, p.dob, p.postcode, tuple(p.address))
            here = events_store.history(conn, source_id)
            there = desk.history(sid)
            assert [(e.kind, e.action, e.effective, e.received, e.via, e.recorded_by, e.recorded_at,
                     e.coded_at, e.confirmed_at, e.proxy) for e in here] == \
                   [(e.kind, e.action, e.effective, e.received, e.via, e.recorded_by, e.recorded_at,
                     e.coded_at, e.confirmed_at, e.proxy) for e in there]
            state = {k: bool(a) for k, a in conn.execute(
                "SELECT kind, active FROM current_state WHERE patient_id = ?", (source_id,))}
            assert desk.current_state(sid) == state
        forms = sorted(r[0] for r in conn.execute("SELECT form_id FROM events"))
        # The practice-wide code rows have a server home (server schema V6): the same rows, in the same
        # order, read through either engine's store (ids mapped by NHS number).
        from gp_optout_desktop.store.backend import FileStore
        from gp_optout_desktop.store.server.desk_store import ServerStore

        def codes(store):
            return [(r[8], *r[2:8]) for r in store.practice_latest()]

        # most of the 800 patients have a practice-wide code task (693 in the demo's draw)
        assert codes(ServerStore(desk)) == codes(FileStore(conn)) and len(codes(FileStore(conn))) > 600
        assert ServerStore(desk).practice_task_count(True) == FileStore(conn).practice_task_count(True)
    assert sorted(r[0] for r in desk.conn.execute("SELECT form_id FROM events")) == forms
    # A new form on the server never reuses a migrated form id.
    assert desk.conn.execute("SELECT nextval('form_ids')").fetchone()[0] > max(forms)
    # Search works on the moved patients (blind indexes built by the store's own add_patient).
    some = next(iter(by_nhs))
    assert desk.search_ids(some) == [by_nhs[some]]

    # The chains: the server's verifies; its FIRST entry records the file's verified head;
    # the archived file trail re-checks to that head.
    assert chain.verify(desk.conn, desk.keys.audit_key, desk.practice_id).ok
    first = desk.conn.execute("SELECT action, detail FROM audit WHERE seq = 1").fetchone()
    assert first[0] == "register.migrate"
    assert json.loads(first[1])["source_head"] == {"seq": snap.head.seq, "mac": snap.head.mac}
    assert migrate.verify_archive(desk) == []
    entries, _record = migrate.archived_chain(desk)
    assert len(entries) == snap.head.seq and entries[-1]["mac"] == snap.head.mac
    # The server holds no NHS number in clear (the archive is sealed, the audit names blind indexes).
    with pg_db.admin() as conn:
        dump = "".join(str(r) for t in ("meta", "audit", "events") for r in conn.execute(f"SELECT * FROM {t}"))
    assert some not in dump

    # The file is retired: read-only from now on, its move recorded in its own trail.
    with session.register.reading() as conn:
        assert retired.moved(conn)["practice"] == target.id
    with pytest.raises(retired.MovedToServer, match="read-only"):
        objections.mark_coded(session, 1)
    # Nor may an exclusion file be made from it (it would be stale), nor its settings changed;
    # verifying its trail and backing it up still work.
    with pytest.raises(retired.MovedToServer):
        exclusion.export(session, tmp_path / "exclusion")
    from gp_optout_desktop.services import audit as audit_service, backup as backup_service, settings

    with pytest.raises(retired.MovedToServer):
        settings.set_idle_lock_minutes(session, 5)
    assert audit_service.verify(session).ok
    backup_service.backup(session, tmp_path / "after-move.gpbackup")
    assert session.register.verify_audit().ok


def test_a_tampered_archive_is_found_by_the_archive_check(pg_db, demo, target):
    unwrap = os.urandom(32)
    server_migration.migrate(demo, _server_conn(pg_db, target), unwrap, server="test", login_prefix=pg_db.role_prefix)
    desk = ops.Desk.unlock(_server_conn(pg_db, target), unwrap, user=target.logins[0][0], role="manager")
    entries, record = migrate.archived_chain(desk)
    entries[3]["detail"] += " edited"
    # Re-sealed with the practice key (only a desk could): the hash chain still catches it.
    part = [[e[c] for c in migrate._AUDIT_COLS] for e in entries[:migrate.ARCHIVE_PART_ROWS]]
    with desk.write() as tx:
        tx.conn.execute("UPDATE meta SET value = %s WHERE key = 'migrated.audit.1'",
                        (migrate._seal_json(desk, 1, part),))
        tx.audit("test.tamper")
    problems = migrate.verify_archive(desk)
    assert problems and "archived entry 4" in problems[0]


def test_refused_when_the_server_practice_is_not_empty_and_nothing_changes(pg_db, demo, target):
    desk = practices.started(pg_db, target)
    before = desk.head()
    with pytest.raises(migrate.MigrationRefused, match="not empty"):
        server_migration.migrate(demo, _server_conn(pg_db, target), os.urandom(32), server="test", login_prefix=pg_db.role_prefix)
    assert desk.head() == before and migrate.server_counts(desk.conn)["patients"] == 0
    with demo.register.reading() as conn:
        assert retired.moved(conn) is None  # the file stays in use


def test_refused_for_a_user_who_is_not_a_practice_manager(pg_db, demo, register_dir, target):
    reception = session_service.unlock(register_dir, "reception", "reception-demo-pass")
    with pytest.raises(PermissionError, match="practice manager"):
        server_migration.migrate(reception, _server_conn(pg_db, target), os.urandom(32), server="test", login_prefix=pg_db.role_prefix)
    reception.lock()
    assert _empty(pg_db, target.id)


def test_refused_when_the_register_trail_does_not_verify(pg_db, demo, target):
    # An insider edits an audit row directly in the file: verification fails, nothing is sent.
    with demo.register.transaction() as conn:
        conn.execute("UPDATE audit SET detail = detail || ' edited' WHERE seq = 2")
    with pytest.raises(migrate.MigrationRefused, match="does not verify"):
        server_migration.migrate(demo, _server_conn(pg_db, target), os.urandom(32), server="test", login_prefix=pg_db.role_prefix)
    assert _empty(pg_db, target.id)


def test_a_failure_halfway_leaves_the_server_practice_empty_and_a_retry_then_succeeds(pg_db, demo, target):
    calls = []

    def fail_in_events(what):
        calls.append(what)
        if what == "events":
            raise OSError("injected: the desk lost power")

    with pytest.raises(OSError, match="injected"):
        server_migration.migrate(demo, _server_conn(pg_db, target), os.urandom(32), server="test", login_prefix=pg_db.role_prefix,
                                 on_batch=fail_in_events)
    assert "patients" in calls  # the patients had been written inside the transaction
    assert _empty(pg_db, target.id)
    with demo.register.reading() as conn:
        assert retired.moved(conn) is None
    report = server_migration.migrate(demo, _server_conn(pg_db, target), os.urandom(32), server="test", login_prefix=pg_db.role_prefix)
    assert report.counts["patients"] == 300


def test_the_cli_moves_the_register_and_a_sigkill_halfway_leaves_nothing(pg_db, demo, register_dir, target,
                                                                          tmp_path, capsys, monkeypatch):
    demo.lock()
    killed = target
    url, login, server_pw = _cli_login(pg_db, target.id, tmp_path)
    env = {**os.environ, "GP_OPTOUT_REGISTER": str(register_dir), "GP_OPTOUT_PASSWORD": "manager-demo-pass"}
    args = [sys.executable, "-c", _SLOW_CLI, "--user", "manager", "migrate-to-server", "--database", url,
            "--login", login, "--server-password-file", str(server_pw), "--login-prefix", pg_db.role_prefix]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Killed once the import's transaction is open on the server and has written patients.
        deadline = time.monotonic() + 120
        with pg_db.admin() as watch:
            while time.monotonic() < deadline and proc.poll() is None and not _paused(proc):
                time.sleep(0.05)
            assert proc.poll() is None, proc.communicate()
            assert watch.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND xact_start"
                                 " IS NOT NULL", (login,)).fetchone()[0] == 1  # its transaction is open
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # The server notices the lost client and rolls its transaction back.
    deadline = time.monotonic() + 30
    with pg_db.admin() as watch:
        while time.monotonic() < deadline and watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (login,)).fetchone()[0]:
            time.sleep(0.1)
    assert _empty(pg_db, killed.id)

    # Run again, to the end, through the real CLI in this process.
    monkeypatch.setenv("GP_OPTOUT_REGISTER", str(register_dir))
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "manager-demo-pass")
    monkeypatch.delenv(connect.ENV, raising=False)
    code = cli.main(["--user", "manager", "migrate-to-server", "--database", url, "--login", login,
                     "--server-password-file", str(server_pw), "--login-prefix", pg_db.role_prefix])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    assert "300 patients" in out and "read-only" in out
    # The file now refuses changes through the CLI too, and a second run is refused.
    code = cli.main(["--user", "manager", "migrate-to-server", "--database", url, "--login", login,
                     "--server-password-file", str(server_pw), "--login-prefix", pg_db.role_prefix])
    out, err = capsys.readouterr()
    assert code != 0 and "moved to the server" in err


def _paused(proc) -> bool:
    return Path(os.environ.get("TMPDIR", "/tmp"), f"gp-optout-migrate-paused-{proc.pid}").exists()


# The CLI, with the import paused after its patients are written (inside its open transaction),
# so the test can kill it at a known point. The pause is the test's; the command is the real one.
_SLOW_CLI = r"""
import os, sys, time
from pathlib import Path
from gp_optout_desktop.store import keyfile
from tests.conftest import FAST_KDF
keyfile.KDF_DEFAULTS = dict(FAST_KDF)  # as in this test process (the desk login was derived with it)
keyfile.SERVER_KDF = dict(FAST_KDF)
from gp_optout_desktop.store.server import migrate
real = migrate.import_snapshot
def slow(desk, snap, **kw):
    def tick(what):
        if what == "patients":
            Path(os.environ.get("TMPDIR", "/tmp"), f"gp-optout-migrate-paused-{os.getpid()}").touch()
            time.sleep(600)
    return real(desk, snap, **{**kw, "on_batch": tick})
migrate.import_snapshot = slow
from gp_optout_desktop import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def test_an_encrypted_backup_restores_into_a_server_practice_by_the_same_path(pg_db, demo, target, tmp_path):
    from gp_optout_desktop.services import backup as backup_service

    out = tmp_path / "practice.gpbackup"
    backup_service.backup(demo, out)
    with demo.register.reading() as conn:
        patients = conn.execute("SELECT count(*) FROM patients").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    unwrap = os.urandom(32)
    report = server_migration.migrate_backup(out, "manager", "manager-demo-pass", _server_conn(pg_db, target),
                                             unwrap, server="test", login_prefix=pg_db.role_prefix)
    assert (report.counts["patients"], report.counts["events"]) == (patients, events)
    desk = ops.Desk.unlock(_server_conn(pg_db, target), unwrap, user=target.logins[0][0], role="manager")
    assert migrate.server_counts(desk.conn)["patients"] == patients
    assert migrate.verify_archive(desk) == [] and chain.verify(desk.conn, desk.keys.audit_key, desk.practice_id).ok
    # The live register is untouched (a backup is moved, not the file), and no copy is left behind.
    with demo.register.reading() as conn:
        assert retired.moved(conn) is None
    assert not list(Path(tempfile.gettempdir()).glob(".gp-optout-to-server-*"))


def test_a_backup_opened_with_a_wrong_password_is_refused_and_the_server_stays_empty(pg_db, demo, target, tmp_path):
    from gp_optout_desktop.services import backup as backup_service
    from gp_optout_desktop.store.errors import WrongPassword

    out = tmp_path / "practice.gpbackup"
    backup_service.backup(demo, out)
    with pytest.raises(WrongPassword):
        server_migration.migrate_backup(out, "manager", "not-the-password", _server_conn(pg_db, target),
                                        os.urandom(32), server="test", login_prefix=pg_db.role_prefix)
    assert _empty(pg_db, target.id)


def _cli_login(pg_db, practice_id: int, tmp_path) -> tuple[str, str, Path]:
    """(url, login, password file) for a manager's desk login made as the administrator would."""
    url, login = address(pg_db), f"{pg_db.role_prefix}pm"
    pw = tmp_path / "server.pw"
    pw.write_text("pm-server-password\n")
    with pg_db.admin() as admin:
        schema.add_desk_login(admin, practice_id, login,
                              connect.derive_login(connect.parse(url), login, "pm-server-password")[1])
    return url, login, pw


def test_the_cli_moves_a_backup_and_refuses_a_receptionist(pg_db, demo, register_dir, target, tmp_path, capsys,
                                                           monkeypatch):
    from gp_optout_desktop.services import backup as backup_service

    out = tmp_path / "practice.gpbackup"
    backup_service.backup(demo, out)
    demo.lock()
    url, login, pw = _cli_login(pg_db, target.id, tmp_path)
    monkeypatch.setenv("GP_OPTOUT_REGISTER", str(register_dir))
    monkeypatch.delenv(connect.ENV, raising=False)
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "reception-demo-pass")
    args = ["migrate-to-server", "--database", url, "--login", login, "--server-password-file", str(pw),
            "--login-prefix", pg_db.role_prefix]
    code = cli.main(["--user", "reception", *args])
    _out, err = capsys.readouterr()
    assert code == cli.EXIT_REFUSED and "practice manager" in err
    assert _empty(pg_db, target.id)
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "manager-demo-pass")
    code = cli.main(["--user", "manager", *args, "--from-backup", str(out)])
    text, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    assert "300 patients" in text and "read-only" not in text
    assert not _empty(pg_db, target.id)
