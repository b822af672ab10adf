"""Races with real concurrent connections (store/server/ops.py): the NHS-number clash, two
desks recording contradictory events for one patient, form ids and revisions, and the audit
chain of one practice under 20 desks for 30 seconds, verified by the server verifier and by
the register file's own."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.store import audit as audit_mod
from gp_optout_desktop.store import schema as file_schema
from gp_optout_desktop.store.errors import Conflict
from gp_optout_desktop.store.server import chain, ops
from tests.server import practices as P


def wait_until_blocked(admin, pid: int, timeout: float = 20.0) -> None:
    """Until backend ``pid`` waits on a lock held by another transaction."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = admin.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
        if row and row[0] == "Lock":
            return
        time.sleep(0.02)
    raise AssertionError("the second desk never waited for the first one's lock")


class Second(threading.Thread):
    """The second desk's transaction, run while the first one's is still open."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.result, self.error = fn, None, None

    def run(self):
        try:
            self.result = self.fn()
        except Exception as exc:  # handed to the test, which asserts on it
            self.error = exc


@pytest.fixture
def one(pg_db):
    admin = P.init(pg_db)
    admin.autocommit = True
    practice = P.new_practice(pg_db, admin, "A", logins=2)
    yield admin, practice
    admin.close()


def test_the_same_nhs_number_added_at_two_desks_at_once_is_one_patient_and_one_conflict(pg_db, one):
    admin, practice = one
    d1, d2 = P.started(pg_db, practice, login_index=0), P.desk(pg_db, practice, 1, user="bob", role="receptionist")
    second = Second(lambda: P.add(d2, P.patient("Other", "Person", nhs="9990000018")))
    with d1.write() as tx:
        first_id = ops.add_patient(tx, P.patient(nhs="9990000018"))
        second.start()
        wait_until_blocked(admin, d2.conn.info.backend_pid)  # on the unique index, not a racy pre-check
    second.join(30)
    assert isinstance(second.error, Conflict) and "already in the register" in str(second.error)
    assert d2.search_ids("9990000018") == [first_id]
    assert chain.verify(d2.conn, d2.keys.audit_key, practice.id).ok


def test_contradictory_events_for_one_patient_at_two_desks_are_taken_one_after_the_other(pg_db, one):
    admin, practice = one
    d1 = P.started(pg_db, practice)
    d2 = P.desk(pg_db, practice, 1, user="bob", role="receptionist")
    pid = P.add(d1, P.patient(nhs="9990000018"))
    second = Second(lambda: P.record(d2, pid))
    with d1.write() as tx:
        ops.record_event(tx, pid, "type1", "register", effective=P.TODAY, received=P.TODAY, via="desk",
                         today=P.TODAY, type2_cutoff=P.TODAY, recorded_at=P._now())
        second.start()
        wait_until_blocked(admin, d2.conn.info.backend_pid)  # on the patient row, before validating
    second.join(30)
    assert isinstance(second.error, ValidationError) and "Already recorded" in str(second.error)
    assert [e.action for e in d1.history(pid)] == ["register"]
    assert d1.current_state(pid) == {"type1": True}
    d1.conn.rollback()


def test_form_ids_and_revisions_from_desks_writing_at_once_are_unique_and_revisions_gap_free(pg_db, one):
    admin, practice = one
    for _ in range(6):
        P.add_login(pg_db, admin, practice)
    desks = [P.started(pg_db, practice, login_index=i) for i in range(len(practice.logins))]
    numbers = P.nhs_numbers(100)
    patients = [[P.add(d, P.patient(f"Name{i}", nhs=next(numbers))) for i in range(6)] for d in desks]
    start_revision = desks[0].revision()
    gate = threading.Barrier(len(desks))
    results: list[tuple[int, int]] = []
    errors: list[Exception] = []
    guard = threading.Lock()

    def work(d, pids):
        try:
            gate.wait()
            for pid in pids:
                with d.write() as tx:
                    _event, form_id = ops.record_event(tx, pid, "type1", "register", effective=P.TODAY,
                                                       received=P.TODAY, via="desk", today=P.TODAY,
                                                       type2_cutoff=P.TODAY, recorded_at=P._now())
                with guard:
                    results.append((form_id, tx.revision))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(d, pids)) for d, pids in zip(desks, patients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    n = sum(len(p) for p in patients)
    form_ids, revisions = [f for f, _ in results], [r for _, r in results]
    assert len(results) == n and len(set(form_ids)) == n
    assert sorted(revisions) == list(range(start_revision + 1, start_revision + n + 1))
    assert desks[0].revision() == start_revision + n
    assert chain.verify(desks[0].conn, desks[0].keys.audit_key, practice.id).ok


def file_verifier(d: ops.Desk, practice_id: int, admin, expected_head=None) -> audit_mod.Verification:
    """The register file's verifier (store/audit.py) run over the server chain's rows, copied
    into a register-file schema: the two verifiers apply the same rules."""
    lite = sqlite3.connect(":memory:")
    for step in file_schema.MIGRATIONS:
        lite.executescript(step)
    rows = admin.execute("SELECT seq, at, actor, role, action, patient, outcome, workstation, detail, prev, mac"
                         " FROM audit WHERE practice_id = %s ORDER BY seq", (practice_id,)).fetchall()
    lite.executemany("INSERT INTO audit(seq, at, user, role, action, patient, outcome, workstation, detail, prev,"
                     " mac) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    return audit_mod.AuditChain(d.keys.audit_key).verify(lite, expected_head)


def test_twenty_desks_for_thirty_seconds_on_one_practice_leave_one_gap_free_chain(pg_db, one):
    admin, practice = one
    while len(practice.logins) < 20:
        P.add_login(pg_db, admin, practice)
    desks = [P.started(pg_db, practice, login_index=i, user=f"user{i}", role="receptionist") for i in range(20)]
    numbers, numbers_lock = P.nhs_numbers(1000), threading.Lock()
    heads: list[tuple[int, audit_mod.Head]] = []
    errors: list[Exception] = []
    guard = threading.Lock()
    gate = threading.Barrier(len(desks))
    stop_at = [0.0]

    def work(d):
        try:
            gate.wait()
            while time.monotonic() < stop_at[0]:
                with numbers_lock:
                    nhs = next(numbers)
                with d.write() as tx:
                    pid = ops.add_patient(tx, P.patient("Chain", nhs=nhs))
                with guard:
                    heads.append((tx.revision, tx.head))
                with d.write() as tx:
                    ops.record_event(tx, pid, "type1", "register", effective=P.TODAY, received=P.TODAY, via="desk",
                                     today=P.TODAY, type2_cutoff=P.TODAY, recorded_at=P._now(),
                                     letter=("register", P.TODAY))
                with guard:
                    heads.append((tx.revision, tx.head))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(d,)) for d in desks]
    started = time.monotonic()
    stop_at[0] = started + 30
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    elapsed = time.monotonic() - started
    assert not errors, errors[:3]
    assert elapsed >= 30 and len(heads) >= 40
    result = chain.verify(desks[0].conn, desks[0].keys.audit_key, practice.id)
    assert result.ok, result.problems
    seq, mac, revision = admin.execute("SELECT audit_seq, audit_mac, revision FROM practices WHERE id = %s",
                                       (practice.id,)).fetchone()
    last = admin.execute("SELECT seq, mac FROM audit WHERE practice_id = %s ORDER BY seq DESC LIMIT 1",
                         (practice.id,)).fetchone()
    assert (seq, mac) == last == (result.head.seq, result.head.mac)  # the head is the last row
    count, low, high = admin.execute("SELECT count(*), min(seq), max(seq) FROM audit WHERE practice_id = %s",
                                     (practice.id,)).fetchone()
    assert (count, low, high) == (seq, 1, seq)  # gap-free
    # 20 register starts (only the first writes) + 1 + 1 + (1 letter + 1 event) per recording
    assert seq == 1 + len(heads) // 2 * 3
    revisions = sorted(r for r, _ in heads)
    assert len(set(revisions)) == len(revisions) and revisions[-1] == revision
    times = [t for (t,) in admin.execute("SELECT at FROM audit WHERE practice_id = %s ORDER BY seq", (practice.id,))]
    assert times == sorted(times)  # server time taken under the lock: in seq order across desks
    # Every head a desk was handed is in the final chain, unchanged.
    chained = dict(admin.execute("SELECT seq, mac FROM audit WHERE practice_id = %s", (practice.id,)).fetchall())
    assert all(chained[h.seq] == h.mac for _r, h in heads)
    print(f"\n20 desks, one practice, {elapsed:.1f} s: {len(heads)} transactions ({len(heads) / elapsed:.0f}/s), "
          f"{seq} chained entries")
    file_result = file_verifier(desks[0], practice.id, admin, audit_mod.Head(seq, mac))
    assert file_result.ok and file_result.rows == result.rows and file_result.head == result.head


def test_the_server_and_file_verifiers_agree_on_altered_chains(pg_db, one):
    admin, practice = one
    d = P.started(pg_db, practice)
    for i, nhs in zip(range(4), P.nhs_numbers(5)):
        P.record(d, P.add(d, P.patient(f"N{i}", nhs=nhs)))
    head = d.head()
    both = lambda: (chain.verify(admin, d.keys.audit_key, practice.id, head),  # noqa: E731
                    file_verifier(d, practice.id, admin, head))
    ok_server, ok_file = both()
    assert ok_server.ok and ok_file.ok and ok_server.rows == ok_file.rows == head.seq
    admin.execute("ALTER TABLE audit DISABLE TRIGGER USER")  # the administrator can; the chain still tells
    admin.execute("UPDATE audit SET detail = 'form=999' WHERE practice_id = %s AND seq = 4", (practice.id,))
    server, file = both()
    assert server.problem == file.problem == "entry 4 was changed after it was written."
    admin.execute("DELETE FROM audit WHERE practice_id = %s AND seq >= 4", (practice.id,))
    server, file = both()
    assert not server.ok and not file.ok
    assert "entries after 3 are missing" in file.problem and "entries after 3 are missing" in " ".join(
        server.problems)
    assert "head" in server.problem  # and the practice row's head says so on its own


def test_the_chain_verifies_while_desks_keep_writing(pg_db, one):
    """One snapshot for the rows and the head: no false 'head is not the last entry'."""
    admin, practice = one
    writer, reader = P.started(pg_db, practice), P.desk(pg_db, practice, 1, user="bob", role="receptionist")
    numbers, stop, errors = P.nhs_numbers(300), threading.Event(), []

    def write():
        try:
            while not stop.is_set():
                P.add(writer, P.patient("Busy", nhs=next(numbers)))
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        results = [chain.verify(reader.conn, reader.keys.audit_key, practice.id) for _ in range(15)]
        # On a loaded machine the writer may not have committed between 15 quick verifies: go on
        # verifying (at most 30 s) until it has, so the check below is about verifying while it grows.
        deadline = time.monotonic() + 30
        while results[-1].rows <= results[0].rows and time.monotonic() < deadline and not errors:
            results.append(chain.verify(reader.conn, reader.keys.audit_key, practice.id))
    finally:
        stop.set()
        thread.join(60)
    assert not errors and all(r.ok for r in results), [r.problem for r in results if not r.ok]
    assert results[-1].rows > results[0].rows  # the chain really grew while it was verified
