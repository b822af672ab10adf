"""The audit trail's search and verify on both engines (ADR 0015): the register file's signed
trail, and the practice's chain on the PostgreSQL server (store/server/chain.py).

``audit_work`` runs the desk script of test_both_engines.py, then searches the trail the way
a practice manager does (by action, user, patient by NHS number or id, day, a limit),
exports it and verifies it; what it sees must be equal on both engines, the patient named by
NHS number on both (the server stores only a blind index and the desk turns it back)."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

import psycopg
import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import audit, objections, patients
from tests.services.conftest import Backend, server_manager
from tests.services.test_both_engines import desk_work


def _rows(rows, since: int) -> list[tuple]:
    """The entries after ``since`` as a search shows them, seq relative; the time is each
    engine's clock (the server's is the server's), so it is compared by day only."""
    return [(r.seq - since, r.at.date() == datetime.now(timezone.utc).date(), r.user, r.role, r.action, r.patient,
             r.outcome, r.detail) for r in rows if r.seq > since]


def audit_work(backend: Backend, since: int, out) -> list:
    session = backend.manager
    _seen, numbers = desk_work(session)
    no_nhs = next(pid for pid, nhs in numbers.items() if nhs is None)
    today = datetime.now(timezone.utc).date()
    seen = []
    for kw in ({}, {"action": "patient."}, {"action": "type1.withdraw"}, {"action": "letter"},
               {"user": "pm", "action": "event."}, {"user": "nobody"}, {"patient": "999 000 0018"},
               {"patient": "9990000034"}, {"patient": f"id:{no_nhs}"}, {"patient": "9990000042"},
               {"since": today, "until": today, "action": "ndoo."}, {"until": today - timedelta(days=1)},
               {"limit": 3}, {"action": "audit.read", "limit": 2}):
        seen.append((kw, _rows(audit.query(session, **kw), since)))
    found = audit.query(session, action="patient.create")
    seen.append(audit.export_csv(session, found, out / "trail.csv").summary.replace(str(out), "<out>"))
    seen.append([line.split(",")[2:] for line in (out / "trail.csv").read_text(encoding="utf-8-sig").splitlines()])
    result = audit.verify(session)
    seen.append((result.ok, result.problem))
    seen.append(_rows(audit.query(session, action="audit."), since))
    return seen


@pytest.mark.server
def test_the_same_audit_searches_give_the_same_entries_on_both_engines(both_engines, tmp_path):
    engines = both_engines
    results = []
    for engine in engines:
        (tmp_path / engine.name).mkdir()
        results.append(audit_work(engine, engine.audit_rows()[-1][0], tmp_path / engine.name))
    file_seen, server_seen = results
    assert len(file_seen) == len(server_seen) == 18
    for i, (a, b) in enumerate(zip(file_seen, server_seen)):
        assert a == b, f"step {i}"
    # Not equal-and-empty: the searches found what the script did, by NHS number too.
    counts = {str(kw): len(rows) for kw, rows in file_seen[:14]}
    assert counts["{'action': 'patient.'}"] > 4 and counts["{'action': 'type1.withdraw'}"] == 1
    assert counts["{'patient': '999 000 0018'}"] > 3 and counts["{'patient': '9990000042'}"] == 0
    assert counts["{'user': 'nobody'}"] == 0 and counts["{'limit': 3}"] == 3
    assert counts[str({"patient": f"id:{3}"})] >= 2  # the patient with no NHS number, by id
    assert all(r[5] == "9990000018" for r in file_seen[6][1])
    assert file_seen[16] == (True, None)
    assert [r[4] for r in file_seen[17]][:2] == ["audit.verify", "audit.export"]


def _tamper(backend: Backend, seq: int) -> None:
    """An insider edits one entry directly in the database (the file's key, the server's superuser)."""
    if backend.name == "sqlcipher":
        with backend.manager.register.transaction() as conn:
            conn.execute("UPDATE audit SET detail = 'edited' WHERE seq = ?", (seq,))
        return
    pg_db, _practice = backend._pg
    with psycopg.connect(pg_db.admin_conninfo, autocommit=True) as admin:
        assert admin.execute("UPDATE audit SET detail = 'edited' WHERE seq = %s", (seq,)).rowcount == 1


def test_verify_finds_an_entry_edited_in_the_database_on_either_engine(backend, add_patient):
    pm = backend.manager
    pid = add_patient(pm)
    objections.record(pm, pid)
    assert audit.verify(pm).ok
    edited = [r[0] for r in backend.audit_rows() if r[3] == "type1.register"][0]
    _tamper(backend, edited)
    result = audit.verify(pm)
    assert not result.ok and result.problem == f"entry {edited} was changed after it was written."
    last = backend.audit_rows()[-1]
    assert (last[1], last[3], last[5]) == ("pm", "audit.verify", "failed")


def test_a_receptionist_may_neither_search_nor_verify_and_each_refusal_is_audited(backend):
    desk = backend.session("desk", roles.RECEPTIONIST)
    with pytest.raises(PermissionError, match="receptionist may not"):
        audit.query(desk)
    with pytest.raises(PermissionError, match="receptionist may not"):
        audit.verify(desk)
    rows = backend.audit_rows()
    assert [(r[1], r[3]) for r in rows if r[5] == "denied"] == [("desk", "denied.view_audit")] * 2
    assert not [r for r in rows if r[3] in ("audit.read", "audit.verify")]


@pytest.mark.server
def test_the_chain_verifies_while_another_desk_keeps_writing(pg_db):
    """Verify reads the chain and the practice's head in one snapshot of its own, not inside
    its own entry's write: a desk appending meanwhile is never taken for a cut-off chain."""
    from gp_optout_desktop.services.server_session import ServerSession
    from tests.server import practices

    closers: list = []
    pg: list = []
    pm = server_manager(pg_db, closers, pg)
    _db, practice = pg
    desk = ServerSession.open(practices.connect(pg_db, *practice.logins[0]), practice.data_key,
                              user="desk", role=roles.RECEPTIONIST)
    with pm.desk.write(changes_register=False) as tx:  # a longer chain: each verify takes a while
        for _ in range(5000):
            tx.audit("test.filler")
    stop, written = threading.Event(), []

    def keep_writing():
        while not stop.is_set():
            written.append(patients.add(desk, surname="Busy", forenames="Bo", dob="1970-01-01",
                                        postcode_raw="LS1 4AP").data["patient_id"])

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        results = [audit.verify(pm) for _ in range(15)]
    finally:
        stop.set()
        writer.join(60)
    try:
        assert [r.problem for r in results if not r.ok] == []
        assert len(written) > 10, "the other desk was not writing meanwhile"
        assert results[-1].rows > results[0].rows
    finally:
        desk.lock()
        pm.lock()
        for close in closers:
            close()
