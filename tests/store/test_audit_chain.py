"""The audit chain detects any edit, deletion, insertion, reordering and truncation."""

import pytest

from gp_optout_desktop.services import audit, objections


@pytest.fixture
def audited(manager, add_patient):
    pid = add_patient(manager)
    objections.record(manager, pid)
    objections.record(manager, pid, action="withdraw")
    return manager


def raw(session, sql, *args):
    with session.register.transaction() as conn:
        conn.execute(sql, args)


def test_untouched_chain_verifies(audited):
    result = audit.verify(audited)
    assert result.ok and result.rows >= 6 and "intact" in result.describe()


def test_edited_row_is_detected(audited):
    raw(audited, "UPDATE audit SET user = 'someone-else' WHERE seq = 3")
    result = audit.verify(audited)
    assert not result.ok and "entry 3 was changed" in result.problem


def test_deleted_row_is_detected(audited):
    raw(audited, "DELETE FROM audit WHERE seq = 2")
    assert "entry 2 is missing" in audit.verify(audited).problem


def test_inserted_row_is_detected(audited):
    # Make room at 3 (through negative numbers, as seq is unique), then copy row 2 into the gap.
    raw(audited, "UPDATE audit SET seq = -seq WHERE seq >= 3")
    raw(audited, "UPDATE audit SET seq = 1 - seq WHERE seq < 0")
    raw(audited, "INSERT INTO audit SELECT 3, at, user, role, action, patient, outcome, workstation, detail, prev, mac"
                 ", signer, perm, rows, sig FROM audit WHERE seq = 2")
    assert not audit.verify(audited).ok


def test_forged_row_appended_at_the_end_is_detected(audited):
    head = audited.register.audit.head(audited.register.conn)
    raw(audited, "INSERT INTO audit(seq, at, user, role, action, patient, outcome, workstation, detail, prev, mac)"
                 " VALUES (?, '2026-01-01T00:00:00+00:00', 'x', 'manager', 'patient.read', '',"
                 " 'ok', 'pc', '', ?, ?)", head.seq + 1, head.mac, "0" * 64)
    assert f"entry {head.seq + 1} is not signed" in audit.verify(audited).problem


def test_reordered_rows_are_detected(audited):
    raw(audited, "UPDATE audit SET seq = -1 WHERE seq = 2")
    raw(audited, "UPDATE audit SET seq = 2 WHERE seq = 3")
    raw(audited, "UPDATE audit SET seq = 3 WHERE seq = -1")
    assert not audit.verify(audited).ok


def test_truncation_is_detected_against_the_head_kept_outside(audited):
    audited.register.remember_audit_head()
    head = audited.register.recorded_head()
    raw(audited, "DELETE FROM audit WHERE seq >= ?", head.seq - 1)
    result = audit.verify(audited)
    assert not result.ok and "missing" in result.problem
