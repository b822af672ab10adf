"""Re-keying a server practice (ADR 0015 addendum "re-keying a server practice"; schema V9;
store/server/rekey.py, services/server_users.rekey): on the real cluster, through the services
and the desk's real sign-in. After a re-key every search finds what it found before, the chain
verifies across the epoch, the old key material opens nothing new, the other users come back
through their temporary passwords; a re-key cut off before its commit changes nothing; another
practice is untouched; a receptionist cannot re-key, by the service or by SQL; a forged epoch is
refused by the server or found by verify."""

from __future__ import annotations

import os

import psycopg
import pytest

from gp_optout_desktop import cli
from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.events import Proxy
from gp_optout_desktop.domain.roles import PermissionDenied
from gp_optout_desktop.services import audit as audit_service
from gp_optout_desktop.services import exclusion, objections, patients, users
from gp_optout_desktop.services.server_session import sign_in
from gp_optout_desktop.store import audit as audit_mod
from gp_optout_desktop.store.errors import KeyDamaged, RegisterCorrupt, StoreError, WrongPassword
from gp_optout_desktop.store.server import chain, connect, ops, passwords, schema
from gp_optout_desktop.store.server import rekey as server_rekey
from gp_optout_desktop.store.server import signing as server_signing
from gp_optout_desktop.store.server.crypto import PracticeKeys, unwrap_data_key
from tests.server import practices as P
from tests.server.accounts import Register, address, url
from tests.server.test_server_export import practice_a  # noqa: F401  (a fixture: the demo register moved to a server)

MO, MEG, RITA, GINA = "mo-password-1", "meg-password-1", "rita-password-1", "gina-password-1"
SEARCHES = ("Smith", "Sm", "smithson", "Jones", "O'Brien", "9990000018", "999 000", "999000", "LS1", "LS1 4AP",
            "ZZ99", "02/01/1980", "1975-05-05", "Nobody")


@pytest.fixture
def practice(pg_db):
    """Four users (two managers, a receptionist, a GP), patients with objections, a proxy, a
    signing key and a recovery key, made through the services."""
    reg = Register(pg_db)
    reg.mo = reg.add_user("mo", MO, roles.MANAGER)
    reg.meg = reg.add_user("meg", MEG, roles.MANAGER)
    reg.rita = reg.add_user("rita", RITA, roles.RECEPTIONIST)
    reg.gina = reg.add_user("gina", GINA, roles.GP)
    manager = sign_in(address(pg_db), reg.mo, MO)  # the first manager sign-in makes the signing key
    reg.nhs = ["9990000018", "9990000026", "9990000034"]
    people = [("Smith", "Jane", reg.nhs[0], "LS1 4AP", "1980-01-02"), ("Smithson", "Sam", reg.nhs[1], "LS1 5AA",
                                                                       "1975-05-05"),
              ("Jones", "Jo", reg.nhs[2], "ZZ99 3VZ", "1980-01-02"), ("O'Brien", "Orla", None, "LS2 7AB",
                                                                    "1990-09-09")]
    reg.ids = [patients.add(manager, surname=s, forenames=f, nhs=n, postcode_raw=pc, dob=dob,
                            address=["1 Test Road"]).data["patient_id"] for s, f, n, pc, dob in people]
    objections.record(manager, reg.ids[0])
    objections.record(manager, reg.ids[1], proxy=Proxy("lpa_health_welfare", "Proxy Person", "LPA seen", reg.mo),
                       donor_lacks_capacity=True)
    users.new_recovery_key(manager)
    manager.lock()
    yield reg
    reg.close()


def _searches(session) -> dict:
    return {q: patients.find(session, q) for q in SEARCHES}


def _patient_trail(session, nhs: str) -> list[tuple]:
    return [(r.seq, r.action, r.patient) for r in audit_service.query(session, patient=nhs)]


