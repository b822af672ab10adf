"""The practice-wide opt-out as GPs applied it, through a real encrypted register: turning it on
lists the Type 1 code for everyone not opted in (distinct from individual objections); lifting it
lists the removals, sparing every individual objector (before, during or after); lifting twice
changes nothing; removals reconciled like any other code."""

from __future__ import annotations

import json
from datetime import date

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.nhs_number import synthetic_range
from gp_optout_desktop.services import coding, exclusion, objections, overview, patients, reconcile
from gp_optout_desktop.services import session as session_service, users
from gp_optout_desktop.store import bulk, coding as coding_store

from .helpers import N, emis_export, fixed

T1 = "827241000000103"


@pytest.fixture
def gp(manager, register_dir):
    users.add(manager, "drgp", roles.GP, "gp-password-1")
    manager.lock()
    session = session_service.unlock(register_dir, "drgp", "gp-password-1")
    fixed(session, date(2026, 11, 2))
    yield session
    if session.register.is_open:
        session.lock()


def _bulk_patients(session, count: int) -> list[tuple[int, str]]:
    """``count`` synthetic patients straight into the register (as the demo generator does)."""
    numbers = synthetic_range(660_000)[-count:]
    with session.register.transaction() as conn:
        first, _, _ = bulk.next_ids(conn)
        rows = [(first + i, nhs, "", f"Person{i}", "Pat", f"PERSON{i}", "1970-01-01", "[]", "LS1 4AP", "LS14AP",
                 "", "", "2026-01-01T00:00:00+00:00", "test") for i, nhs in enumerate(numbers)]
        bulk.insert_patients(conn, rows)
    return [(r[0], r[1]) for r in rows]


def _practice_items(session, op=None):
    return [i for i in coding.worklist(session).items
            if i.source == "practice-wide" and (op is None or i.op == op)]


def test_on_with_1000_patients_and_20_opt_ins_lists_exactly_980_adds(gp):
    people = _bulk_patients(gp, 1000)
    for _pid, nhs in people[::50]:  # 20 ask to be included before it is turned on
        exclusion.opt_in(gp, nhs)
    change = exclusion.set_practice_optout(gp, "on", "Partners' decision", effective=date(2026, 11, 2))
    assert change.data["coding_listed"] == 980 and "980 practice-wide codes to add" in change.summary
    adds = _practice_items(gp, "add")
    assert len(adds) == 980
    opted = {pid for pid, _ in people[::50]}
    assert not opted & {i.patient_id for i in adds}
    assert {(i.code.snomed, i.record_date, i.source) for i in adds} == {(T1, date(2026, 11, 2), "practice-wide")}
    # Practice-wide codes are not individual objections: nobody's own history or status changed.
    some = people[1][0]
    assert patients.view(gp, some).history == [] and not patients.view(gp, some).statuses["type1"].active
    assert coding.practice_wide_summary(gp).to_add == 980 == overview.overview(gp).coding_pending


def test_lifting_spares_every_individual_objector_before_during_and_after(gp, add_patient):
    before = add_patient(gp, surname="Before", nhs=N[10])
    during = add_patient(gp, surname="During", nhs=N[11])
    after = add_patient(gp, surname="After", nhs=N[12])
    plain = add_patient(gp, surname="Plain", nhs=N[13])
    included = add_patient(gp, surname="Included", nhs=N[14])
    objections.record(gp, before)
    exclusion.opt_in(gp, N[14])
    exclusion.set_practice_optout(gp, "on", "Partners' decision")
    assert {i.patient_id for i in _practice_items(gp, "add")} == {during, after, plain}
    objections.record(gp, during)  # objects while it is on: their own code, not the practice's
    assert {i.patient_id for i in _practice_items(gp, "add")} == {after, plain}
    assert {i.patient_id for i in coding.worklist(gp).items if i.source == "individual"} == {before, during}

    change = exclusion.set_practice_optout(gp, "off", "Lifted at the partners' meeting")
    assert change.data["coding_listed"] == 2  # after and plain: before and during keep their codes
    assert {i.patient_id for i in _practice_items(gp, "remove")} == {after, plain}
    objections.record(gp, after)  # objects after it was lifted: their removal is dropped
    removals = _practice_items(gp, "remove")
    assert [i.patient_id for i in removals] == [plain]
    assert overview.overview(gp).coding_pending == len(coding.worklist(gp).items)  # the tile counts the same
    assert removals[0].code.snomed == T1 and not {before, during, after, included} & {i.patient_id for i in removals}


