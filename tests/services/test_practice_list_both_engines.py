"""The practice list import on both engines (ADR 0015): new patients, details brought up to date,
registration states, a returning patient, a superseded number replaced on the only record, the
patients missing from the file counted, no letters for those who left, all rows or none, the
same on a register file and on a practice on the PostgreSQL server for the same files.

``list_work`` runs on each engine with the same clock; everything it observes (plans, change
sets, refusals, the patients' views and registrations, the letters queue, the audit entries
each step wrote, the revision moves) must be equal, except how the audit names a patient;
``merge_work`` likewise for a superseded number's history moved onto the record that replaced
it (on the server by its own app_merge_history: events are append-only for desks)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.roles import PermissionDenied
from gp_optout_desktop.services import letters, objections, patients, practice_list
from tests.services.conftest import Backend
from tests.services.steps import Steps
from tests.services.test_practice_list import N, csv, row

NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)


def _registrations(session, numbers):
    with session.read_store("search") as register:
        states = register.registration_states()
        people = register.all_patients_by_nhs()
    return [(n, states.get(people[n].patient_id)) if n in people else (n, None) for n in numbers]


def list_work(backend: Backend) -> list:
    session = backend.manager
    session.clock = lambda: NOW
    step = Steps(backend, session)
    seen = step.seen

    def add(surname, nhs, **kw):
        return patients.add(session, surname=surname, forenames="Alex", dob="1970-02-01", postcode_raw="LS1 4AP",
                            nhs=nhs, **kw).data["patient_id"]

    known, leaver, absent, only = add("Known", N[0], address=["Old Road"]), add("Leaver", N[1]), \
        add("Absent", N[10]), add("Renumber", N[7])
    for pid in (known, leaver, only):
        objections.record(session, pid)
    first = csv(row(N[0], "Known", address="1 New Road"),
                row(N[1], "Leaver", status="Deducted"),
                row(N[2], "Gone", status="Deceased", died="03/03/2026"),
                row(N[3], "Visitor", status="Temporary resident"),
                row(N[4], "Newcomer"),
                row(N[8], "Renumber", previous=N[7]))
    step(lambda: practice_list.check(session, first))                  # nothing written
    step(lambda: practice_list.import_list(session, first))
    step(lambda: _registrations(session, [N[0], N[1], N[2], N[3], N[4], N[8], N[10]]))
    step(lambda: patients.view(session, known).patient.address)
    step(lambda: patients.by_nhs(session, N[8]).patient_id == only)
    step(lambda: sorted(lt.patient_id for lt in letters.pending(session)))  # the leaver's held back
    step(lambda: practice_list.check(session, first))                  # re-runnable: nothing to do
    step(lambda: practice_list.import_list(session, csv(row(N[1], "Leaver", registered="20/11/2026"))))
    step(lambda: _registrations(session, [N[1]]))
    # All or nothing: a resurrection and another date of birth under a known number.
    step(lambda: practice_list.import_list(session, csv(row(N[5], "Fresh"), row(N[2], "Gone"),
                                                        row(N[3], "Visitor", dob="02/02/1971"))))
    step(lambda: patients.find(session, "Fresh"))
    return seen


@pytest.mark.server
def test_the_same_practice_list_gives_the_same_results_on_both_engines(both_engines):
    file_seen, server_seen = (list_work(engine) for engine in both_engines)
    assert len(file_seen) == len(server_seen) == 11
    for i, (a, b) in enumerate(zip(file_seen, server_seen)):
        assert a == b, f"step {i}"
    checked, imported, states, address, renumbered, queue, again, back, back_state, refused, none = file_seen
    assert (checked[0].patients_new, checked[0].details_updated, checked[0].renumbered) == (3, 3, 1)
    assert checked[1:] == ([], 0)
    assert "6 rows: 3 new patients added" in imported[0][0] and imported[2] == 1
    assert ("patient.create", "ok", "practice list patients=3 rows=4-6") in imported[1]
    assert [s.status if s else None for _n, s in states[0]] == ["registered", "deducted", "deceased", "temporary",
                                                                "registered", "registered", None]
    assert address[0] == ("1 New Road",) and renumbered[0] is True and len(queue[0]) == 2
    assert (again[0].patients_new, again[0].details_updated, again[0].status_changed, again[0].not_in_list) == \
        (0, 0, {}, 1)
    assert "1 returning patient flagged as re-registered" in back[0][0]
    assert back_state[0][0][1].reregistered_on == NOW.date()
    assert refused[0][:2] == ("refused", "ImportRefused") and [p.row for p in refused[0][3]] == [3, 4]
    assert refused[1:] == ([], 0) and none[0] == []


def merge_work(backend: Backend) -> list:
    """A superseded NHS number: its record's history (an objection with its letter) moves onto
    the record that replaced it, which then objects; the old record is marked merged."""
    session = backend.manager
    session.clock = lambda: NOW
    step = Steps(backend, session)
    seen = step.seen

    old = patients.add(session, surname="Merge", forenames="Alex", dob="1970-02-01", postcode_raw="LS1 4AP",
                       nhs=N[5]).data["patient_id"]
    new = patients.add(session, surname="Merge", forenames="Alex", dob="1970-02-01", postcode_raw="LS1 4AP",
                       nhs=N[6]).data["patient_id"]
    objections.record(session, old)
    text = csv(row(N[6], "Merge", previous=N[5]))
    step(lambda: practice_list.check(session, text))
    step(lambda: practice_list.import_list(session, text))
    for pid in (old, new):
        step(lambda pid=pid: (lambda v: ({k: s.active for k, s in v.statuses.items()},
                                         [(e.kind, e.action) for e in v.history]))(patients.view(session, pid)))
    step(lambda: [lt.patient_id == new for lt in letters.pending(session)])
    step(lambda: _registrations(session, [N[5], N[6]]))
    step(lambda: practice_list.check(session, text))  # done once: nothing more to move
    return seen


@pytest.mark.server
def test_a_merge_moves_the_history_the_same_on_both_engines(both_engines):
    """On the server events are append-only for desks: they move only through the server's own
    app_merge_history, for a practice manager's login, with the audit row in the transaction."""
    _managers_login(both_engines[1])
    file_seen, server_seen = (merge_work(engine) for engine in both_engines)
    assert len(file_seen) == len(server_seen) == 7
    for i, (a, b) in enumerate(zip(file_seen, server_seen)):
        assert a == b, f"step {i}"
    checked, merged, old, new, queue, states, again = file_seen
    assert checked[0].merged == 1 and checked[1:] == ([], 0)
    assert "1 superseded NHS number moved to the new number" in merged[0][0] and merged[2] == 1
    assert [a for a, _o, d in merged[1]][0] == "patient.merge" and "events=1" in merged[1][0][2]
    assert not any(old[0][0].values()) and old[0][1] == []
    assert new[0][0]["type1"] and new[0][1] == [("type1", "register")]
    assert queue[0] == [True]
    assert [s.status for _n, s in states[0]] == ["merged", "registered"]
    assert again[0].merged == 0


