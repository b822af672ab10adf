"""The CSV import of objections already coded in the clinical system on both engines (ADR 0015):
the dry run, the import (all rows or none, matched by NHS number, events already recorded
skipped, coded and confirmed, no letters), a second run changing nothing and the refusals, the
same on a register file and on a practice on the PostgreSQL server for the same file.

``import_work`` runs on each engine with the same clock; everything it observes (plans, change
sets, refusals, the patients' views, the letters queue, the exclusion rows, the audit entries
each step wrote, the revision moves) must be equal, except how the audit names a patient."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.roles import PermissionDenied
from gp_optout_desktop.services import exclusion, importer, letters, patients
from tests.services.conftest import Backend
from tests.services.steps import Steps
from tests.services.test_import import GOOD, N, csv_text

NOW = datetime(2025, 3, 20, 12, tzinfo=timezone.utc)


def _view(session, nhs):
    v = patients.view(session, patients.by_nhs(session, nhs).patient_id)
    p = v.patient
    return ((p.surname, p.forenames, p.dob, p.postcode, p.address),
            {k: s.active for k, s in v.statuses.items()},
            [(e.kind, e.action, e.effective, e.received, e.via, e.coded_by, e.coding_state, e.confirmed_by)
             for e in v.history])


def import_work(backend: Backend) -> list:
    session = backend.manager
    session.clock = lambda: NOW
    step = Steps(backend, session)
    seen = step.seen

    patients.add(session, surname="Known", forenames="Pat", dob="1960-06-06", postcode_raw="M1 1AE", nhs=N[3])
    step(lambda: importer.check(session, GOOD))                     # the dry run writes nothing
    step(lambda: patients.find(session, "Evans"))
    step(lambda: importer.import_objections(session, GOOD))
    for n in (0, 1, 2, 3):
        step(lambda n=n: _view(session, N[n]))
    step(lambda: [(lt.kind, lt.patient_id) for lt in letters.pending(session)])
    step(lambda: sorted(r.nhs_number for r in exclusion.snapshot(session).rows))
    step(lambda: importer.import_objections(session, GOOD))         # again: every event skipped
    # Refused, all or nothing: another date of birth under a known number (row 3), a bad code.
    step(lambda: importer.import_objections(session, csv_text(
        f"{N[4]},New,Nina,1990-01-01,LS1 4AP,,9Nu0,2020-01-01",
        f"{N[3]},Known,Pat,1961-06-06,M1 1AE,,9Nu0,2019-01-01")))
    step(lambda: importer.import_objections(session, csv_text(f"{N[5]},Bad,Code,1990-01-01,LS1 4AP,,XXXXX,2020-01-01")))
    step(lambda: patients.find(session, "New"))
    return seen


@pytest.mark.server
def test_the_same_import_gives_the_same_results_on_both_engines(both_engines):
    file_seen, server_seen = (import_work(engine) for engine in both_engines)
    assert len(file_seen) == len(server_seen) == 13
    for i, (a, b) in enumerate(zip(file_seen, server_seen)):
        assert a == b, f"step {i}"
    checked, none_yet, imported, sian, ifan, megan, known, queue, listed, again, clash, bad_code, still = file_seen
    assert (checked[0].rows, checked[0].patients_new, checked[0].events_new) == (5, 3, 5) and checked[1:] == ([], 0)
    assert none_yet[0] == []
    assert imported[0][0].startswith("Imported 5 rows: 3 new patients added, 1 already in the register") \
        and imported[2] == 1
    assert [a for a, _o, _d in imported[1]].count("patient.create") == 3
    assert imported[1][-1] == ("import.objections", "ok", "rows=5 patients_new=3 events_new=5 events_known=0 "
                                                          "case_folded=0")
    def on(state):
        return {k for k, active in state.items() if active}

    assert on(sian[0][1]) == set() and [e[1] for e in sian[0][2]] == ["register", "withdraw"]
    assert all(e[4:] == ("import", "pm", "confirmed", "import") for e in sian[0][2])
    assert on(ifan[0][1]) == {"type2"} and on(megan[0][1]) == {"type1"} and on(known[0][1]) == {"type1"}
    assert queue[0] == []  # answered when they were first made
    assert listed[0] == sorted([N[2], N[3]])
    assert again[0][1].events_known == 5 and again[0][1].events_new == 0
    assert clash[0][:2] == ("refused", "ImportRefused") and [p.row for p in clash[0][3]] == [3]
    assert clash[1:] == ([], 0) and bad_code[0][:2] == ("refused", "ImportRefused") and bad_code[1:] == ([], 0)
    assert still[0] == []  # row 2 of the refused file was not imported either


def test_a_receptionist_is_refused_the_import_and_it_is_audited_on_either_engine(backend):
    rec = backend.session("rec", roles.RECEPTIONIST)
    with pytest.raises(PermissionDenied):
        importer.import_objections(rec, GOOD)
    assert backend.audit_rows()[-1][1:4] == ("rec", roles.RECEPTIONIST, "denied.import_objections")
    assert patients.find(backend.manager, "Evans") == []
