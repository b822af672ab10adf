"""Reconciliation on both engines (ADR 0015): the comparison, the confirmations (ADR 0009), the
one-step import of (b), the practice-wide code rows it confirms, the report and the refusals,
the same on a register file and on a practice on the PostgreSQL server for the same data.

``reconcile_work`` is one script of a practice manager's reconciling; it runs on each engine
with the same clock and everything it observes (results, change sets, refusals, worklists, the
overview's last run, the report's bytes, the audit entries each step wrote and how far each
moved the register's revision) must be equal, except how the audit names a patient."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.practice_policy import ON
from gp_optout_desktop.domain.roles import PermissionDenied
from gp_optout_desktop.services import coding, exclusion, objections, overview, patients, reconcile
from tests.coding.helpers import N, emis_export
from tests.services.conftest import Backend
from tests.services.steps import Steps

START = datetime(2026, 11, 2, 12, tzinfo=timezone.utc)
T1, T1W, T2 = "827241000000103", "827261000000102", "881561000000100"
PW = "827241000000103"  # the practice-wide opt-out is keyed as the Type 1 code (domain.coding)


def _result(r):
    """What a run found, as the screen and the report show it."""
    if isinstance(r, Path):
        return r.name
    if not isinstance(r, reconcile.Result):
        return r
    return (r.run_id, r.describe(), r.confirmed, r.not_coded_oldest,
            [(i.category, i.reason, i.kind, i.nhs, i.surname, i.forenames, i.dob, i.register, i.clinical,
              tuple(i.rows), tuple(i.refs)) for i in r.items],
            [(m.row, m.patient.nhs_number, m.kind, m.action, m.effective) for m in r.missing_rows])


def reconcile_work(backend: Backend, out: Path) -> list:
    session = backend.manager
    offset = [timedelta()]
    # A clock that moves only when the script moves it: the engines need not read it equally often.
    session.clock = lambda: START + offset[0]
    results: list = []

    def shown(result):
        if isinstance(result, reconcile.Result):
            results.append(result)
        if hasattr(result, "summary"):
            return (result.summary, sorted(result.patient_ids), result.data.get("plan"))
        return _result(result)

    step = Steps(backend, session, shown)
    seen = step.seen

    def add(key, n, surname, forenames, dob):
        ids[key] = patients.add(session, surname=surname, forenames=forenames, nhs=N[n], dob=dob,
                                postcode_raw="LS1 4AP").data["patient_id"]

    ids: dict[str, int] = {}
    for key, n, surname, forenames, dob in (("A", 0, "Ap Rhys", "Siân", "1950-02-03"),
                                           ("B", 1, "Bell", "Tom", "1980-01-01"),
                                           ("D", 3, "Dee", "Ruth", "1966-06-06"),
                                           ("E", 4, "Evans", "Ifan", "1975-01-01"),
                                           ("F", 5, "Ford", "Lee", "1990-09-09"),
                                           ("G", 6, "Gale", "Amy", "1985-08-08")):
        add(key, n, surname, forenames, dob)
    for key in ("A", "B", "D", "F"):
        objections.record(session, ids[key], effective=date(2026, 10, 30))
    objections.record(session, ids["D"], action="withdraw")
    f_event = patients.view(session, ids["F"]).history[0].event_id
    objections.mark_coded(session, f_event)
    offset[0] = timedelta(days=10)

    export = out / "export.csv"
    export.write_bytes(emis_export([
        (N[0], "Ap Rhys", "Siân", date(1950, 2, 3), "LS1 4AP", T1, date(2026, 10, 30)),   # (d)
        (N[2], "Cole", "Ann", date(1970, 7, 7), "LS1 4AP", T1, date(2019, 4, 1)),         # (b): GP2GP
        (N[2], "Cole", "Ann", date(1970, 7, 7), "LS1 4AP", T1W, date(2020, 4, 1)),        # (b)
        (N[3], "Dee", "Ruth", date(1966, 6, 6), "LS1 4AP", T1, date(2026, 10, 30)),       # (c)
        (N[4], "Evans", "Ifan", date(1975, 1, 1), "LS1 4AP", T2, date(2019, 5, 1)),       # (b): a Type 2
    ]))
    step(lambda: reconcile.reconcile(session, export))                     # run 1: (a) B, F; (b); (c); (d)
    first = results[-1]
    step(lambda: reconcile.write_report(session, first, out / "report.csv"))  # an audited read
    seen.append((out / "report.csv").read_bytes())
    step(lambda: reconcile.import_missing(session, first))                 # (b) in one step: the import
    step(lambda: reconcile.reconcile(session, export))                     # run 2: (b) now agrees
    step(lambda: reconcile.last_run_for(session))
    step(lambda: [(i.ref, i.source, i.op, i.state) for i in coding.worklist(session).items])

    # The GPs turn the practice-wide opt-out on: everyone not objecting is asked for the code.
    gp = backend.session("gp", roles.GP)
    gp.clock = session.clock
    step(lambda: exclusion.set_practice_optout(gp, ON, "The partners decided", date(2026, 11, 12)))
    step(lambda: [(i.ref, i.source, i.op, i.state, i.nhs_number) for i in coding.worklist(session).items])
    offset[0] = timedelta(days=14)
    export.write_bytes(emis_export([
        (N[0], "Ap Rhys", "Siân", date(1950, 2, 3), "LS1 4AP", T1, date(2026, 10, 30)),
        (N[1], "Bell", "Tom", date(1980, 1, 1), "LS1 4AP", T1, date(2026, 10, 30)),       # B now coded
        (N[2], "Cole", "Ann", date(1970, 7, 7), "LS1 4AP", T1, date(2019, 4, 1)),
        (N[2], "Cole", "Ann", date(1970, 7, 7), "LS1 4AP", T1W, date(2020, 4, 1)),
        (N[4], "Evans", "Ifan", date(1975, 1, 1), "LS1 4AP", T2, date(2019, 5, 1)),
        (N[6], "Gale", "Amy", date(1985, 8, 8), "LS1 4AP", PW, date(2026, 11, 13)),       # G's practice-wide add
    ]))
    step(lambda: reconcile.reconcile(session, export))                     # run 3: the practice-wide rows
    step(lambda: [(i.ref, i.source, i.op, i.state, i.nhs_number) for i in coding.worklist(session).items])
    step(lambda: coding.practice_wide_summary(session))
    step(lambda: overview.overview(session).reconciliation)
    step(lambda: overview.overview(session).coding_pending)

    # Refusals change nothing: another date of birth under a known number, and a missing file.
    export.write_bytes(emis_export([(N[0], "Ap Rhys", "Siân", date(1951, 2, 3), "LS1 4AP", T1, date(2026, 10, 30))]))
    step(lambda: reconcile.reconcile(session, export))
    step(lambda: reconcile.reconcile(session, out / "no-such-file.csv"))
    step(lambda: reconcile.last_run_for(session))
    return seen


@pytest.mark.server
def test_the_same_reconciling_gives_the_same_results_on_both_engines(both_engines, tmp_path):
    results = []
    for engine in both_engines:
        (tmp_path / engine.name).mkdir()
        results.append(reconcile_work(engine, tmp_path / engine.name))
    file_seen, server_seen = results
    assert len(file_seen) == len(server_seen) == 17
    for i, (a, b) in enumerate(zip(file_seen, server_seen)):
        assert a == b, f"step {i}"
    (run1, report, _bytes, imported, run2, last, worklist, turned_on, listed, run3, after, summary, reconciled,
     pending, refused, missing, last_again) = file_seen
    # What the script must have exercised, so equal is not equal-and-empty.
    assert run1[0][0] == 1 and run1[0][2] == 1  # A's objection confirmed by run 1
    assert [c for c, *_ in run1[0][4]] == ["a", "a", "c", "b", "d"] and len(run1[0][5]) == 2
    assert run1[1][0][0] == "reconcile.run" and run1[1][0][2].startswith("run=1 rows=4 a=2 b=1 c=1 d=1 confirmed=1 e=1 ")
    assert run1[2] == 1  # confirmations change the register
    assert report[1] == [("reconcile.report", "ok", "run=1 rows=5")] and report[2] == 0
    assert _bytes.startswith(b"\xef\xbb\xbfcategory,meaning,") and b"Bell,Tom,01/01/1980" in _bytes
    assert [a for a, _o, _d in imported[1]] == ["patient.create", "type1.register", "type1.withdraw",
                                                "import.objections"] and imported[2] == 1
    assert run2[0][0] == 2 and "(b) 0 in the clinical system" in run2[0][1] and run2[0][2] == 0
    assert last[0].run_id == 2 and last[0].not_in_register == 0 and last[0].overdue
    assert [r[:2] for r in worklist[0]] == [("E2", "individual"), ("E3", "individual"), ("E4", "individual"),
                                            ("E5", "individual")]
    assert turned_on[1] == [("coding.practice_wide.add", "ok", "policy=1 rows=4"),
                            ("practice_optout.on", "ok", "policy=1 effective=2026-11-12")] and turned_on[2] == 1
    assert [r[0] for r in listed[0] if r[1] == "practice-wide"] == ["P1", "P2", "P3", "P4"]
    assert run3[0][0] == 3 and run3[0][2] == 2  # B's objection and G's practice-wide add confirmed
    assert N[6] in [r[4] for r in listed[0]] and N[6] not in [r[4] for r in after[0]]
    assert summary[0] == coding.PracticeWideSummary(3, 0, 1, 0)
    assert reconciled[0].run_id == 3 and reconciled[0].not_coded == 3 and pending[0] == 6
    assert refused[0][:2] == ("refused", "ReconcileRefused") and refused[0][3][0].row == 2
    assert refused[1:] == ([], 0) and missing[0][:2] == ("refused", "ReconcileRefused") and missing[1:] == ([], 0)
    assert last_again[0] == reconciled[0]


def test_a_receptionist_is_refused_reconciling_and_it_is_audited_on_either_engine(backend, tmp_path):
    rec = backend.session("rec", roles.RECEPTIONIST)
    export = tmp_path / "export.csv"
    export.write_bytes(emis_export([(N[0], "Ap Rhys", "Siân", date(1950, 2, 3), "LS1 4AP", T1, date(2026, 10, 30))]))
    with pytest.raises(PermissionDenied):
        reconcile.reconcile(rec, export)
    assert backend.audit_rows()[-1][1:4] == ("rec", roles.RECEPTIONIST, "denied.reconcile")
    assert reconcile.last_run_for(backend.manager) is None


def _one_objector_coded_and_one_not(session, tmp_path):
    """The race tests' start: a patient who objected and is coded in the export, and one who has
    not objected yet (another desk records them mid-run). Returns (that patient's id, the export)."""
    pid = patients.add(session, surname="Ap Rhys", forenames="Siân", nhs=N[0], dob="1950-02-03",
                       postcode_raw="LS1 4AP").data["patient_id"]
    late = patients.add(session, surname="Late", forenames="Lee", nhs=N[1], dob="1980-01-01",
                        postcode_raw="LS1 4AP").data["patient_id"]
    objections.record(session, pid, effective=date(2026, 10, 30))
    export = tmp_path / "export.csv"
    export.write_bytes(emis_export([(N[0], "Ap Rhys", "Siân", date(1950, 2, 3), "LS1 4AP", T1, date(2026, 10, 30))]))
    return late, export


def test_a_desk_saving_while_the_export_is_compared_makes_it_compare_again_on_either_engine(backend, tmp_path,
                                                                                          monkeypatch):
    """The comparison reads a snapshot; the write goes ahead only on the same revision. Another
    desk saving between the two (here: just before the write) makes the run compare again, so
    what it records includes that desk's objection; one run, one audit entry."""
    session = backend.manager
    other = backend.session("desk2", roles.MANAGER)
    late, export = _one_objector_coded_and_one_not(session, tmp_path)
    real, calls = reconcile._write, []

    def write_after_another_desk(*args):
        calls.append(1)
        if len(calls) == 1:
            objections.record(other, late)  # committed by another session, after the snapshot
        return real(*args)

    monkeypatch.setattr(reconcile, "_write", write_after_another_desk)
    result = reconcile.reconcile(session, export)
    assert len(calls) == 2  # the first write saw the revision move and wrote nothing
    assert [(i.category, i.nhs) for i in result.items] == [("a", N[1]), ("d", N[0])]
    assert [r[3] for r in backend.audit_rows()].count("reconcile.run") == 1 and result.run_id == 1


@pytest.fixture
def on_server(pg_db):
    """The practice on the server only (the register file lets one writer in at a time itself)."""
    from tests.services.conftest import server_manager

    closers, pg = [], []
    engine = Backend("postgresql", server_manager(pg_db, closers, pg), _pg=tuple(pg))
    yield engine
    for opened in (*engine.opened, engine.manager):
        opened.lock()
    for close in closers:
        close()


@pytest.mark.server
def test_on_the_server_no_desk_commits_between_the_revision_check_and_the_run(on_server, tmp_path, monkeypatch):
    """hold_revision locks the practice row, as the register file's one writer: another desk's
    save waits until the run has committed, instead of slipping in after the check."""
    import threading
    import time

    from gp_optout_desktop.store.server.desk_store import ServerStore

    backend = on_server
    session = backend.manager
    other = backend.session("desk2", roles.MANAGER)
    late, export = _one_objector_coded_and_one_not(session, tmp_path)
    real, saved, waited = ServerStore.hold_revision, threading.Event(), []

    def hold_then_let_another_desk_try(self):
        revision = real(self)
        worker = threading.Thread(target=lambda: (objections.record(other, late), saved.set()))
        worker.start()
        time.sleep(1.0)
        waited.append(not saved.is_set())  # still waiting for the practice row
        return revision

    monkeypatch.setattr(ServerStore, "hold_revision", hold_then_let_another_desk_try)
    result = reconcile.reconcile(session, export)
    assert saved.wait(30) and waited == [True]
    assert [(i.category, i.nhs) for i in result.items] == [("d", N[0])]  # the run before the save
    runs = [r for r in backend.audit_rows() if r[3] in ("reconcile.run", "type1.register")]
    assert [r[3] for r in runs][-2:] == ["reconcile.run", "type1.register"]  # the save came after