def _admin_sets(reg, login: str, temporary: str) -> None:
    """The administrator's `gp-optout server set-desk-password`, typing the temporary password."""
    schema.set_desk_password(reg.admin, login, connect.derive_login(address(reg.pg_db), login, temporary)[1])


def _rows(admin, practice_id: int) -> dict:
    """Every row of one practice, as the administrator sees them (no row-level security)."""
    tables = ("patients", "patient_tokens", "events", "key_slots", "manager_slots", "signing_keys", "audit", "meta",
              "users", "key_epochs")
    out = {t: sorted(tuple(r) for r in admin.execute(f"SELECT * FROM {t} WHERE practice_id = %s", (practice_id,)))
           for t in tables}
    out["practice"] = tuple(admin.execute("SELECT * FROM practices WHERE id = %s", (practice_id,)).fetchone())
    return out


def test_after_a_rekey_the_same_searches_the_chain_verifies_and_the_old_keys_open_nothing_new(practice, pg_db):
    reg, where = practice, address(pg_db)
    rita_before = sign_in(where, reg.rita, RITA)  # a desk open through the re-key
    manager = sign_in(where, reg.mo, MO)
    before = _searches(manager)
    assert before["Smith"] == before["Sm"][:2] and len(before["LS1"]) == 2  # the searches find something
    trail_before = _patient_trail(manager, reg.nhs[0])
    whole_before = [(r.seq, r.patient) for r in audit_service.query(manager)]
    assert reg.nhs[0] in {p for _s, p in whole_before}  # the trail shows the patient by number
    assert any(action == "patient.create" for _s, action, _p in trail_before)
    pem_before, kid_before = exclusion.public_key_pem(manager)
    old_data_key, old_manager_key, ref = manager.desk.data_key, manager.manager_key, manager.desk.keys.practice_ref
    old_slots = dict(reg.admin.execute("SELECT name, slot FROM key_slots").fetchall())
    old_rita_unwrap = connect.derive_login(where, reg.rita, RITA)[0]
    head_before = manager.desk.head()

    change = users.rekey(manager, MO)
    assert change.summary.startswith("The register has a new key.") and "recovery key no longer works" in change.summary
    assert set(change.data["passwords"]) == {reg.meg, reg.rita, reg.gina} and change.data["recovery_key"] is None
    assert change.data["counts"] == {"patients": 4, "proxies": 1, "archive": 0}
    assert f"gp-optout server set-desk-password --login {reg.rita}" in change.data["before"]

    # The same searches, the same answers; the patient's trail finds the entries before the re-key too.
    assert _searches(manager) == before
    assert _patient_trail(manager, reg.nhs[0]) == trail_before
    whole_after = {seq: p for seq, p in ((r.seq, r.patient) for r in audit_service.query(manager))}
    assert [(seq, whole_after[seq]) for seq, _p in whole_before] == whole_before
    # The chain: the epoch entry under the old key at head + 1, then the new key's entries.
    trail = reg.admin.execute("SELECT seq, action, detail FROM audit WHERE practice_id = %s AND seq > %s ORDER BY seq",
                              (reg.practice.id, head_before.seq)).fetchall()
    assert [a for _s, a, _d in trail[:3]] == ["register.rekey_epoch", "register.rekey", "export.manager_key_given"]
    assert trail[0][2] == f"epoch=1 key={manager.desk.keys.key_id} first_seq={head_before.seq + 2}"
    assert audit_service.verify(manager).ok
    again = sign_in(where, reg.mo, MO)  # a fresh desk learns the earlier keys from the server
    try:
        assert again.desk.key_epoch == 1 and again.verify_audit().ok
        assert _searches(again) == before
        # The exclusion file keeps its signing key (the clinical system's installed public key).
        assert exclusion.public_key_pem(again) == (pem_before, kid_before)
    finally:
        again.lock()
    # Without the earlier keys the chain does not verify (the old part is under the old key).
    bare = chain.verify(manager.desk.conn, manager.desk.keys.audit_key, reg.practice.id)
    assert not bare.ok and "1 key epoch(s) and this desk holds 0 earlier key(s)" in bare.problem

    # The old key material opens nothing new.
    old = PracticeKeys.derive(old_data_key, ref)
    for pid, blob in reg.admin.execute("SELECT id, identity FROM patients WHERE practice_id = %s", (reg.practice.id,)):
        with pytest.raises(RegisterCorrupt):
            old.open_patient(reg.practice.id, pid, blob)
    assert reg.admin.execute("SELECT count(*) FROM patient_tokens WHERE token = ANY(%s)",
                             ([old.surname_prefix_token("smi"), old.dob_token("1980-01-02")],)).fetchone()[0] == 0
    assert reg.admin.execute("SELECT count(*) FROM patients WHERE nhs_bidx = %s",
                             (old.nhs_index(reg.nhs[0]),)).fetchone()[0] == 0
    new_slots = dict(reg.admin.execute("SELECT name, slot FROM key_slots").fetchall())
    assert passwords.RECOVERY_SLOT in old_slots and passwords.RECOVERY_SLOT not in new_slots
    with pytest.raises(KeyDamaged):
        unwrap_data_key(old_rita_unwrap, new_slots[reg.rita], ref, reg.rita)
    assert unwrap_data_key(old_rita_unwrap, old_slots[reg.rita], ref, reg.rita) == old_data_key  # (it was hers)
    with pytest.raises(KeyDamaged):
        server_signing.signing_seed(manager.desk.conn, old_manager_key, ref)
    assert manager.manager_key != old_manager_key
    with pytest.raises(RegisterCorrupt):
        old.open(reg.practice.id, "events", *reg.admin.execute(
            "SELECT id, proxy FROM events WHERE proxy IS NOT NULL").fetchone())

    # The desk that was open through it: its next read and write are refused in words, nothing saved.
    with pytest.raises(StoreError, match="re-keyed at another desk"):
        patients.find(rita_before, "Smith")
    seq = reg.admin.execute("SELECT audit_seq FROM practices WHERE id = %s", (reg.practice.id,)).fetchone()[0]
    with pytest.raises(StoreError, match="re-keyed at another desk"):
        patients.add(rita_before, surname="Late", forenames="Lee", dob="1970-01-01", postcode_raw="LS1 4AP")
    assert reg.admin.execute("SELECT audit_seq FROM practices WHERE id = %s", (reg.practice.id,)).fetchone()[0] == seq
    rita_before.desk.conn.close()
    rita_before.search_desk.conn.close()

    # Rita: her old password opens her login, not her slot, until the administrator sets the new one.
    temporary = change.data["passwords"]
    with pytest.raises(WrongPassword, match="was reset by a practice manager"):
        sign_in(where, reg.rita, RITA)
    _admin_sets(reg, reg.rita, temporary[reg.rita])
    rita = sign_in(where, reg.rita, temporary[reg.rita])
    assert rita.must_change_password
    users.change_own_password(rita, "rita-password-2")
    rita.lock()
    rita = sign_in(where, reg.rita, "rita-password-2")
    try:
        assert not rita.must_change_password and _searches(rita) == before
    finally:
        rita.lock()
    # Meg, the other manager, gets the new manager key under her temporary password.
    _admin_sets(reg, reg.meg, temporary[reg.meg])
    meg = sign_in(where, reg.meg, temporary[reg.meg])
    try:
        assert meg.manager_key == manager.manager_key
    finally:
        meg.lock()
    manager.lock()