def test_lifting_twice_changes_nothing(gp, add_patient):
    for n in range(3):
        add_patient(gp, surname=f"P{n}", nhs=N[20 + n])
    exclusion.set_practice_optout(gp, "on", "Partners' decision")
    exclusion.set_practice_optout(gp, "off", "Lifted")
    rows = gp.register.conn.execute("SELECT count(*) FROM practice_codes").fetchone()[0]
    listed = [(i.ref, i.op) for i in coding.worklist(gp).items]
    revision = gp.revision()
    with pytest.raises(ValidationError, match="already off"):
        exclusion.set_practice_optout(gp, "off", "Lifted again")
    assert gp.register.conn.execute("SELECT count(*) FROM practice_codes").fetchone()[0] == rows == 6
    assert [(i.ref, i.op) for i in coding.worklist(gp).items] == listed and gp.revision() == revision
    # And the store's own rule: a removal is never listed twice.
    with gp.register.transaction() as conn:
        assert coding_store.list_practice_removals(conn, 1, date(2026, 11, 2), gp.now()) == 0


def test_adds_and_removals_are_confirmed_by_reconciliation(gp, add_patient, register_dir, tmp_path):
    a = add_patient(gp, surname="Alpha", dob="1970-01-01", nhs=N[30])
    b = add_patient(gp, surname="Beta", dob="1970-01-01", nhs=N[31])
    exclusion.set_practice_optout(gp, "on", "Partners' decision", effective=date(2026, 11, 2))
    gp.lock()
    pm = session_service.unlock(register_dir, "pm", "pm-password-1")
    fixed(pm, date(2026, 11, 5))
    export = tmp_path / "export.csv"
    # The clinical system shows the code for Alpha only: Alpha's add is confirmed, Beta's is (a).
    export.write_bytes(emis_export([(N[30], "Alpha", "Alex", date(1970, 1, 1), "LS1 4AP", T1, date(2026, 11, 2))]))
    result = reconcile.reconcile(pm, export)
    assert {(i.category, i.nhs) for i in result.items} == {("d", N[30]), ("a", N[31])}
    assert [i.patient_id for i in _practice_items(pm)] == [b]

    # Alpha asks to be included after the code went in: the code must come out again.
    exclusion.opt_in(pm, N[30])
    assert [(i.patient_id, i.op) for i in _practice_items(pm)] == [(a, "remove"), (b, "add")]
    assert overview.overview(pm).coding_pending == 2
    # Still in the export: (c), the practice-wide code to remove.
    result = reconcile.reconcile(pm, export)
    differ = next(i for i in result.items if i.category == "c")
    assert differ.nhs == N[30] and "remove it" in differ.reason
    # Removed from the clinical system; the export has no rows for Alpha: the removal is confirmed.
    export.write_bytes(emis_export([(N[31], "Beta", "Alex", date(1970, 1, 1), "LS1 4AP", T1, date(2026, 11, 2))]))
    result = reconcile.reconcile(pm, export)
    assert {(i.category, i.nhs) for i in result.items} == {("d", N[30]), ("d", N[31])}
    assert result.rows_in("d") == 1 == result.rows and _practice_items(pm) == []
    ops = [(r[2], r[6]) for r in coding_store.practice_codes_for(pm.register.conn, a)]
    assert ops == [("add", "reconciliation 1"), ("remove", "reconciliation 3")]
    pm.lock()


