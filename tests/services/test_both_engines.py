"""The services ported to both engines give the same answers on each (ADR 0015, hazard H-82).

One script of desk work (patients added, edited and found; objections, dependants, a proxy,
withdrawals, coding, signposting, refusals) runs on a new register file and on a new practice
on the PostgreSQL server, with the same clock; everything the services return, every record
viewed and every audit entry must be equal, except how the audit names a patient (the server
uses a blind index, never the NHS number)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.events import Proxy
from gp_optout_desktop.services import letters, objections, patients
from tests.services.conftest import Backend, server_manager

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)


def _ticking_clock():
    """The same times on both engines: one second later at each reading."""
    seconds = itertools.count()
    return lambda: START + timedelta(seconds=next(seconds))


def _outcome(call):
    try:
        out = call()
    except Exception as exc:  # the refusal is part of the result compared
        return ("refused", type(exc).__name__, str(exc))
    return out


def _change(c, base: int):
    return (c.summary, c.revision - base, sorted(c.patient_ids), c.event_ids, c.letter_ids, sorted(c.areas),
            c.warnings, c.data)


def desk_work(session) -> tuple[list, dict]:
    """The script. Returns (everything observed, NHS number by patient id)."""
    session.clock = _ticking_clock()
    base = session.revision()
    seen: list = []

    def add(**kw):
        fields = {"surname": "Testperson", "forenames": "Alex", "dob": "1970-05-06", "postcode_raw": "LS1 4AP",
                  **kw}
        result = _outcome(lambda: patients.add(session, **fields))
        seen.append(result if isinstance(result, tuple) else _change(result, base))
        return None if isinstance(result, tuple) else result.data["patient_id"]

    parent = add(surname="Family", forenames="Pat", title="Ms", nhs="9990000018", dob="1980-01-01")
    kid = add(surname="Family", forenames="Kim", nhs="9990000026", dob="2015-02-03")
    away = add(surname="Away", forenames="Kit", dob="2016-01-01", postcode_raw="M1 1AE")  # no NHS number
    elder = add(surname="O'Brien", forenames="Siân", nhs="9990000034", dob="1944-03-03", postcode_raw="CF10 1AA")
    add(surname="Clash", nhs="999 000 0018")  # refused: the parent's NHS number
    add(surname="Bad", nhs="9990000017")  # refused: check digit
    seen.append(_change(patients.edit(session, elder, surname="O'Brien", forenames="Siân", dob="1944-03-03",
                                      postcode_raw="CF10 1AB", nhs="9990000034", phone="01632 960002"), base))
    seen.append(_outcome(lambda: patients.edit(session, elder, surname="O'Brien", forenames="Siân", dob="1944-03-03",
                                               postcode_raw="CF10 1AB", nhs="9990000018")))  # another's number
    seen.append(session.revision() - base)

    record = lambda *a, **kw: _outcome(lambda: objections.record(session, *a, **kw))
    seen.append(record(parent, dependants=[kid, away]))  # refused: Kit lives elsewhere, nothing written
    seen.append(session.revision() - base)
    seen.append(objections.people_on_form(session, parent, [kid, away]))
    form = record(parent, dependants=[kid, away], confirm_other_address=True, received=date(2026, 1, 31))
    seen.append(_change(form, base))
    seen.append(record(parent, dependants=[kid]))  # refused: already recorded for Pat
    lpa = Proxy("lpa_health_welfare", "Jo Attorney", "OPG stamp", "pm")
    seen.append(record(elder, proxy=lpa, via="post"))  # refused: lacks capacity not confirmed
    seen.append(_change(record(elder, proxy=lpa, via="post", donor_lacks_capacity=True), base))
    seen.append(_change(objections.mark_coded(session, form.event_ids[0]), base))
    seen.append(_outcome(lambda: objections.mark_coded(session, form.event_ids[0])))
    seen.append(_outcome(lambda: objections.mark_coded(session, 999)))
    seen.append(_change(objections.signpost_ndoo(session, kid, date(2026, 2, 1)), base))
    seen.append(_change(record(kid, action="withdraw"), base))
    seen.append(record(elder, "type2"))  # refused: after the cut-off
    on_day = replace(session, clock=lambda: datetime(2018, 10, 11, 12, tzinfo=timezone.utc))
    seen.append(_change(_outcome(lambda: objections.record(on_day, away, "type2", effective=date(2016, 5, 1),
                                                           received=date(2016, 5, 1))), base))
    seen.append(_outcome(lambda: objections.type2_recorded_in_error(session, away)))  # refused: converted in time
    seen.append(_change(record(elder, "include", received=date(2026, 2, 28)), base))

    for query in ("Family", "fam, k", "f", "o'b", "999 000 0018", "9990000", "1980-01-01", "01/01/1980", "M1",
                  "cf10 1ab", "nobody", ""):
        seen.append((query, patients.find(session, query), patients.find_ids(session, query, limit=2)))
    seen.append(patients.by_nhs(session, "999 000 0026"))
    seen.append(_outcome(lambda: patients.by_nhs(session, "9990000042")))
    for pid in (parent, kid, away, elder, 999):
        seen.append(_outcome(lambda: patients.view(session, pid)))
    pending, held = letters.pending_and_held(session)
    seen.append((pending, held))
    seen.append(session.revision() - base)
    return seen, {parent: "9990000018", kid: "9990000026", away: None, elder: "9990000034"}


def _trail(backend: Backend, since: int, numbers: dict) -> list[tuple]:
    """The audit entries after ``since``, with the patient named the register file's way."""
    as_file = {backend.patient_ref(nhs, pid): nhs or f"id:{pid}" for pid, nhs in numbers.items()}
    rows = [r for r in backend.audit_rows() if r[0] > since]
    return [(seq - since, user, role, action, as_file.get(patient, patient), outcome, detail)
            for seq, user, role, action, patient, outcome, detail in rows]