def test_a_rekey_cut_off_before_its_commit_leaves_the_practice_exactly_as_it_was(practice, pg_db, monkeypatch):
    reg, where = practice, address(pg_db)
    other = P.new_practice(pg_db, reg.admin, "Other")
    other_desk = P.started(pg_db, other)
    P.add(other_desk, P.patient("Smith", nhs="9990000042"))
    manager = sign_in(where, reg.mo, MO)
    before, searches = _rows(reg.admin, reg.practice.id), _searches(manager)
    other_before = _rows(reg.admin, other.id)
    real_slots = server_rekey._slots

    def killed(cur, desk, plan, new):  # the desk's connection dies with everything re-sealed but not committed
        real_slots(cur, desk, plan, new)
        reg.admin.execute("SELECT pg_terminate_backend(%s)", (desk.conn.info.backend_pid,))

    monkeypatch.setattr(server_rekey, "_slots", killed)
    with pytest.raises(StoreError):
        users.rekey(manager, MO)
    monkeypatch.setattr(server_rekey, "_slots", real_slots)  # (not undo(): that drops the tests' cheap KDF too)
    assert _rows(reg.admin, reg.practice.id) == before
    assert _rows(reg.admin, other.id) == other_before
    again = sign_in(where, reg.mo, MO)  # the old password and key, as before
    try:
        assert again.desk.key_epoch == 0 and _searches(again) == searches and again.verify_audit().ok
        # And a re-key then completes; the other practice is still untouched.
        users.rekey(again, MO)
        assert _searches(again) == searches and again.verify_audit().ok
    finally:
        again.lock()
    assert _rows(reg.admin, other.id) == other_before
    assert other_desk.search_ids("Smith") and chain.verify(other_desk.conn, other_desk.keys.audit_key, other.id).ok
    other_desk.conn.close()


