"""The coding worklist on both engines (ADR 0015): the list, marking an event coded (one write
with its one audit row), the CSV export and the printed checklist, the same on a register file and on a practice on
the PostgreSQL server for the same data.

``coding_work`` is one script of a practice manager's coding work; it runs on each engine with
the same clock and everything it observes (worklists, change sets, refusals, the CSV's bytes,
the audit entries each step wrote) must be equal, except how the audit names a patient."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pypdf import PdfReader

from gp_optout_desktop.domain import codes, roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.roles import PermissionDenied
from gp_optout_desktop.services import coding, objections, patients
from tests.services.conftest import Backend

START = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)


def _outcome(call):
    try:
        return call()
    except Exception as exc:  # the refusal is part of the result compared
        return ("refused", type(exc).__name__, str(exc))


def coding_work(backend: Backend, out: Path) -> list:
    session = backend.manager
    offset = [timedelta()]
    seconds = itertools.count()
    session.clock = lambda: START + offset[0] + timedelta(seconds=next(seconds))
    base = session.revision()
    seen: list = []

    def step(action):
        """What a step returns, the audit entries (action, outcome, detail) it wrote, and by
        how much it moved the register's revision."""
        before, revision = backend.audit_rows()[-1][0], session.revision()
        result = _outcome(action)
        if hasattr(result, "summary"):
            result = (result.summary, result.revision - base, sorted(result.patient_ids), result.event_ids,
                      {k: (str(v).replace(str(out), "<out>") if k == "path" else v) for k, v in result.data.items()})
        seen.append((result, [(r[3], r[5], r[6]) for r in backend.audit_rows() if r[0] > before],
                     session.revision() - revision))

    def add(surname, nhs, **kw):
        return patients.add(session, surname=surname, forenames="Sam", nhs=nhs, dob="1970-05-05",
                            postcode_raw="LS1 4AP", address=["1 Leaf Lane", "Leeds"], **kw).data["patient_id"]

    def first_event(pid):
        return patients.view(session, pid).history[0].event_id

    step(lambda: coding.worklist(session))
    ms, unlisted = add("Titled", "9990000018", title="Ms"), add("Nonumber", None)
    withdrawn, confirmed = add("Withdrawn", "9990000026"), add("Confirmed", "9990000034")
    legacy, left = add("Legacy", "9990000042"), add("Left", "9990000050")
    offset[0] = datetime(2018, 5, 1, 9, 30, tzinfo=timezone.utc) - START  # keyed before the Type 2 cut-off
    objections.record(session, legacy, kind=codes.TYPE2)
    offset[0] = timedelta(hours=14)  # 23:30 UTC in March: still the same UK day
    objections.record(session, ms, dependants=[], effective=date(2026, 2, 20), received=date(2026, 2, 20))
    offset[0] = timedelta(days=1)
    for pid in (unlisted, withdrawn, confirmed, left):
        objections.record(session, pid)
    objections.record(session, withdrawn, action=codes.WITHDRAW)
    backend.confirm(confirmed)
    backend.deduct(left, date(2026, 3, 2))
    step(lambda: coding.worklist(session))

    event = first_event(ms)  # (viewing the patient is audited itself: read before the step)
    step(lambda: objections.mark_coded(session, event))  # one write, one audit row
    step(lambda: objections.mark_coded(session, event))  # refused: already marked, nothing written
    step(lambda: objections.mark_coded(session, 999_999))  # refused: no such event
    step(lambda: coding.worklist(session))
    offset[0] = timedelta(days=12)  # past the coding target of 5 working days
    step(lambda: coding.worklist(session))
    step(lambda: coding.export_csv(session, out / "worklist.csv"))
    seen.append((out / "worklist.csv").read_bytes())
    step(lambda: coding.export_checklist(session, out / "checklist.pdf"))
    seen.append([" ".join(page.extract_text().split()) for page in PdfReader(str(out / "checklist.pdf")).pages])
    return seen