@pytest.mark.server
def test_the_same_desk_work_gives_the_same_results_on_both_engines(both_engines):
    engines = both_engines
    results, trails = [], []
    for engine in engines:
        since = engine.audit_rows()[-1][0]
        seen, numbers = desk_work(engine.manager)
        results.append(seen)
        trails.append(_trail(engine, since, numbers))
    file_seen, server_seen = results
    assert len(file_seen) == len(server_seen) == 46
    for i, (a, b) in enumerate(zip(file_seen, server_seen)):
        assert a == b, f"step {i}"
    # What the script must have exercised, so equal is not equal-and-empty.
    pending, held = file_seen[-2]
    assert sorted(p.kind for p in pending) == ["include_received", "objection_received", "objection_received",
                                               "objection_received", "withdrawal_received"] and held == []
    refusals = [s for s in file_seen if isinstance(s, tuple) and s and s[0] == "refused"]
    assert [r[1] for r in refusals] == [
        "Conflict", "ValidationProblems", "Conflict", "ValidationError", "ValidationError", "ValidationError",
        "ValidationError", "ValidationError", "ValidationError", "ValidationError", "NotFound", "NotFound"]
    assert refusals[3][2].startswith("Kit Away lives at a different address from Ms Pat Family")
    assert refusals[9][2].startswith("This patient's Type 2 objection was added to the record on 11 Oct 2018")
    assert trails[0] == trails[1]
    assert len(trails[0]) == 23 and {"type1.register", "type1.withdraw", "type2.register", "include.register",
                                    "letter.queue", "event.coded", "ndoo.signposted", "patient.create",
                                    "patient.update", "patient.read"} <= {t[3] for t in trails[0]}
    # The server's trail never names a patient by NHS number.
    server_patients = {r[4] for r in engines[1].audit_rows()}
    assert not any(n in p for p in server_patients for n in ("9990000018", "9990000026", "9990000034"))


def test_the_desk_s_calls_run_inside_at_once_on_either_engine(backend, add_patient):
    """The UI wraps the ported services in session.at_once() (ADR 0014): both sessions have it."""
    pid = add_patient(backend.manager)
    with backend.manager.at_once():
        change = objections.record(backend.manager, pid)
        assert patients.view(backend.manager, pid).history[0].event_id == change.event_ids[0]


def test_a_refusal_raises_changes_nothing_and_is_audited_on_either_engine(backend, add_patient):
    pid = add_patient(backend.manager)
    desk = backend.session("desk", roles.RECEPTIONIST)
    revision = desk.revision()
    with pytest.raises(PermissionError, match="receptionist may not"):
        desk.require("view_audit")
    assert desk.revision() == revision
    # Everything the ported services need is the desk's; the work is attributed to the desk's user.
    objections.record(desk, pid)
    assert patients.view(backend.manager, pid).history[0].recorded_by == "desk"
    rows = backend.audit_rows()
    assert [(r[1], r[3], r[5]) for r in rows if r[5] == "denied"] == [("desk", "denied.view_audit", "denied")]
    assert [(r[1], r[3]) for r in rows if r[3].startswith("type1.")] == [("desk", "type1.register")]
    ref = backend.patient_ref(patients.view(backend.manager, pid).patient.nhs_number, pid)
    assert [r[3] for r in rows if r[4] == ref][-3:] == ["type1.register", "letter.queue", "patient.read"]