def test_a_receptionist_or_gp_cannot_rekey_by_the_service_or_by_sql(practice, pg_db):
    reg, where = practice, address(pg_db)
    for login, password in ((reg.rita, RITA), (reg.gina, GINA)):
        session = sign_in(where, login, password)
        try:
            with pytest.raises(PermissionDenied):
                users.rekey(session, password)
            assert reg.audit()[-1][1:5] == (login, session.role, "denied.rekey", "denied")
            conn = session.desk.conn
            seq = conn.execute("SELECT audit_seq FROM practices").fetchone()[0]
            for statement, args in (
                    ("SELECT app_rekey_begin(1, %s, 'forged', '\\x00')", (seq + 1,)),
                    ("SELECT app_rekey_proxies(ARRAY[1]::bigint[], ARRAY['\\x00']::bytea[])", ()),
                    ("INSERT INTO key_epochs(epoch, epoch_seq, key_id, retired) VALUES (1, %s, 'x', '\\x00')",
                     (seq + 1,)),
                    ("UPDATE practices SET key_epoch = 1", ()),
                    ("INSERT INTO audit(seq, at, actor, role, action, patient, outcome, workstation, detail, prev,"
                     " mac) VALUES (%s, 'now', 'x', 'x', 'register.rekey_epoch', '', 'ok', 'x', 'epoch=1', 'p', 'm')",
                     (seq + 1,))):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    with conn.transaction():
                        conn.execute(statement, args)
        finally:
            session.lock()
    assert reg.admin.execute("SELECT key_epoch FROM practices WHERE id = %s", (reg.practice.id,)).fetchone()[0] == 0
    assert reg.admin.execute("SELECT count(*) FROM key_epochs").fetchone()[0] == 0