def test_patients_who_become_eligible_while_it_is_on_are_asked_for_and_removed_at_lift(gp, add_patient, register_dir,
                                                                                     tmp_path):
    first = add_patient(gp, surname="First", dob="1970-01-01", nhs=N[32])
    exclusion.set_practice_optout(gp, "on", "Partners' decision", effective=date(2026, 11, 2))
    fixed(gp, date(2026, 11, 10))
    newcomer = add_patient(gp, surname="Newcomer", dob="1970-01-01", nhs=N[33])  # registered since
    adds = {(i.patient_id, i.ref[0]) for i in _practice_items(gp, "add")}
    assert adds == {(first, "P"), (newcomer, "N")} and overview.overview(gp).coding_pending == 2
    assert coding.practice_wide_summary(gp).to_add == 2
    gp.lock()
    pm = session_service.unlock(register_dir, "pm", "pm-password-1")
    fixed(pm, date(2026, 11, 12))
    export = tmp_path / "export.csv"
    export.write_bytes(emis_export([(N[33], "Newcomer", "Alex", date(1970, 1, 1), "LS1 4AP", T1, date(2026, 11, 10))]))
    result = reconcile.reconcile(pm, export)
    assert {(i.category, i.nhs) for i in result.items} == {("d", N[33]), ("a", N[32])}
    assert [(r[2], r[6]) for r in coding_store.practice_codes_for(pm.register.conn, newcomer)] == [
        ("add", f"reconciliation {result.run_id}")]
    assert [i.patient_id for i in _practice_items(pm)] == [first]
    pm.lock()
    gp2 = session_service.unlock(register_dir, "drgp", "gp-password-1")
    fixed(gp2, date(2026, 11, 13))
    another = add_patient(gp2, surname="Another", dob="1970-01-01", nhs=N[34])  # asked for, never reconciled
    assert exclusion.set_practice_optout(gp2, "off", "Lifted").data["coding_listed"] == 3
    assert {i.patient_id for i in _practice_items(gp2, "remove")} == {first, newcomer, another}
    assert _practice_items(gp2, "add") == []
    gp2.lock()


def test_patients_who_left_or_died_get_no_add_no_notice_and_are_not_counted_not_coded(gp, add_patient, register_dir,
                                                                                     tmp_path):
    """Only patients still with the practice (schema V8 registration): a deducted or deceased
    patient's record is not the practice's to code, and is never sent a notice."""
    from gp_optout_desktop.services import letters
    from gp_optout_desktop.store import registration

    stays = add_patient(gp, surname="Stays", dob="1970-01-01", nhs=N[24])
    left = add_patient(gp, surname="Left", dob="1970-01-01", nhs=N[25])
    died = add_patient(gp, surname="Died", dob="1940-01-01", nhs=N[26])
    objections.record(gp, left)  # objected, then left before it was coded
    with gp.register.transaction() as conn:  # as the practice-list import records it
        for pid, status in ((left, "deducted"), (died, "deceased")):
            registration.put(conn, pid, registration.Registration(status, date(2026, 11, 1), None, None, None),
                             by="test", at=gp.now())
    exclusion.set_practice_optout(gp, "on", "Partners' decision")
    assert {i.patient_id for i in coding.worklist(gp).items} == {stays}
    gp.lock()
    pm = session_service.unlock(register_dir, "pm", "pm-password-1")
    fixed(pm, date(2026, 11, 3))
    assert letters.queue_practice_wide_notice(pm).data["count"] == 1  # Stays only
    export = tmp_path / "export.csv"
    export.write_bytes(emis_export([(N[24], "Stays", "Alex", date(1970, 1, 1), "LS1 4AP", T1, date(2026, 11, 2))]))
    result = reconcile.reconcile(pm, export)
    assert result.count("a") == 0 and result.count("d") == 1
    assert "1 objection of patients who have left the practice, died or been merged" in result.describe()
    pm.lock()
