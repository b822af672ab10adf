"""Replacing the exclusion file's signing key on the server (ADR 0015 addendum "replacing the
signing key on the server"; schema V10), on the real test cluster, through the services: a new
Ed25519 key sealed under the manager key, the old public key kept as retired (a file it signed
still verifies against it; a new file does not), audited, in one transaction. A manager without
the manager key, a receptionist, a failure halfway and a manager racing another each change
nothing; a desk login cannot write a retired key itself, nor change or delete one."""

from __future__ import annotations

import psycopg
import pytest

from gp_optout_desktop.domain import nhs_number, roles
from gp_optout_desktop.exclusion import reader, signing
from gp_optout_desktop.exclusion.errors import ExportError
from gp_optout_desktop.services import exclusion, exclusion_server, objections, patients, server_session
from gp_optout_desktop.store.errors import Conflict
from gp_optout_desktop.store.server import signing as server_signing
from tests.server import accounts

pytestmark = pytest.mark.server


@pytest.fixture
def server(pg_db):
    reg = accounts.Register(pg_db)
    reg.mo = reg.add_user("mo", "mo-password-1", roles.MANAGER)
    reg.manager = server_session.sign_in(accounts.address(pg_db), reg.mo, "mo-password-1")  # makes the keys
    pid = patients.add(reg.manager, surname="Signer", forenames="Sam", dob="1970-01-01", postcode_raw="LS1 4AP",
                       nhs=nhs_number.synthetic(790_000)).data["patient_id"]
    objections.record(reg.manager, pid)
    yield reg
    reg.manager.lock()
    reg.close()


def _state(server) -> tuple:
    conn = server.manager.desk.conn
    return (conn.execute("SELECT key_id, sealed FROM signing_keys").fetchone(),
            server_signing.retired_public_keys(conn), server.audit(), server.manager.revision())


def _read(folder, pem: bytes, state):
    return reader.read_export(folder, signing.load_public_key_pem(pem), practice_ods="F84003", state_path=state)


def test_a_manager_replaces_the_key_and_files_signed_before_still_verify_with_the_retired_one(server, tmp_path):
    old_pem, old_id = exclusion.public_key_pem(server.manager)
    before_file = tmp_path / "before"
    before_file.mkdir()
    exclusion.export(server.manager, before_file)
    revision = server.manager.revision()

    change = exclusion.replace_signing_key(server.manager)
    new_id = change.data["key_id"]
    assert change.data["old_key_id"] == old_id and new_id != old_id
    assert change.summary.startswith(f"New signing key {new_id} (was {old_id}).")
    assert server.manager.revision() == revision + 1  # the last file now shows as out of date
    assert not exclusion.status(server.manager).startswith("Exclusion file: up to date")
    last = server.audit()[-1]
    assert last[3:6] == ("export.signing_key_replaced", "ok", f"old_key_id={old_id} new_key_id={new_id}")
    conn = server.manager.desk.conn
    assert conn.execute("SELECT key_id, saved_by FROM signing_keys").fetchone() == (new_id, server.mo)
    [(kid, pem, _at, by)] = exclusion_server.retired_public_keys(server.manager)
    assert (kid, pem.encode("ascii"), by) == (old_id, old_pem, server.mo)
    # The seed on the server is the new key's, sealed under the manager key (opened by it).
    seed = server_signing.signing_seed(conn, server.manager.manager_key, server.manager.desk.keys.practice_ref)
    assert signing.key_id(signing.private_key_from_bytes(seed)) == new_id

    assert len(_read(before_file, pem.encode("ascii"), tmp_path / "s1.json").rows) == 1  # the retired key
    after_file = tmp_path / "after"
    after_file.mkdir()
    exclusion.export(server.manager, after_file)
    new_pem, _ = exclusion.public_key_pem(server.manager)
    assert len(_read(after_file, new_pem, tmp_path / "s2.json").rows) == 1
    with pytest.raises(Exception, match="(?i)signature"):
        _read(after_file, old_pem, tmp_path / "s3.json")  # the retired key does not sign anything new

    # A second replacement keeps both retired keys, oldest first.
    exclusion.replace_signing_key(server.manager)
    assert [r[0] for r in exclusion_server.retired_public_keys(server.manager)] == [old_id, new_id]


def test_without_the_manager_key_or_as_a_receptionist_nothing_changes(pg_db, server):
    max_ = server.add_user("max", "max-password-1", roles.MANAGER)  # a manager with no manager-key slot
    rita = server.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    for login, password, error, outcome in ((max_, "max-password-1", ExportError, None),
                                            (rita, "rita-password-1", PermissionError, "denied.export")):
        session = server_session.sign_in(accounts.address(pg_db), login, password)
        try:
            before = _state(server)
            with pytest.raises(error):
                exclusion.replace_signing_key(session)
            after = _state(server)
            assert after[:2] == before[:2] and after[3] == before[3]
            new_entries = [r[3] for r in after[2][len(before[2]):]]
            assert new_entries == ([outcome] if outcome else [])
        finally:
            session.lock()


def test_a_failure_halfway_writes_nothing(server, monkeypatch):
    before = _state(server)

    def fails(*_args, **_kw):
        raise OSError("the connection dropped while the new key was being sealed")

    monkeypatch.setattr(server_signing, "store_seed", fails)  # after the old key was retired in the same tx
    with pytest.raises(OSError):
        exclusion.replace_signing_key(server.manager)
    assert _state(server) == before


def test_two_managers_replacing_at_once_the_second_is_told_and_changes_nothing(pg_db, server, monkeypatch):
    other = server_session.sign_in(accounts.address(pg_db), server.mo, "mo-password-1")  # a second desk
    try:
        stale = exclusion_server.signing_key(other)  # what the second desk read before the first committed
        exclusion.replace_signing_key(server.manager)
        before = _state(server)
        monkeypatch.setattr(exclusion_server, "signing_key", lambda _s: stale)
        with pytest.raises(Conflict, match="Another practice manager replaced the signing key just now"):
            exclusion.replace_signing_key(other)
        after = _state(server)
        assert after[:2] == before[:2] and after[3] == before[3]
    finally:
        other.lock()


def test_a_desk_login_cannot_write_change_or_delete_a_retired_key_itself(pg_db, server):
    exclusion.replace_signing_key(server.manager)
    rita = server.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    reception = server_session.sign_in(accounts.address(pg_db), rita, "rita-password-1")
    try:
        conn = reception.desk.conn
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            with reception.desk.write(changes_register=False) as tx:
                tx.audit("export.signing_key_replaced")
                tx.conn.execute("INSERT INTO retired_signing_keys(key_id, public_pem, retired_by)"
                                " VALUES ('forged', 'pem', %s)", (rita,))
        manager_conn = server.manager.desk.conn
        for sql in ("UPDATE retired_signing_keys SET public_pem = 'x'", "DELETE FROM retired_signing_keys"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                with manager_conn.transaction():
                    manager_conn.execute(sql)
        assert [r[0] for r in server_signing.retired_public_keys(conn)] == \
               [r[0] for r in server_signing.retired_public_keys(manager_conn)] and \
               len(server_signing.retired_public_keys(manager_conn)) == 1
    finally:
        reception.lock()
