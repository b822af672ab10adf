"""Schema migrations on a real encrypted register: a register written by schema version 3
(tests/fixtures/register-v3, made by the code before the key hierarchy) is copied aside, then
brought up to date on unlock, keeping every patient and its audit chain; the first practice
manager to unlock it creates the manager key (docs/adr/0006)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gp_optout_desktop.services import audit, exclusion, overview, session as session_service, users
from gp_optout_desktop.store import certs, database, keyfile, meta, schema
from gp_optout_desktop.store.errors import RecordNotCertified, WrongPassword

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "register-v3"


@pytest.fixture
def v3(tmp_path) -> Path:
    folder = tmp_path / "register"
    shutil.copytree(FIXTURE, folder)
    return folder


def test_a_version_3_register_is_backed_up_then_upgraded_by_the_first_manager(v3, tmp_path):
    before = (v3 / "register.keys").read_text()
    session = session_service.unlock(v3, "manager", "manager-demo-pass")
    try:
        assert database.schema_version(session.register.conn) == schema.LATEST
        copy = v3 / f"register.db.pre-v{schema.LATEST}.bak"
        assert copy.read_bytes() == (FIXTURE / "register.db").read_bytes()
        assert session.register.upgraded and session.register.manager_key is not None
        assert overview.overview(session).patients == 200
        result = audit.verify(session)
        assert result.ok, result.problem
        with session.register.reading() as conn:
            assert meta.get(conn, "export_signing_key") is None  # the seed left the clear
            assert meta.get(conn, certs.EXCLUSION_SEED) is not None
            actions = [r[0] for r in conn.execute("SELECT action FROM audit ORDER BY seq")]
            signed = conn.execute("SELECT count(*) FROM audit WHERE signer = ''").fetchone()[0]
        assert "register.upgrade" in actions and signed == actions.index("register.upgrade")
        # The same signing key as before the upgrade: the consumer's installed public key still works.
        with session.register.reading() as conn:
            old_key_id = meta.get(conn, "last_export")["key_id"]
        assert exclusion.public_key_pem(session)[1] == old_key_id
        exclusion.export(session, tmp_path / "exclusions")
    finally:
        session.lock()
    assert "manager_pub" in (v3 / "register.keys").read_text() and "manager_pub" not in before
    # Users who existed before take up the audit key the manager made for them at their first unlock.
    for user, password in (("reception", "reception-demo-pass"), ("gp", "gp-demo-pass")):
        other = session_service.unlock(v3, user, password)
        other.lock()
    pm = session_service.unlock(v3, "manager", "manager-demo-pass")
    try:
        assert not pm.register.upgraded
        assert audit.verify(pm).ok
        with pm.register.reading() as conn:
            assert meta.get(conn, certs.PENDING_AUDIT) == {}
        assert users.record_problems(pm) == []
    finally:
        pm.lock()
    assert sorted(p.name for p in v3.iterdir() if p.name.endswith(".bak")) == [f"register.db.pre-v{schema.LATEST}.bak"]


def test_a_receptionist_unlocking_first_after_the_upgrade_is_refused_and_nothing_changes(v3):
    with pytest.raises(RecordNotCertified, match="practice manager must unlock it once"):
        session_service.unlock(v3, "reception", "reception-demo-pass")
    assert "manager_pub" not in (v3 / "register.keys").read_text()
    session = session_service.unlock(v3, "manager", "manager-demo-pass")  # the manager then upgrades it
    try:
        assert session.register.upgraded and audit.verify(session).ok
    finally:
        session.lock()
    session_service.unlock(v3, "reception", "reception-demo-pass").lock()


def test_an_old_entry_rewritten_with_the_old_hmac_key_after_the_upgrade_is_detected(v3):
    from gp_optout_desktop.store.audit import _mac, load_key

    session_service.unlock(v3, "manager", "manager-demo-pass").lock()
    session = session_service.unlock(v3, "reception", "reception-demo-pass")
    # The receptionist holds the data key, so the old HMAC key: rewrite entry 2 with a valid MAC.
    with session.register.transaction() as conn:
        key = load_key(conn)
        row = dict(zip(("seq", "at", "user", "role", "action", "patient", "outcome", "workstation", "detail", "prev"),
                       conn.execute("SELECT seq, at, user, role, action, patient, outcome, workstation, detail, prev"
                                    " FROM audit WHERE seq = 2").fetchone()))
        row["detail"] = "rewritten"
        conn.execute("UPDATE audit SET detail = ?, mac = ? WHERE seq = 2", ("rewritten", _mac(key, row["prev"], row)))
    session.lock()
    pm = session_service.unlock(v3, "manager", "manager-demo-pass")
    try:
        result = audit.verify(pm)
        assert not result.ok and "entry 3 does not follow" in result.problem
    finally:
        pm.lock()


RECOVERY = "4KDR-DMW7-SFHY-U7KW-GDAR-MJFG-IAVT-4CEH-KLBG-KOY7-5DOM-3JE5-BMOJ"  # see the fixture's README


def test_an_upgrade_through_the_recovery_key_puts_the_manager_key_in_the_recovery_slot(v3):
    rec = session_service.unlock_with_recovery(v3, "manager", RECOVERY)
    try:
        assert rec.register.upgraded and rec.must_change_password
        users.change_own_password(rec, "manager-new-pass-2")
    finally:
        rec.lock()
    keys = keyfile.KeyFile.load(v3 / "register.keys")
    assert keys.has_secret(keyfile.RECOVERY_USER, certs.MANAGER_SECRET)
    assert keys.has_secret("manager", certs.MANAGER_SECRET) and keys.has_secret("manager", certs.AUDIT_SECRET)
    pm = session_service.unlock(v3, "manager", "manager-new-pass-2")
    try:
        result = audit.verify(pm)
        assert result.ok, result.problems
    finally:
        pm.lock()


def test_a_recovery_key_from_before_a_password_upgrade_says_it_lacks_the_manager_key(v3):
    session_service.unlock(v3, "manager", "manager-demo-pass").lock()
    with pytest.raises(RecordNotCertified, match="made before the register's upgrade"):
        session_service.unlock_with_recovery(v3, "manager", RECOVERY)


def test_the_cli_says_to_make_a_new_recovery_key_after_the_upgrade_and_the_new_one_works(v3, monkeypatch, capsys):
    from gp_optout_desktop import cli

    monkeypatch.setenv("GP_OPTOUT_REGISTER", str(v3))
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "manager-demo-pass")
    assert cli.main(["--user", "manager", "recovery-key", "new"]) == 0
    out = capsys.readouterr()
    assert "Make a new recovery key now" in out.err
    new_key = out.out.strip().splitlines()[-1]
    assert new_key != RECOVERY and len(keyfile.normalise_recovery(new_key)) == 52
    rec = session_service.unlock_with_recovery(v3, "manager", new_key)
    try:
        assert rec.register.manager_key is not None
    finally:
        rec.lock()
    with pytest.raises(WrongPassword):  # the old recovery key stopped working
        session_service.unlock_with_recovery(v3, "manager", RECOVERY)
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "reception-demo-pass")
    assert cli.main(["--user", "reception", "recovery-key", "new"]) == 3  # refused: not a manager's act