@pytest.mark.server
def test_the_same_coding_work_gives_the_same_results_on_both_engines(both_engines, tmp_path):
    engines = both_engines
    results = []
    for engine in engines:
        (tmp_path / engine.name).mkdir()
        results.append(coding_work(engine, tmp_path / engine.name))
    file_seen, server_seen = results
    assert len(file_seen) == len(server_seen) == 11
    for i, (a, b) in enumerate(zip(file_seen, server_seen)):
        assert a == b, f"step {i}"
    # What the script must have exercised, so equal is not equal-and-empty.
    empty, listed, marked, again, missing, after, overdue, exported, csv_bytes, printed, pages = file_seen
    assert empty[0].items == [] and empty[1] == []
    wl = listed[0]
    assert [(i.surname, i.code.objection, i.code.action, i.state) for i in wl.items] == [
        ("Legacy", codes.TYPE2, codes.REGISTER, "pending"), ("Titled", codes.TYPE1, codes.REGISTER, "pending"),
        ("Nonumber", codes.TYPE1, codes.REGISTER, "pending"), ("Withdrawn", codes.TYPE1, codes.REGISTER, "pending"),
        ("Withdrawn", codes.TYPE1, codes.WITHDRAW, "pending")]
    assert wl.items[1].title == "Ms" and wl.items[1].since == date(2026, 3, 2)
    assert wl.items[2].nhs_number is None and wl.counts()["overdue"] == 1
    assert marked[1] == [("event.coded", "ok", f"event={wl.items[1].ref[1:]}")]
    assert marked[2] == 1 and listed[2] == 0
    assert again[0][:2] == ("refused", "ValidationError") and again[1:] == ([], 0)
    assert missing[0][:2] == ("refused", "ValidationError") and missing[1:] == ([], 0)
    assert [i.marked_by for i in after[0].items] == [None, "pm", None, None, None]
    assert overdue[0].counts()["overdue"] == 5
    assert exported[1] == [("coding.worklist.csv", "ok", "rows=5 overdue=5")]
    assert exported[2] == 0  # an audited read: the revision stays
    lines = csv_bytes.decode("utf-8-sig").splitlines()
    assert len(lines) == 6 and lines[0].startswith("ref,action,source,nhs_number")
    assert ",Titled,Sam,Ms,05/05/1970," in lines[2] and lines[2].endswith(",marked,pm")
    assert printed[1] == [("coding.worklist.checklist", "ok", "rows=5 overdue=5")] and printed[2] == 0
    assert "Test Surgery" in pages[0] and "Titled" in pages[0]


def test_the_worklist_export_is_refused_and_audited_for_a_receptionist_on_either_engine(backend, tmp_path):
    rec = backend.session("rec", roles.RECEPTIONIST)
    assert coding.worklist(rec).items == []  # everyone at the desk may view it
    with pytest.raises(PermissionDenied):
        coding.export_csv(rec, tmp_path / "w.csv")
    assert not (tmp_path / "w.csv").exists()
    assert backend.audit_rows()[-1][1:4] == ("rec", roles.RECEPTIONIST, "denied.coding_worklist")


def test_the_worklist_after_the_practice_wide_opt_out_on_either_engine(backend, add_patient):
    """Turning it on lists a practice-wide add for the patient on either engine (the server keeps
    the code rows since its server schema V6; before, it said "not available" here)."""
    session = backend.manager
    add_patient(session)
    backend.practice_optout_on(session.today())
    items = coding.worklist(session).items
    assert [(i.source, i.op, i.ref[0]) for i in items] == [("practice-wide", "add", "P")]
    assert coding.practice_wide_summary(session) == coding.PracticeWideSummary(1, 0, 0, 0)


def test_the_coding_target_is_saved_and_used_on_either_engine(backend):
    """A practice setting on either engine (the server keeps it in its meta rows): saved with its
    audit entry, read back, and the worklist's due days follow it."""
    session = backend.manager
    assert coding.target_days(session) == 5
    change = coding.set_target_days(session, 7)
    assert change.data == {"coding_target": 7} and coding.target_days(session) == 7
    assert coding.worklist(session).target_days == 7
    assert backend.audit_rows()[-1][3:] == ("settings.coding_target", "", "ok", "working_days=7")
    with pytest.raises(ValidationError):
        coding.set_target_days(session, 0)
    assert coding.target_days(session) == 7