def test_a_wrong_password_changes_nothing_and_a_manager_cannot_begin_an_epoch_by_sql(practice, pg_db):
    """Nor begin one without its epoch entry, nor at any seq but the next, nor re-seal a proxy
    outside a re-key."""
    reg = practice
    manager = sign_in(address(pg_db), reg.mo, MO)
    conn = manager.desk.conn
    try:
        before = _rows(reg.admin, reg.practice.id)
        with pytest.raises(ValidationError, match="that one is wrong"):
            users.rekey(manager, "not-mo-s-password")
        assert _rows(reg.admin, reg.practice.id) == before
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only inside a re-key"):
            with conn.transaction():
                conn.execute("SELECT app_rekey_proxies(ARRAY[1]::bigint[], ARRAY['\\x00']::bytea[])")
        seq = conn.execute("SELECT audit_seq FROM practices").fetchone()[0]
        with pytest.raises(psycopg.errors.SerializationFailure):  # not the next seq
            with conn.transaction():
                conn.execute("SELECT app_rekey_begin(1, %s, 'k', '\\x00')", (seq + 5,))
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="without its epoch entry"):
            with conn.transaction():  # an audit row at that seq, but not the epoch entry
                conn.execute("SELECT app_rekey_begin(1, %s, 'k', '\\x00')", (seq + 1,))
                conn.execute("DELETE FROM patient_tokens")  # refused with the rest at the commit
                conn.execute("INSERT INTO audit(seq, at, actor, role, action, patient, outcome, workstation, detail,"
                             " prev, mac) VALUES (%s, 'now', 'x', 'x', 'register.rekey', '', 'ok', 'x', '', 'p', 'm')",
                             (seq + 1,))
        assert conn.execute("SELECT key_epoch FROM practices").fetchone()[0] == 0
        assert _rows(reg.admin, reg.practice.id)["patient_tokens"] == before["patient_tokens"]
    finally:
        manager.lock()