def _managers_login(engine: Backend) -> None:
    """On the server a user's name is their login (ADR 0015): the fixture's manager session
    runs on a desk login with no users row; give it one, as a real manager's login has."""
    desk = engine.manager.desk
    with desk.write(changes_register=False) as tx:
        login = tx.conn.execute("SELECT session_user").fetchone()[0]
        tx.conn.execute("INSERT INTO users(name, role, created_at, created_by) VALUES (%s, 'manager', now(), 'test')",
                        (login,))
        tx.audit("user.create", detail=f"user={login}")


def test_only_a_practice_managers_login_moves_history_on_the_server(pg_db):
    """app_merge_history refuses any other login, and a manager's call is refused at commit
    without its audit row: a desk cannot move history by sending SQL of its own."""
    from psycopg import errors as pg_errors

    from tests.server import accounts

    reg = accounts.Register(pg_db)
    try:
        rita = reg.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
        desk = reg.desk
        with desk.write() as tx:
            a = ops_add(tx, N[5])
            b = ops_add(tx, N[6])
        from gp_optout_desktop.store.server import connect as server_connect

        _unwrap, login_password = server_connect.derive_login(accounts.address(pg_db), rita, "rita-password-1")
        with server_connect.connect(accounts.address(pg_db), rita, login_password) as conn:
            with pytest.raises(pg_errors.InsufficientPrivilege, match="only a practice manager"):
                conn.execute("SELECT app_merge_history(%s, %s)", (a, b))
        with pytest.raises(pg_errors.IntegrityConstraintViolation, match="without an audit row"):
            with desk.conn.transaction():
                desk.conn.execute("SELECT app_merge_history(%s, %s)", (a, b))
                desk.conn.execute("UPDATE registration SET status = status")  # nothing else audited either
    finally:
        reg.close()


def ops_add(tx, nhs):
    from gp_optout_desktop.domain.patient import validate_patient
    from gp_optout_desktop.store.server import ops

    pid = ops.add_patient(tx, validate_patient(surname="Merge", forenames="Alex", dob="1970-02-01",
                                               postcode_raw="LS1 4AP", nhs=nhs, today=NOW.date()))
    ops.record_event(tx, pid, "type1", "register", effective=NOW.date(), received=NOW.date(), via="desk",
                     today=NOW.date(), type2_cutoff=NOW.date(), recorded_at=NOW) if nhs == N[5] else None
    return pid


def test_a_receptionist_is_refused_the_practice_list_on_either_engine(backend):
    rec = backend.session("rec", roles.RECEPTIONIST)
    with pytest.raises(PermissionDenied):
        practice_list.import_list(rec, csv(row(N[4], "Newcomer")))
    assert backend.audit_rows()[-1][1:4] == ("rec", roles.RECEPTIONIST, "denied.import_practice_list")
    assert patients.find(backend.manager, "Newcomer") == []
