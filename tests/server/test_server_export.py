"""The practice's encrypted export restores into either engine (issue 15 item 6), on the real
test cluster: a demo register file's backup restored onto server practice A (the existing
path), more recorded there through the services, then A exported (services/server_export.py);
that export restored into a register file (``gp-optout restore``'s service) and into a new
empty server practice B (``migrate-to-server --from-backup``'s), each compared with A table by
table and patient by patient with every audit chain verified. A tampered export and a wrong
password are refused by both restores and write nothing.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from gp_optout_desktop import cli
from gp_optout_desktop.services import backup as backup_service, exclusion, objections, server_export
from gp_optout_desktop.services import server_migration
from gp_optout_desktop.services.server_session import ServerSession
from gp_optout_desktop.store import events as events_store, from_server, patients as patients_store
from gp_optout_desktop.store import register as register_store
from gp_optout_desktop.store.errors import RegisterCorrupt, WrongPassword
from gp_optout_desktop.store.server import chain, export as export_store, migrate, ops
from gp_optout_desktop.store.server import signing as server_signing
from tests.server import practices
from tests.server.test_server_migrate import _empty

PASSWORD = "export-pass-1234"


@pytest.fixture
def practice_a(pg_db, demo, register_dir, tmp_path):
    """Server practice A: the demo register's backup (with the practice-wide opt-out turned on
    by its GP: policy and practice-wide code rows) restored onto it, then a desk's objection
    and a coded mark recorded there through the services (so A's chain has its own entries)."""
    from gp_optout_desktop.services import session as session_service

    gp = session_service.unlock(register_dir, "gp", "gp-demo-pass")
    exclusion.set_practice_optout(gp, "on", "The partners decided at the practice meeting")
    gp.lock()
    admin = practices.init(pg_db)
    a = practices.new_practice(pg_db, admin, "Practice A")
    admin.close()
    a.public_key = exclusion.public_key_pem(demo)  # installed on the clinical system (made now if never made)
    out = tmp_path / "demo.gpbackup"
    backup_service.backup(demo, out)
    demo.lock()
    unwrap = os.urandom(32)
    server_migration.migrate_backup(out, "manager", "manager-demo-pass", _conn(pg_db, a), unwrap, server="test",
                                    login_prefix=pg_db.role_prefix)
    session = ServerSession(ops.Desk.unlock(_conn(pg_db, a), unwrap, user=a.logins[0][0], role="manager"))
    session.manager_key = server_signing.manager_key(session.desk.conn, unwrap, session.desk.keys.practice_ref,
                                                     a.logins[0][0])
    free = session.desk.conn.execute(
        "SELECT id FROM patients WHERE id NOT IN (SELECT patient_id FROM events) ORDER BY id LIMIT 1").fetchone()[0]
    objections.record(session, free, "type1", via="post")
    uncoded = session.desk.conn.execute(
        "SELECT id FROM events WHERE kind = 'type1' AND id NOT IN (SELECT event_id FROM event_marks)"
        " ORDER BY id LIMIT 1").fetchone()[0]
    objections.mark_coded(session, uncoded)
    yield a, session
    session.desk.conn.close()


def _conn(pg_db, practice):
    login, password = practice.logins[0]
    return practices.connect(pg_db, login, password)


def _server_view(desk: ops.Desk) -> dict:
    """Everything compared between engines, keyed by NHS number (ids differ across practices)."""
    patients = {}
    for (pid,) in desk.conn.execute("SELECT id FROM patients").fetchall():
        p = desk.get_patient(pid)
        patients[p.nhs_number] = ((p.surname, p.forenames, p.dob, p.postcode, tuple(p.address), p.title, p.phone,
                                   p.email), _history(desk.history(pid)), desk.current_state(pid))
    return patients


def _file_view(conn) -> dict:
    patients = {}
    for (pid,) in conn.execute("SELECT id FROM patients").fetchall():
        p = patients_store.get(conn, pid)
        state = {k: bool(a) for k, a in conn.execute("SELECT kind, active FROM current_state WHERE patient_id = ?",
                                                      (pid,))}
        patients[p.nhs_number] = ((p.surname, p.forenames, p.dob, p.postcode, tuple(p.address), p.title, p.phone,
                                   p.email), _history(events_store.history(conn, pid)), state)
    return patients


def _history(events) -> list:
    return [(e.kind, e.action, e.effective, e.received, e.via, e.recorded_by, e.recorded_at, e.coded_at, e.coded_by,
             e.confirmed_at, e.proxy) for e in events]


def test_a_server_export_restores_into_a_register_file_and_into_an_empty_server_practice(pg_db, practice_a,
                                                                                        tmp_path):
    a, session = practice_a
    before = export_store.read_practice(session.desk)
    assert before.verification.ok and before.counts["patients"] == 300 and before.counts["practice_codes"] > 0
    out = tmp_path / "practice-a.gpbackup"
    report = server_export.export(session, out, PASSWORD)
    assert report.counts == before.counts and report.server_head_seq == before.head.seq
    assert report.signing_key_carried
    # The export is recorded in A's own chain (the last entry), with the file's content hash.
    last = session.desk.conn.execute("SELECT action, detail FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    assert last[0] == "register.export"
    assert json.loads(last[1])["db_sha256"] == report.manifest["db_sha256"]
    assert not list(tmp_path.glob(".gp-optout-export-*"))  # the scratch register is gone
    view = _server_view(session.desk)
    forms = sorted(r[0] for r in session.desk.conn.execute("SELECT form_id FROM events"))

    # 1. Into a register file, by the ordinary restore (the export's manager is A's login).
    folder = tmp_path / "restored"
    file, _change = backup_service.restore(folder, out, a.logins[0][0], PASSWORD)
    try:
        with file.read("backup") as conn:
            assert from_server.counts(conn) == {t: before.counts[t] for t in from_server.COUNTED}
            assert _file_view(conn) == view
            assert sorted(r[0] for r in conn.execute("SELECT form_id FROM events")) == forms
            # A's chain is archived in the file and re-checks, MAC by MAC, to the head the
            # file's signed entry names; the file's own trail verifies.
            record = from_server.signed_record(conn)
            assert record["server_head"] == {"seq": before.head.seq, "mac": before.head.mac}
            assert from_server.verify_archive(conn, record) == []
            # The demo file's own trail, archived on A when it moved there, came along too.
            moved = json.loads(conn.execute("SELECT value FROM meta WHERE key = ?",
                                            (from_server.FILE_TRAIL_KEY,)).fetchone()[0])
            assert moved["entries"] and moved["entries"][-1]["seq"] == moved["record"]["source_head"]["seq"]
            assert record["file_trail_digest"]  # in the file's signed entry
            assert int(json.loads(conn.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()[0])) \
                   >= before.revision
            assert {r[0] for r in conn.execute("SELECT name FROM users")} == {r[0] for r in before.tables["users"]}
        assert file.register.verify_audit().ok
        # The exclusion file's signing key came along: the clinical system's public key still verifies.
        assert exclusion.public_key_pem(file) == a.public_key
        # One archived server entry edited in the file: the archive check finds it.
        with file.register.transaction() as conn:
            part = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'from_server.audit.1'").fetchone()[0])
            original = json.loads(json.dumps(part))
            part[1][4] = "patient.view"
            conn.execute("UPDATE meta SET value = ? WHERE key = 'from_server.audit.1'",
                         (json.dumps(part, separators=(",", ":")),))
        with file.read("backup") as conn:
            assert from_server.verify_archive(conn, from_server.signed_record(conn)) == [
                "the archived server trail differs from the one recorded when it was exported."]
        with file.register.transaction() as conn:  # the server trail put back, the file trail edited instead
            conn.execute("UPDATE meta SET value = ? WHERE key = 'from_server.audit.1'",
                         (json.dumps(original, separators=(",", ":")),))
            moved["entries"][2]["action"] = "patient.view"
            conn.execute("UPDATE meta SET value = ? WHERE key = ?",
                         (json.dumps(moved, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
                          from_server.FILE_TRAIL_KEY))
        with file.read("backup") as conn:
            assert from_server.verify_archive(conn, from_server.signed_record(conn)) == [
                "the archived register-file trail differs from the one recorded when it was exported."]
        # The practice can carry on in the file: a new objection is recorded there.
        with file.read("backup") as conn:
            free = conn.execute("SELECT id FROM patients WHERE id NOT IN (SELECT patient_id FROM events)"
                                " ORDER BY id LIMIT 1").fetchone()[0]
        objections.record(file, free, "type1", via="post")
        assert file.register.verify_audit().ok
    finally:
        file.lock()

    # 2. Into a new, empty server practice B, by migrate-to-server --from-backup's path.
    admin = practices.init(pg_db)
    b = practices.new_practice(pg_db, admin, "Practice B")
    admin.close()
    unwrap = os.urandom(32)
    moved = server_migration.migrate_backup(out, a.logins[0][0], PASSWORD, _conn(pg_db, b), unwrap, server="test",
                                            login_prefix=f"{pg_db.role_prefix}b_")
    assert moved.practice_id == b.id
    desk_b = ops.Desk.unlock(_conn(pg_db, b), unwrap, user=b.logins[0][0], role="manager")
    try:
        assert migrate.server_counts(desk_b.conn) == {t: before.counts[t] for t in migrate.COUNTED}
        assert _server_view(desk_b) == view
        assert chain.verify(desk_b.conn, desk_b.keys.audit_key, desk_b.practice_id).ok
        assert migrate.verify_archive(desk_b) == []
        mkey = server_signing.manager_key(desk_b.conn, unwrap, desk_b.keys.practice_ref, b.logins[0][0])
        from gp_optout_desktop.exclusion import signing

        seed = server_signing.signing_seed(desk_b.conn, mkey, desk_b.keys.practice_ref)
        assert signing.key_id(signing.private_key_from_bytes(seed)) == a.public_key[1]
    finally:
        desk_b.conn.close()


def _tampered(out: Path, to: Path) -> Path:
    """The export with one byte of its encrypted database changed (its manifest left as it was)."""
    with zipfile.ZipFile(out) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    db = bytearray(items["register.db"])
    db[len(db) // 2] ^= 0x01
    items["register.db"] = bytes(db)
    with zipfile.ZipFile(to, "w") as zf:
        for name, data in items.items():
            zf.writestr(name, data)
    return to


def test_a_tampered_or_wrong_password_export_is_refused_by_either_restore_and_writes_nothing(pg_db, practice_a,
                                                                                           tmp_path):
    a, session = practice_a
    out = tmp_path / "practice-a.gpbackup"
    server_export.export(session, out, PASSWORD)
    bad = _tampered(out, tmp_path / "tampered.gpbackup")
    admin = practices.init(pg_db)
    c = practices.new_practice(pg_db, admin, "Practice C")
    admin.close()
    folder = tmp_path / "restored"
    cases = [(bad, PASSWORD, RegisterCorrupt, "content hash does not match"),
             (out, "not-the-password", WrongPassword, "does not open this backup")]
    for path, password, error, words in cases:
        with pytest.raises(error, match=words):
            backup_service.restore(folder, path, a.logins[0][0], password)
        assert not register_store.exists(folder)
        assert not [p for p in folder.iterdir() if not p.name.startswith(backup_service.ATTEMPTS_NAME)]  # the throttle only
        with pytest.raises(error, match=words):
            server_migration.migrate_backup(path, a.logins[0][0], password, _conn(pg_db, c), os.urandom(32),
                                            server="test", login_prefix=f"{pg_db.role_prefix}c_")
        assert _empty(pg_db, c.id)


def test_a_receptionist_is_refused_the_export_and_the_refusal_is_audited(pg_db, practice_a, tmp_path):
    a, manager = practice_a
    reception = ServerSession(ops.Desk(manager.desk.conn, manager.desk.keys, a.id, "someone", "receptionist"))
    with pytest.raises(PermissionError):
        server_export.export(reception, tmp_path / "x.gpbackup", PASSWORD)
    assert not (tmp_path / "x.gpbackup").exists()
    last = manager.desk.conn.execute("SELECT action, outcome FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    assert tuple(last) == ("denied.backup", "denied")



def test_the_cli_exports_a_server_practice_and_restore_puts_it_in_a_register_file(pg_db, demo, tmp_path, capsys,
                                                                                  monkeypatch):
    """The commands as the documentation gives them: the manager signs in with their own login
    and password (sign_in: the key slot unwrapped on this PC), exports, and restores the export
    into a register folder with `gp-optout restore`."""
    from gp_optout_desktop.store.server import connect
    from tests.server.test_server_migrate import _cli_login

    admin = practices.init(pg_db)
    a = practices.new_practice(pg_db, admin, "Practice A")
    admin.close()
    url, login, pw = _cli_login(pg_db, a.id, tmp_path)
    backup = tmp_path / "demo.gpbackup"
    backup_service.backup(demo, backup)
    demo.lock()
    conn, unwrap = connect.connect_user(connect.parse(url), login, "pm-server-password")
    with conn:
        server_migration.migrate_backup(backup, "manager", "manager-demo-pass", conn, unwrap, server="test",
                                        login_prefix=pg_db.role_prefix)
    monkeypatch.delenv(connect.ENV, raising=False)
    out = tmp_path / "export.gpbackup"
    code = cli.main(["export-from-server", "--database", url, "--login", login, "--server-password-file", str(pw),
                     "--out", str(out)])
    text, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    assert "300 patients" in text and "recovery key" in text
    # A second export to the same name is refused in one sentence and the first is kept.
    size = out.stat().st_size
    code = cli.main(["export-from-server", "--database", url, "--login", login, "--server-password-file", str(pw),
                     "--out", str(out)])
    _text, err = capsys.readouterr()
    assert code == cli.EXIT_INVALID and "already exists" in err and out.stat().st_size == size

    folder = tmp_path / "file-register"
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "pm-server-password")
    code = cli.main(["--register", str(folder), "--user", login, "restore", "--from", str(out)])
    text, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    from gp_optout_desktop.services import session as session_service

    assert register_store.exists(folder)
    file = session_service.unlock(folder, login, "pm-server-password")
    try:
        with file.read("backup") as conn:
            assert from_server.counts(conn)["patients"] == 300
            assert from_server.verify_archive(conn, from_server.signed_record(conn)) == []
        assert file.register.verify_audit().ok
    finally:
        file.lock()