def test_m_server_selects_exactly_the_postgresql_backend_here():
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "server", "-p",
                          "no:cacheprovider", "tests/services/test_objections.py", "tests/services/test_both_engines.py"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    assert len(ids) > 14 and all("[postgresql" in i or "both_engines" in i for i in ids)
    assert not any("sqlcipher" in i for i in ids)
    assert any(i.endswith("test_the_same_desk_work_gives_the_same_results_on_both_engines") for i in ids)


def test_a_skipped_postgresql_services_test_fails_under_ci(tmp_path):
    # A throwaway test outside tests/server marked like the postgresql backend: locally a
    # visible skip, under CI (CI=true) a failure. Its name is not test_*.py: only this run collects it.
    probe = ROOT / "tests" / "services" / f"_probe_skip_{tmp_path.name}.py"
    probe.write_text(textwrap.dedent("""
        import pytest
        @pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.server)])
        def engine(request):
            pytest.skip("PostgreSQL cannot start here: probe")
        def test_probe(engine):
            pass
    """))
    try:
        def run(ci: str):
            return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(probe)],
                                  cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "CI": ci})
        local, ci = run("false"), run("true")
    finally:
        probe.unlink()
    assert local.returncode == 0 and "1 skipped" in local.stdout and "probe" in local.stdout
    assert ci.returncode == 1 and "1 error" in ci.stdout  # skipped in the fixture's setup: an error
    assert "skipped under CI (CI=true), which is a failure" in ci.stdout



@pytest.mark.server
def test_a_lost_server_saves_nothing_and_the_session_still_locks(pg_db):
    from gp_optout_desktop.services.server_session import ServerSession
    from gp_optout_desktop.services.session import Locked
    from gp_optout_desktop.store.errors import ServerUnreachable
    from tests.server import practices

    closers: list = []
    pg: list = []
    session = server_manager(pg_db, closers, pg)
    _db, practice = pg
    try:
        pid = patients.add(session, surname="Lost", forenames="Lee", dob="1970-01-01", postcode_raw="LS1 4AP",
                           nhs="9990000018").data["patient_id"]
        admin = practices.psycopg.connect(pg_db.admin_conninfo, autocommit=True)
        closers.append(admin.close)
        admin.execute("SELECT pg_terminate_backend(%s)", (session.desk.conn.info.backend_pid,))
        with pytest.raises(ServerUnreachable, match="Nothing was saved"):
            objections.record(session, pid)
        session.lock()  # the lock's audit entry cannot be written; the session locks anyway
        assert session.desk.conn.closed
        with pytest.raises(Locked):
            patients.find(session, "Lost")
        again = ServerSession.open(practices.connect(pg_db, *practice.logins[0]), practice.data_key,
                                   user="pm", role="manager")
        assert patients.view(again, pid).history == [] and patients.view(again, pid).letters == []
        again.lock()
    finally:
        for close in closers:
            close()


@pytest.mark.server
def test_two_desks_recording_one_patient_through_the_services_at_once_record_once(pg_db):
    """objections.record locks the people on the form before validating their history
    (RegisterStore.lock_patient): of two desks recording the same objection at the same
    moment, one records it and the other is told it is already recorded, in every round."""
    import threading

    from gp_optout_desktop.domain.errors import ValidationError
    from gp_optout_desktop.services.server_session import ServerSession
    from tests.server import practices

    closers: list = []
    pg: list = []
    first = server_manager(pg_db, closers, pg)
    _db, practice = pg
    second = ServerSession.open(practices.connect(pg_db, *practice.logins[0]), practice.data_key,
                                user="desk", role=roles.RECEPTIONIST)
    try:
        numbers = iter(("9990000018", "9990000026", "9990000034", "9990000042", "9990000050", "9990000069",
                        "9990000077", "9990000085"))
        for round_no in range(8):
            pid = patients.add(first, surname=f"Race{round_no}", forenames="Ria", dob="1970-01-01",
                               postcode_raw="LS1 4AP", nhs=next(numbers, None)).data["patient_id"]
            barrier, outcomes = threading.Barrier(2), []

            def desk(session):
                barrier.wait()
                try:
                    objections.record(session, pid)
                    outcomes.append("recorded")
                except ValidationError as exc:
                    outcomes.append("refused: " + str(exc).split(":")[0])

            threads = [threading.Thread(target=desk, args=(s,)) for s in (first, second)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert sorted(outcomes) == ["recorded", "refused: Already recorded"], f"round {round_no}"
            record = patients.view(first, pid)
            assert len(record.history) == 1 and len(record.letters) == 1
    finally:
        second.lock()
        first.lock()
        for close in closers:
            close()
