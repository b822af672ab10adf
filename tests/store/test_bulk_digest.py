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


def test_many_new_patients_at_once_are_the_rows_ids_and_digest_of_one_at_a_time(manager, tmp_path, add_patient):
    """The practice list adds its new patients with patients.insert_many (one bulk insert):
    the same ids, rows and signed digest as patients.insert one by one, into an empty
    register and after earlier patients; a number already in the register, or twice in the
    list, is the same Conflict and inserts nothing."""
    import pytest

    from gp_optout_desktop.domain.patient import Patient
    from gp_optout_desktop.services import setup
    from gp_optout_desktop.store import patients as patients_store
    from gp_optout_desktop.store.errors import Conflict

    at = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
    numbers = synthetic_range(40)
    people = [Patient(f"Surname{i}", "Fore", datetime(1970, 1, 1 + i % 28).date(), "LS1 4AP",
                      nhs_number=numbers[i] if i % 7 else None, address=("1 Road", "Town"), title="Ms" if i % 2 else "")
              for i in range(40)]
    other, _ = setup.create_register(tmp_path / "other", ods="F84003", practice=setup.practice_details(name="Other"),
                                     user="pm", password="pm-password-1")
    results = {}
    for session, bulk_insert in ((manager, True), (other, False)):
        for batch in (people[:25], people[25:]):  # into an empty register, then after earlier patients
            with session.write("add_patient") as ctx:
                if bulk_insert:
                    ids = patients_store.insert_many(ctx.conn, batch, by="pm", at=at)
                else:
                    ids = [patients_store.insert(ctx.conn, p, by="pm", at=at) for p in batch]
                ctx.audit("import.practice_list", detail=f"added={len(ids)}")
            results.setdefault(bulk_insert, []).append(ids)
        with session.register.reading() as conn:
            results[bulk_insert].append(conn.execute("SELECT * FROM patients ORDER BY id").fetchall())
        results[bulk_insert].append(_signed_rows(session, "import.practice_list")["patients"])
        assert audit.verify(session).ok
    other.lock()
    assert results[True] == results[False]
    assert results[True][0] == list(range(1, 26)) and results[True][1] == list(range(26, 41))

    with manager.register.reading() as conn:
        before = conn.execute("SELECT count(*) FROM patients").fetchone()[0]
    clash = Patient("New", "Person", datetime(1980, 1, 1).date(), "LS1 4AP", nhs_number=numbers[3])
    fresh = Patient("Fresh", "Person", datetime(1980, 1, 1).date(), "LS1 4AP", nhs_number=synthetic_range(60)[55])
    for batch in ([fresh, clash], [fresh, fresh]):
        with pytest.raises(Conflict, match="already in the register"):
            with manager.write("add_patient") as ctx:
                patients_store.insert_many(ctx.conn, batch, by="pm", at=at)
                ctx.audit("import.practice_list")
    with manager.register.reading() as conn:
        assert conn.execute("SELECT count(*) FROM patients").fetchone()[0] == before


def test_rows_hashed_while_the_indexes_build_add_the_same_sum_or_nothing(manager):
    """bulk.insert_patients hashes its rows on a thread while SQLite builds the search indexes
    (attest.Accumulator.adding_rows): the same sum as add_rows; a failure in the block or in
    the hashing reaches the caller and adds nothing to the transaction's digests."""
    import pytest

    from gp_optout_desktop.store import attest

    rows = [(1, "9990000018", "", "Ng", "Al", "ng", "1970-01-01", None), [2, None, "x", None]]
    one, other = attest.Accumulator(), attest.Accumulator()
    one.add_rows("patients", rows)
    with other.adding_rows("patients", rows):
        pass
    assert other.hashed == one.hashed and one.hashed["patients"] > 0

    failing = attest.Accumulator()
    with pytest.raises(RuntimeError, match="index build"):
        with failing.adding_rows("patients", rows):
            raise RuntimeError("index build failed")
    with pytest.raises(TypeError):  # a row that is no sequence
        with failing.adding_rows("patients", [5]):
            pass
    assert failing.hashed == {}
