"""The practice-wide code rows and reconciliation runs on the server (server schema V6, schema_coding.py):
the server's own rules hold for them as for every table, whatever SQL a desk login sends."""

from __future__ import annotations

from datetime import date, datetime, timezone

import psycopg
import pytest
from psycopg import errors as pg_errors

from gp_optout_desktop.domain.practice_policy import ON, PolicyChange
from gp_optout_desktop.store.server.desk_store import ServerStore
from tests.server import practices as P

pytestmark = pytest.mark.server
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def two(pg_db):
    admin = P.init(pg_db)
    a, b = P.new_practice(pg_db, admin, "A"), P.new_practice(pg_db, admin, "B")
    yield admin, a, b
    admin.close()


def _turned_on(d) -> tuple[int, int]:
    """A patient, the opt-out turned on and the practice-wide add listed, through the store."""
    pid = P.add(d, P.patient("Alpha", nhs="9990000018"))
    with d.write() as tx:
        store = ServerStore(d, tx)
        policy = store.insert_policy(PolicyChange(ON, date(2026, 3, 2), "GPs decided", "gp", NOW))
        assert store.list_practice_adds(policy, date(2026, 3, 2), NOW) == 1
        store.insert_run({"at": NOW.isoformat(), "run_by": "pm", "source": "x.csv", "encoding": "utf-8",
                          "delimiter": "comma", "rows": 1, "not_coded": 0, "not_in_register": 0, "differ": 0,
                          "agree": 1, "rows_not_in_register": 0, "rows_differ": 0, "rows_agree": 1, "confirmed": 1,
                          "not_coded_oldest": None})
        tx.audit("practice_optout.on", detail="test")
    return pid, d.conn.execute("SELECT id FROM practice_codes").fetchone()[0]


def test_a_confirmed_code_row_is_never_rewritten_and_runs_are_insert_only(pg_db, two):
    _admin, a, _b = two
    d = P.started(pg_db, a)
    _pid, row = _turned_on(d)
    with d.write() as tx:
        assert ServerStore(d, tx).confirm_practice_codes([row], by="reconciliation 1", at=NOW) == 1
        tx.audit("reconcile.run", detail="test")
    conn = d.conn
    with d.write() as tx:  # a second confirmation (or a desk's own UPDATE) matches no row
        assert conn.execute("UPDATE practice_codes SET confirmed_by = 'someone else'").rowcount == 0
        tx.audit("test.update")
    for statement in ("UPDATE practice_codes SET op = 'remove'", "DELETE FROM practice_codes",
                      "UPDATE reconciliations SET agree = 0", "DELETE FROM reconciliations",
                      "TRUNCATE practice_codes", "TRUNCATE reconciliations"):
        with pytest.raises(pg_errors.InsufficientPrivilege):
            with conn.transaction():
                conn.execute(statement)
    assert conn.execute("SELECT op, confirmed_by FROM practice_codes").fetchall() == [("add", "reconciliation 1")]
    assert conn.execute("SELECT agree FROM reconciliations").fetchall() == [(1,)]


def test_a_code_row_or_run_written_without_its_audit_row_is_refused_at_commit(pg_db, two):
    _admin, a, _b = two
    d = P.started(pg_db, a)
    pid, row = _turned_on(d)
    conn = d.conn
    policy = conn.execute("SELECT id FROM policy").fetchone()[0]
    for statement, args in (
            ("INSERT INTO practice_codes(patient_id, policy_id, op, effective, queued_at)"
             " VALUES (%s, %s, 'remove', '2026-03-03', now())", (pid, policy)),
            ("UPDATE practice_codes SET confirmed_at = now(), confirmed_by = 'x' WHERE id = %s", (row,)),
            ("INSERT INTO reconciliations(id, at, run_by, source, encoding, delimiter, rows, not_coded,"
             " not_in_register, differ, agree, rows_not_in_register, rows_differ, rows_agree, confirmed)"
             " VALUES (2, now(), 'pm', 'y.csv', 'utf-8', 'comma', 0, 0, 0, 0, 0, 0, 0, 0, 0)", ())):
        with pytest.raises(pg_errors.IntegrityConstraintViolation, match="without an audit row"):
            with conn.transaction():
                conn.execute(statement, args)
    assert conn.execute("SELECT count(*), count(confirmed_at) FROM practice_codes").fetchone() == (1, 0)
    assert conn.execute("SELECT count(*) FROM reconciliations").fetchone()[0] == 1


def test_a_practice_neither_reads_nor_writes_another_practices_code_rows_or_runs(pg_db, two):
    _admin, a, b = two
    da, db = P.started(pg_db, a), P.started(pg_db, b)
    pid, row = _turned_on(da)
    conn = db.conn
    assert conn.execute("SELECT count(*) FROM practice_codes").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM reconciliations").fetchone()[0] == 0
    assert ServerStore(db).practice_latest() == [] and ServerStore(db).last_reconciliation() is None
    with db.write() as tx:
        assert conn.execute("UPDATE practice_codes SET confirmed_at = now() WHERE id = %s", (row,)).rowcount == 0
        tx.audit("test.update")
    policy = da.conn.execute("SELECT id FROM policy").fetchone()[0]
    with pytest.raises(pg_errors.InsufficientPrivilege, match="row-level security"):
        with conn.transaction():
            conn.execute("INSERT INTO practice_codes(practice_id, patient_id, policy_id, op, effective, queued_at)"
                         " VALUES (%s, %s, %s, 'remove', '2026-03-03', now())", (a.id, pid, policy))
    assert da.conn.execute("SELECT count(*), count(confirmed_at) FROM practice_codes").fetchone() == (1, 0)
    assert ServerStore(da).last_reconciliation()["agree"] == 1


def test_the_audit_row_check_is_one_index_probe_however_many_audit_rows_a_transaction_writes(pg_db, two):
    """require_audit_row runs once per changed row at commit; with audit_tx on (tx) alone the
    planner answered it, in a transaction holding many audit rows, with a BitmapAnd reading all
    of them each time (a 15,000-row import's commit took minutes). Server schema V6's audit_tx on
    (tx, practice_id) answers it with one index probe."""
    _admin, a, _b = two
    d = P.started(pg_db, a)
    conn = d.conn
    with conn.transaction():
        conn.execute(
            "INSERT INTO audit(seq, at, actor, role, action, patient, outcome, workstation, detail, prev, mac)"
            " SELECT g, 'a', 'a', 'a', 'a', 'a', 'ok', 'a', 'a', 'a', 'a' FROM generate_series(100::bigint, 12099) g")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS) SELECT EXISTS (SELECT 1 FROM audit WHERE tx = txid_current())"))
        raise psycopg.Rollback()  # the rows were only there to be planned over
    assert "BitmapAnd" not in plan and "audit_at" not in plan, plan
    assert "using audit_tx on audit" in plan, plan
