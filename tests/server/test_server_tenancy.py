"""Schema, roles and row-level security on the server (store/server/schema.py): a practice
can neither read nor write another's rows, desks cannot change events or audit rows nor act
as the owner, and a change without an audit row is refused by the server itself."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pg_errors

from gp_optout_desktop.store.errors import NewerSchema, StoreError
from gp_optout_desktop.store.server import chain, ops, schema
from tests.server import practices as P


@pytest.fixture
def two(pg_db):
    admin = P.init(pg_db)
    a, b = P.new_practice(pg_db, admin, "A"), P.new_practice(pg_db, admin, "B")
    yield admin, a, b
    admin.close()


def test_init_is_idempotent_and_a_newer_schema_is_refused_untouched(pg_db):
    admin = P.init(pg_db)
    assert schema.init_server(admin) == schema.LATEST
    assert schema.version(admin) == schema.LATEST
    with admin.transaction():
        admin.execute("INSERT INTO schema_version(version) VALUES (%s)", (schema.LATEST + 1,))
    tables_before = admin.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    with pytest.raises(NewerSchema, match="Update the program"):
        schema.init_server(admin)
    assert admin.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == tables_before
    with pytest.raises(NewerSchema):
        schema.check_version(admin)


def test_every_table_has_forced_rls_a_practice_column_and_a_nologin_owner(pg_db):
    admin = P.init(pg_db)
    rows = admin.execute(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner),"
        " EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'practice_id')"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind = 'r'").fetchall()
    assert {r[0] for r in rows} == set(schema.DESK_GRANTS)
    for name, rls, forced, owner, has_practice in rows:
        assert rls and forced, name
        assert owner == schema.OWNER, name
        # practices is keyed by id; schema_version is the one cluster-wide fact (read-only to desks)
        assert has_practice or name in ("practices", "schema_version"), name
    owner = admin.execute("SELECT rolcanlogin, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s",
                          (schema.OWNER,)).fetchone()
    assert owner == (False, False, False)
    # The reserved word is gone: no column is called "user".
    assert admin.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public'"
                         " AND column_name = 'user'").fetchone()[0] == 0


def test_desk_logins_are_plain_members_of_the_desk_group_and_cannot_become_the_owner(pg_db, two):
    admin, a, _b = two
    login, password = a.logins[0]
    attrs = admin.execute(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication, rolcanlogin"
        " FROM pg_roles WHERE rolname = %s", (login,)).fetchone()
    assert attrs == (False, False, False, False, False, True)
    groups = {g for (g,) in admin.execute(
        "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid"
        " JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s", (login,))}
    assert groups == {schema.DESK}
    # The SCRAM verifier was computed on the desk side: the password never went to the server.
    stored = admin.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (login,)).fetchone()[0]
    assert stored.startswith("SCRAM-SHA-256$4096:") and password not in stored
    with P.connect(pg_db, login, password) as conn:
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute(f"SET ROLE {schema.OWNER}")
        conn.rollback()
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE audit DISABLE TRIGGER USER")
        conn.rollback()
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute("SET session_replication_role = replica")  # would skip every trigger


def test_a_practice_can_neither_read_nor_write_another_practices_rows(pg_db, two):
    admin, a, b = two
    desk_a, desk_b = P.started(pg_db, a), P.started(pg_db, b)
    pid_a = P.add(desk_a, P.patient("Alpha", nhs="9990000018"))
    P.record(desk_a, pid_a)
    P.add(desk_b, P.patient("Bravo", nhs="9990000026"))
    conn = desk_b.conn
    for table in ("patients", "patient_tokens", "events", "current_state", "letters", "audit", "meta"):
        ids = {r[0] for r in conn.execute(f"SELECT practice_id FROM {table}")}
        assert ids <= {b.id}, table
    assert conn.execute("SELECT id FROM practices").fetchall() == [(b.id,)]
    assert conn.execute("SELECT count(*) FROM desks").fetchone()[0] == 1  # its own login only
    conn.rollback()
    assert desk_b.search_ids("Alpha") == [] and desk_b.search_ids("9990000018") == []
    with pytest.raises(StoreError):
        desk_b.get_patient(pid_a)
    # Writing into A, directly: refused by the policy, or it touches nothing.
    with pytest.raises(pg_errors.InsufficientPrivilege, match="row-level security"):
        conn.execute("INSERT INTO meta(practice_id, key, value) VALUES (%s, 'x', '1')", (a.id,))
    conn.rollback()
    assert conn.execute("UPDATE patients SET nhs_bidx = NULL WHERE id = %s", (pid_a,)).rowcount == 0
    assert conn.execute("UPDATE practices SET revision = 99 WHERE id = %s", (a.id,)).rowcount == 0
    assert conn.execute("DELETE FROM current_state WHERE practice_id = %s", (a.id,)).rowcount == 0
    conn.rollback()
    # Moving one of its own rows into A is refused too (WITH CHECK).
    own = conn.execute("SELECT id FROM patients").fetchone()[0]
    with pytest.raises(pg_errors.InsufficientPrivilege):
        conn.execute("UPDATE patients SET practice_id = %s WHERE id = %s", (a.id, own))
    conn.rollback()
    # A is as it was.
    assert desk_a.search_ids("Alpha") == [pid_a]
    assert chain.verify(desk_a.conn, desk_a.keys.audit_key, a.id).ok


@pytest.mark.parametrize("statement", [
    "UPDATE audit SET detail = 'x'", "DELETE FROM audit", "TRUNCATE audit",
    "UPDATE events SET via = 'post'", "DELETE FROM events", "TRUNCATE events",
    "DELETE FROM event_marks", "UPDATE patients SET practice_id = practice_id", "UPDATE patients SET id = id",
    "DELETE FROM patients", "UPDATE practices SET name = 'x'", "INSERT INTO desks(login, practice_id) VALUES ('x', 1)",
])
def test_desks_cannot_update_or_delete_audit_events_or_what_keys_a_row(pg_db, two, statement):
    _admin, a, _b = two
    d = P.started(pg_db, a)
    P.record(d, P.add(d, P.patient(nhs="9990000018")))
    with pytest.raises(pg_errors.InsufficientPrivilege, match="permission denied"):
        d.conn.execute(statement)
    d.conn.rollback()
    assert chain.verify(d.conn, d.keys.audit_key, a.id).ok


def test_a_change_without_an_audit_row_is_refused_at_commit(pg_db, two):
    _admin, a, _b = two
    d = P.started(pg_db, a)
    pid = P.add(d, P.patient(nhs="9990000018"))
    conn = d.conn
    before = conn.execute("SELECT count(*) FROM meta").fetchone()[0]
    reached = []
    with pytest.raises(pg_errors.IntegrityConstraintViolation, match="without an audit row"):
        with conn.transaction():
            conn.execute("INSERT INTO meta(key, value) VALUES ('sneaky', '1')")
            reached.append("the statement itself succeeded; the commit is refused")
    assert reached
    # Checking at once instead of at commit does not get round it either.
    with pytest.raises(pg_errors.IntegrityConstraintViolation):
        with conn.transaction():
            conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
            conn.execute("UPDATE patients SET nhs_bidx = NULL WHERE id = %s", (pid,))
    with pytest.raises(pg_errors.IntegrityConstraintViolation):
        with conn.transaction():
            conn.execute("DELETE FROM patient_tokens WHERE patient_id = %s", (pid,))
    assert conn.execute("SELECT count(*) FROM meta").fetchone()[0] == before
    assert conn.execute("SELECT count(*) FROM patient_tokens WHERE patient_id = %s", (pid,)).fetchone()[0] > 0
    assert d.search_ids("9990000018") == [pid]
    # An audit row written by hand satisfies the server, but not the chain: it names no MAC
    # made with the practice's key (held on the desks), so the verifier finds it.
    with conn.transaction():
        seq, mac = conn.execute("SELECT audit_seq, audit_mac FROM practices").fetchone()
        conn.execute("INSERT INTO meta(key, value) VALUES ('sneaky', '1')")
        conn.execute("INSERT INTO audit(seq, at, actor, role, action, patient, outcome, workstation, detail,"
                     " prev, mac) VALUES (%s, '2026-12-01T00:00:00.000000+00:00', 'x', 'x', 'x', '', 'ok', 'x',"
                     " '', %s, %s)", (seq + 1, mac, "f" * 64))
    result = chain.verify(conn, d.keys.audit_key, a.id)
    assert not result.ok and result.problem == f"entry {seq + 1} was changed after it was written."


def test_the_tx_stamp_on_audit_rows_cannot_be_chosen_by_a_desk(pg_db, two):
    _admin, a, _b = two
    d = P.started(pg_db, a)
    conn = d.conn
    with conn.transaction(force_rollback=True):
        future = conn.execute("SELECT txid_current() + 1").fetchone()[0]
        seq, mac = conn.execute("SELECT audit_seq, audit_mac FROM practices").fetchone()
        conn.execute("INSERT INTO audit(seq, at, actor, role, action, patient, outcome, workstation, detail, prev,"
                     " mac, tx) VALUES (%s, 'x', 'x', 'x', 'x', '', 'ok', 'x', '', %s, %s, %s)",
                     (seq + 1, mac, "f" * 64, future))
        stamped = conn.execute("SELECT tx FROM audit WHERE seq = %s", (seq + 1,)).fetchone()[0]
        assert stamped == conn.execute("SELECT txid_current()").fetchone()[0] != future
    assert chain.verify(conn, d.keys.audit_key, a.id).ok


def test_an_unmapped_or_uninitialised_login_is_refused(pg_db):
    admin = psycopg.connect(pg_db.admin_conninfo)
    with pytest.raises(StoreError, match="gp-optout server init"):
        schema.check_version(admin)
    schema.init_server(admin)
    with pytest.raises(StoreError, match="no practice"):
        schema.add_desk_login(admin, 12345, f"{pg_db.role_prefix}x", "pw")
    with pytest.raises(StoreError, match="lower-case"):
        schema.add_desk_login(admin, 1, "Robert'); DROP TABLE patients;--", "pw")
    admin.close()


def test_a_desk_that_loses_the_server_mid_write_is_told_nothing_was_saved(pg_db, two):
    admin, a, _b = two
    admin.autocommit = True
    d = P.started(pg_db, a)
    revision = d.revision()
    with pytest.raises(StoreError, match="Nothing was saved"):
        with d.write() as tx:
            ops.add_patient(tx, P.patient("Lost", nhs="9990000018"))
            admin.execute("SELECT pg_terminate_backend(%s)", (d.conn.info.backend_pid,))
            ops.add_patient(tx, P.patient("Lost", nhs="9990000026"))
    again = P.desk(pg_db, a)
    assert again.search_ids("Lost") == [] and again.revision() == revision
    assert chain.verify(again.conn, again.keys.audit_key, a.id).ok