def test_a_forged_epoch_entry_is_found_by_verify(practice, pg_db):
    """The server's administrator (a superuser, triggers off) appends an epoch entry, MAC'd under
    the practice's real key (as if they held it) and naming a key of their own: verify says so."""
    reg = practice
    manager = sign_in(address(pg_db), reg.mo, MO)
    try:
        desk = manager.desk
        seq, prev = reg.admin.execute("SELECT audit_seq, audit_mac FROM practices WHERE id = %s",
                                      (reg.practice.id,)).fetchone()
        forged = PracticeKeys.derive(os.urandom(32), desk.keys.practice_ref)
        entry = {"seq": seq + 1, "at": ops.canonical_time(P._now()), "user": reg.mo, "role": "manager",
                 "action": "register.rekey_epoch", "patient": "", "outcome": "ok", "workstation": "x",
                 "detail": f"epoch=1 key={forged.key_id} first_seq={seq + 2}"}
        mac = audit_mod._mac(desk.keys.audit_key, prev, entry)
        with reg.admin.transaction():
            reg.admin.execute("SET LOCAL session_replication_role = replica")
            reg.admin.execute("INSERT INTO audit(practice_id, seq, at, actor, role, action, patient, outcome,"
                              " workstation, detail, prev, mac) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                              (reg.practice.id, *[entry[f] for f in audit_mod.FIELDS], prev, mac))
            reg.admin.execute("UPDATE practices SET audit_seq = %s, audit_mac = %s WHERE id = %s",
                              (seq + 1, mac, reg.practice.id))
        result = manager.verify_audit()
        assert not result.ok and result.problem == f"entry {seq + 1} claims a change of key that the practice never made."
    finally:
        manager.desk.conn.close()


def test_the_rekey_cli_on_a_server_practice(practice, pg_db, tmp_path, capsys, monkeypatch):
    reg = practice
    monkeypatch.delenv("GP_OPTOUT_DATABASE", raising=False)
    pw = tmp_path / "mo.pw"
    pw.write_text(MO + "\n")
    session = sign_in(address(pg_db), reg.mo, MO)
    searches, trail = _searches(session), _patient_trail(session, reg.nhs[0])
    session.lock()
    code = cli.main(["rekey", "--database", url(pg_db), "--login", reg.mo, "--server-password-file", str(pw)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "The register has a new key." in out and f"gp-optout server set-desk-password --login {reg.rita}" in out
    assert "THE RECOVERY KEY WAS REMOVED" in out and out.count("temporary password:") == 3
    assert reg.admin.execute("SELECT key_epoch FROM practices WHERE id = %s", (reg.practice.id,)).fetchone()[0] == 1
    session = sign_in(address(pg_db), reg.mo, MO)
    try:
        assert session.verify_audit().ok and _searches(session) == searches
        users.rekey(session, MO)  # a second epoch: the first's keys travel sealed under the newest key
    finally:
        session.lock()
    session = sign_in(address(pg_db), reg.mo, MO)
    try:
        assert session.desk.key_epoch == 2 and len(session.desk.keys.retired_audit_keys) == 2
        assert session.verify_audit().ok and _searches(session) == searches
        assert _patient_trail(session, reg.nhs[0]) == trail
    finally:
        session.lock()


def test_no_key_material_in_the_statement_log_or_a_dump_after_a_rekey(practice, pg_db):
    import base64
    import subprocess

    reg, where = practice, address(pg_db)
    pg_db.log_statements("all")
    manager = sign_in(where, reg.mo, MO)
    old_data_key, old_keys, old_mkey = manager.desk.data_key, manager.desk.keys, manager.manager_key
    change = users.rekey(manager, MO)
    new_data_key, new_keys, new_mkey = manager.desk.data_key, manager.desk.keys, manager.manager_key
    seed = server_signing.signing_seed(manager.desk.conn, new_mkey, new_keys.practice_ref)
    manager.lock()
    log = pg_db.server.log_text()
    assert "app_rekey_begin" in log and "parameters: $1" in log
    dump = subprocess.run([str(pg_db.server.bin_dir / "pg_dump"), "--format=plain", "--no-owner",
                           "--dbname", pg_db.admin_conninfo], capture_output=True, text=True, check=True,
                          timeout=120).stdout
    secrets = {"typed password": [MO]}
    for name, temporary in change.data["passwords"].items():
        unwrap, login_password = connect.derive_login(where, name, temporary)
        secrets[f"temporary {name}"] = [temporary]
        secrets[f"login password {name}"] = [login_password]
        secrets[f"unwrap {name}"] = [unwrap.hex()]
    for label, key in (("old data key", old_data_key), ("new data key", new_data_key), ("old manager key", old_mkey),
                       ("new manager key", new_mkey), ("signing seed", seed), ("old field key", old_keys.field_key),
                       ("old index key", old_keys.index_key), ("old audit key", old_keys.audit_key),
                       ("new field key", new_keys.field_key), ("new index key", new_keys.index_key),
                       ("new audit key", new_keys.audit_key), ("own unwrap", connect.derive_login(where, reg.mo, MO)[0])):
        secrets[label] = [key.hex(), key.hex().upper(), base64.b64encode(key).decode()]
    for name in ("Smith", "Smithson", "Proxy Person", *reg.nhs):
        secrets[name] = [name]
    for what, text in (("statement log", log), ("pg_dump", dump)):
        found = [name for name, forms in secrets.items() if any(f in text for f in forms)]
        assert found == [], f"{what} holds {found}"


def test_a_practice_moved_from_a_file_rekeys_its_archived_trail_and_its_export_still_verifies(pg_db, practice_a,
                                                                                              tmp_path):
    """The demo register moved onto the server (its trail archived, sealed, in meta), re-keyed
    at the store (the fixture's manager has a random unwrap key, not a password): the archive
    re-checks under the new key, and the practice's export into a register file carries the
    chain with its epoch and re-checks MAC by MAC across it."""
    from gp_optout_desktop.services import backup as backup_service, server_export
    from gp_optout_desktop.store import from_server
    from gp_optout_desktop.store.server import migrate
    from tests.server.test_server_export import PASSWORD, _server_view

    a, session = practice_a
    desk = session.desk
    view = _server_view(desk)
    parts = desk.conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'migrated.%'").fetchone()[0]
    assert migrate.verify_archive(desk) == [] and parts >= 3
    others = server_rekey.users_to_reset(desk.conn, desk.user)
    plan = server_rekey.Plan(data_key=os.urandom(32), own_unwrap=os.urandom(32),
                             others={n: os.urandom(32) for n in others},
                             managers=frozenset(n for n, r in others.items() if r == roles.MANAGER),
                             manager_key=os.urandom(32), old_manager_key=session.manager_key)
    result = server_rekey.rekey(desk, plan, detail="users_reset=2")
    assert result.counts["archive"] == parts - 1  # every sealed part (migrated.from is plain JSON)
    session.rekeyed(plan.data_key, result, plan.manager_key)
    assert migrate.verify_archive(desk) == [] and session.verify_audit().ok
    assert _server_view(desk) == view

    out = tmp_path / "rekeyed.gpbackup"
    server_export.export(session, out, PASSWORD)
    file, _change = backup_service.restore(tmp_path / "restored", out, a.logins[0][0], PASSWORD)
    try:
        with file.read("backup") as conn:
            record = from_server.signed_record(conn)
            assert record["epoch_seqs"] == [result.head.seq - 1] and "retired_audit_keys" not in record
            assert from_server.verify_archive(conn, record) == []
    finally:
        file.lock()


def test_a_desk_saving_during_the_rekey_waits_for_it_and_is_then_refused_with_nothing_saved(practice, pg_db,
                                                                                          monkeypatch):
    import threading
    import time

    reg, where = practice, address(pg_db)
    rita = sign_in(where, reg.rita, RITA)
    manager = sign_in(where, reg.mo, MO)
    count = reg.admin.execute("SELECT count(*) FROM patients").fetchone()[0]
    outcome = {}

    def rita_saves():
        try:
            patients.add(rita, surname="During", forenames="Dee", dob="1970-01-01", postcode_raw="LS1 4AP")
            outcome["saved"] = True
        except StoreError as exc:
            outcome["refused"] = str(exc)

    real_slots, waiting = server_rekey._slots, threading.Thread(target=rita_saves)

    def with_rita_waiting(cur, desk, plan, new):  # the practice row is held: Rita's save reaches its chain step
        real_slots(cur, desk, plan, new)
        waiting.start()
        pid = rita.desk.conn.info.backend_pid
        for _ in range(200):
            row = reg.admin.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
            if row and row[0] == "Lock":
                break
            time.sleep(0.05)
        else:
            raise AssertionError("Rita's save never waited for the practice row")
        outcome["waited"] = True

    monkeypatch.setattr(server_rekey, "_slots", with_rita_waiting)
    users.rekey(manager, MO)
    monkeypatch.setattr(server_rekey, "_slots", real_slots)
    waiting.join(30)
    assert outcome.get("waited") and "saved" not in outcome
    assert "re-keyed at another desk" in outcome["refused"] and "Nothing was saved" in outcome["refused"]
    assert reg.admin.execute("SELECT count(*) FROM patients").fetchone()[0] == count
    try:
        assert audit_service.verify(manager).ok
    finally:
        manager.lock()
        rita.desk.conn.close()
        rita.search_desk.conn.close()


def test_the_practice_check_and_an_export_check_pass_after_a_rekey(practice, pg_db, tmp_path):
    """The integrity check and the Backups screen's export (merged beside the re-key) run with
    this desk's keys: after a re-key they must use the new key and epoch, walk the chain across
    the epoch (the check once found the trail "altered": it passed no earlier key), and find
    every row sealed under the new key; an export made after it restores and checks."""
    from gp_optout_desktop.services import server_backups, server_integrity

    reg, where = practice, address(pg_db)
    manager = sign_in(where, reg.mo, MO)
    assert server_integrity.check(manager).ok
    users.rekey(manager, MO)
    after = server_integrity.check(manager)
    assert after.ok, after.problems
    manager.lock()
    again = sign_in(where, reg.mo, MO)
    fresh = server_integrity.check(again)
    assert fresh.ok, fresh.problems
    head = again.desk.head().seq  # the trail the export carries (its own entry comes after)
    server_backups.export_practice(again, tmp_path, MO)
    (made,) = tmp_path.glob("*.gpbackup")
    report = server_backups.check_export(made, reg.mo, MO)
    assert report.counts["patients"] == 4 and report.server_head == head
    again.lock()
