"""The bulk patient insert hashes its rows in Python instead of through the attest trigger
(issue 13, creation speed): the digest it signs must be exactly the one the trigger gives,
the trigger must be back afterwards, and a row SQLite would convert falls back to it."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from gp_optout_desktop.domain.nhs_number import synthetic_range
from gp_optout_desktop.services import audit, demo
from gp_optout_desktop.store import bulk


def _signed_rows(session, action: str) -> dict:
    with session.register.reading() as conn:
        rows = conn.execute("SELECT rows FROM audit WHERE action = ? ORDER BY seq DESC LIMIT 1", (action,)).fetchone()
    return json.loads(rows[0])


def test_the_python_digest_equals_the_trigger_digest_and_verifies(manager, tmp_path, monkeypatch):
    manager.clock = lambda: datetime(2026, 11, 20, 12, tzinfo=timezone.utc)  # the same created_at in both registers
    real, took_fast_path = bulk._stored_as_given, []
    monkeypatch.setattr(bulk, "_stored_as_given", lambda conn, table, cols, rows: took_fast_path.append((table, real(conn, table, cols, rows))) or took_fast_path[-1][1])
    demo.generate(manager, 300, seed=7)
    assert took_fast_path == [("patients", True), ("events", True), ("current_state", True), ("letters", True)]
    fast = _signed_rows(manager, "demo.generate")
    assert audit.verify(manager).ok

    from gp_optout_desktop.services import setup

    other, _ = setup.create_register(tmp_path / "other", ods="F84003", practice=setup.practice_details(name="Other"),
                                     user="pm", password="pm-password-1")
    used = []
    monkeypatch.setattr(bulk, "_stored_as_given", lambda conn, table, cols, rows: used.append(table) and False)  # the trigger path
    other.clock = manager.clock
    demo.generate(other, 300, seed=7)
    assert used == ["patients", "events", "current_state", "letters"]
    slow = _signed_rows(other, "demo.generate")
    other.lock()
    assert fast["patients"] == slow["patients"] and fast["events"] == slow["events"] and fast == slow
    assert set(fast) >= {"patients", "events", "current_state", "letters"}


def test_the_insert_trigger_is_back_after_a_bulk_insert(manager, add_patient):
    demo.generate(manager, 50, seed=3)
    add_patient(manager, surname="Later")  # through the trigger again
    assert audit.verify(manager).ok
    with manager.register.reading() as conn:  # an insider's direct insert (no signed change) is caught
        conn.execute("INSERT INTO patients(id, nhs, surname, forenames, surname_key, dob, postcode, postcode_key,"
                     " created_at, created_by) VALUES (9999, NULL, 'Ghost', 'G', 'ghost', '1970-01-01', 'LS1 4AP',"
                     " 'LS14AP', '2026-01-01', 'x')")
        conn.execute("DELETE FROM temp.gp_attest_log")
    result = audit.verify(manager)
    assert not result.ok and any("patients" in p for p in result.problems)


def test_a_row_sqlite_would_convert_goes_through_the_trigger(manager):
    """An int date of birth is stored as text: hashing the Python value would sign a digest
    the table never has. The guard sends such rows through the trigger, which logs what is stored."""
    nhs = synthetic_range(3)
    rows = [(i + 1, nhs[i], "", f"P{i}", "Pat", f"p{i}", 19700101, "[]", "LS1 4AP", "LS14AP", "", "", "2026-01-01", "t")
            for i in range(3)]
    with manager.write("add_patient") as ctx:
        assert not bulk._stored_as_given(ctx.conn, "patients", bulk._PATIENT_COLUMNS, rows)
        bulk.insert_patients(ctx.conn, rows)
        ctx.audit("test.bulk")
    assert audit.verify(manager).ok
    with manager.register.reading() as conn:
        assert conn.execute("SELECT typeof(dob) FROM patients WHERE id = 1").fetchone()[0] == "text"


def test_a_replaced_current_state_row_is_still_accounted(manager):
    """INSERT OR REPLACE over an existing state: the delete trigger logs the old row, the
    Python hash adds the new one, and verify agrees with the table."""
    demo.generate(manager, 200, seed=5)
    with manager.register.reading() as conn:
        pid, kind, active, since, event = conn.execute("SELECT * FROM current_state LIMIT 1").fetchone()
    with manager.write("record_objection") as ctx:
        bulk.insert_current_state(ctx.conn, [(pid, kind, 1 - active, since, event)])
        ctx.audit("test.replace")
    assert audit.verify(manager).ok
