"""Export from a real encrypted register through the service layer; status; practice-wide opt-out; include-me."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.exclusion_rules import EXCLUDE_ALL_EXCEPT_LISTED, EXCLUDE_LISTED
from gp_optout_desktop.exclusion import signing
from gp_optout_desktop.exclusion.errors import ExportError
from gp_optout_desktop.exclusion.reader import read_export
from excl_helpers import fresh_state
from gp_optout_desktop.services import exclusion, objections, users
from gp_optout_desktop.services.session import Session
from gp_optout_desktop.store import exclusion_repo

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def pm(manager):
    manager.clock = lambda: NOW
    return manager


def as_role(session: Session, name: str, role: str) -> Session:
    """Another user of the same open register (as after they unlock it)."""
    users.add(session, name, role, "password-for-" + name)
    return Session(session.register, name, role, clock=session.clock)


def public_key(session):
    pem, _ = exclusion.public_key_pem(session)
    return signing.load_public_key_pem(pem)


def test_export_lists_current_objectors_and_reconciles(pm, add_patient, tmp_path):
    a, b, c = (add_patient(pm, forenames=n) for n in ("A", "B", "C"))
    objections.record(pm, a, effective=date(2014, 2, 1))
    objections.record(pm, b, effective=date(2014, 2, 1))
    objections.record(pm, b, action="withdraw", effective=date(2015, 1, 1))  # withdrawal = not objecting
    # A legacy Type 2 keyed on the cut-off day (so accepted): still never listed, Type 2 never
    # controlled extraction from the practice (format version 2).
    on_cutoff = Session(pm.register, pm.user, pm.role, clock=lambda: datetime(2018, 10, 11, 12, tzinfo=timezone.utc))
    objections.record(on_cutoff, c, "type2", effective=date(2016, 3, 3))
    change = exclusion.export(pm, tmp_path / "out")
    exset = read_export(tmp_path / "out", public_key(pm), practice_ods="F84003", state_path=fresh_state(), now=NOW)
    assert exset.manifest.mode == EXCLUDE_LISTED and exset.manifest.row_count == 1
    assert [(r.snomed, r.effective) for r in exset.rows] == [("827241000000103", date(2014, 2, 1))]
    assert exset.manifest.register_revision == pm.revision() == change.revision
    head = pm.register.audit.head(pm.register.conn)
    assert exset.manifest.audit_chain_head.startswith(f"{head.seq - 1}:")  # the head before the export's own audit row
    with pm.register.reading() as conn:
        assert exclusion_repo.last_export(conn)["sha256"] == exset.manifest.list_sha256
        logged = conn.execute("SELECT detail, outcome FROM audit WHERE action = 'exclusion.export'").fetchall()
    assert logged == [(f"rows=1 sha256={exset.manifest.list_sha256} revision={change.revision} mode=exclude-listed", "ok")]


def test_objector_without_nhs_number_is_counted_not_lost(pm, add_patient, tmp_path):
    known, unknown = add_patient(pm), add_patient(pm, nhs=None, forenames="Unknown")
    objections.record(pm, known)
    objections.record(pm, unknown)
    change = exclusion.export(pm, tmp_path / "out")
    exset = read_export(tmp_path / "out", public_key(pm), practice_ods="F84003", state_path=fresh_state(), now=NOW)
    assert exset.manifest.row_count == 1 and exset.manifest.objectors_without_nhs_number == 1
    assert "no NHS number" in change.warnings[0]


def test_status_says_out_of_date_after_a_change(pm, add_patient, tmp_path):
    assert exclusion.export_status(pm).describe(NOW) == ["The exclusion file has never been exported from this register."]
    pid = add_patient(pm)
    exclusion.export(pm, tmp_path / "out")
    status = exclusion.export_status(pm)
    assert not status.out_of_date and "Up to date" in status.describe(NOW)[1]
    assert "EXPIRED" in status.describe(NOW + timedelta(days=8))[1]
    objections.record(pm, pid)
    assert exclusion.export_status(pm).out_of_date
    assert "OUT OF DATE" in exclusion.export_status(pm).describe(NOW)[1]
    assert exclusion.status(pm).startswith("Exclusion file: OUT OF DATE")


def test_status_line_for_the_window(pm, tmp_path):
    assert exclusion.status(pm) == "Exclusion file: never exported"
    exclusion.export(pm, tmp_path / "out")
    assert exclusion.status(pm) == "Exclusion file: up to date (0 listed, written 2025-06-02T12:00:00Z)"
    pm.clock = lambda: NOW + timedelta(days=9)
    assert exclusion.status(pm).startswith("Exclusion file: EXPIRED at 2025-06-09T12:00:00Z")


def test_signing_key_is_made_once_and_kept_in_the_register(pm, tmp_path):
    pem1, kid1 = exclusion.public_key_pem(pm)
    pem2, kid2 = exclusion.public_key_pem(pm)
    assert pem1 == pem2 and kid1 == kid2
    change = exclusion.export_public_key(pm, tmp_path / "pub.pem")
    assert (tmp_path / "pub.pem").read_bytes() == pem1 and kid1 in change.summary
    with pm.register.reading() as conn:
        raw = exclusion_repo.signing_key(conn, pm.register.manager_key, pm.register.keys.register_id)
        # Wrapped under the manager key (docs/adr/0006): nowhere in the register in the clear.
        assert not [v for (v,) in conn.execute("SELECT value FROM meta") if raw.hex() in v]
        created = conn.execute("SELECT count(*) FROM audit WHERE action = 'export.signing_key_created'").fetchone()[0]
    assert signing.key_id(signing.private_key_from_bytes(raw)) == kid1 and created == 1
    assert raw not in (tmp_path / "pub.pem").read_bytes() and raw.hex().encode() not in pem1


def test_only_a_manager_may_export(pm, tmp_path):
    reception = as_role(pm, "desk1", roles.RECEPTIONIST)
    gp = as_role(pm, "drgp", roles.GP)
    for who in (reception, gp):
        with pytest.raises(PermissionError, match="may not write the exclusion file"):
            exclusion.export(who, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_failed_export_is_audited_and_keeps_the_previous_set(pm, add_patient, tmp_path, monkeypatch):
    objections.record(pm, add_patient(pm))
    exclusion.export(pm, tmp_path / "out")
    before = (tmp_path / "out" / "CURRENT").read_bytes()
    objections.record(pm, add_patient(pm))
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(ExportError, match="previous exclusion set is still the current one: No space left"):
        exclusion.export(pm, tmp_path / "out")
    monkeypatch.setattr(os, "replace", real)
    assert (tmp_path / "out" / "CURRENT").read_bytes() == before
    assert read_export(tmp_path / "out", public_key(pm), practice_ods="F84003", state_path=fresh_state(), now=NOW).manifest.row_count == 1
    with pm.register.reading() as conn:
        outcomes = [r[0] for r in conn.execute("SELECT outcome FROM audit WHERE action = 'exclusion.export' ORDER BY seq")]
    assert outcomes == ["ok", "failed"]
    assert exclusion.export_status(pm).out_of_date


def test_practice_wide_opt_out_is_gp_only_audited_and_reversible(pm, add_patient, tmp_path):
    objector, includer, other = (add_patient(pm, forenames=n) for n in ("Obj", "Inc", "Other"))
    objections.record(pm, objector, effective=date(2020, 1, 1))
    with pytest.raises(PermissionError, match="apply or lift the practice-wide opt-out"):
        exclusion.set_practice_optout(pm, "on", "reason")
    gp = as_role(pm, "drgp", roles.GP)
    with pytest.raises(ValidationError, match="reason"):
        exclusion.set_practice_optout(gp, "on", "  ")
    exclusion.set_practice_optout(gp, "on", "Partners' decision, minuted", date(2025, 5, 1))
    with pytest.raises(ValidationError, match="already on"):
        exclusion.set_practice_optout(gp, "on", "again")
    assert exclusion.practice_optout_status(pm).on
    nhs_of = {pid: pm.register.conn.execute("SELECT nhs FROM patients WHERE id=?", (pid,)).fetchone()[0]
              for pid in (objector, includer, other)}
    change = exclusion.opt_in(pm, nhs_of[includer])
    assert change.warnings == ()
    exclusion.opt_in(pm, nhs_of[objector])  # an objection beats an include-me request
    exclusion.export(pm, tmp_path / "out")
    exset = read_export(tmp_path / "out", public_key(pm), practice_ods="F84003", state_path=fresh_state(), now=NOW)
    assert exset.manifest.mode == EXCLUDE_ALL_EXCEPT_LISTED
    assert [(r.nhs_number, r.snomed, r.effective) for r in exset.rows] == [(nhs_of[includer], "827261000000102", NOW.date())]
    assert [exset.may_extract(nhs_of[p]) for p in (objector, includer, other)] == [False, True, False]

    exclusion.set_practice_optout(gp, "off", "Lifted after NHS England's letter")
    exclusion.export(pm, tmp_path / "out")
    exset = read_export(tmp_path / "out", public_key(pm), practice_ods="F84003", state_path=fresh_state(), now=NOW)
    assert exset.manifest.mode == EXCLUDE_LISTED  # normal mode again, the individual objection kept
    assert [r.nhs_number for r in exset.rows] == [nhs_of[objector]]
    with pm.register.reading() as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit WHERE action LIKE 'practice_optout.%' ORDER BY seq")]
    assert actions == ["practice_optout.on", "practice_optout.off"]
    assert "off" in exclusion.practice_optout_status(pm).describe()


def test_opt_in_while_policy_off_warns(pm, add_patient):
    pid = add_patient(pm)
    nhs = pm.register.conn.execute("SELECT nhs FROM patients WHERE id=?", (pid,)).fetchone()[0]
    change = exclusion.opt_in(pm, nhs)
    assert "changes nothing until it is turned on" in change.warnings[0]


def test_a_patient_lost_while_assembling_rows_stops_the_export(pm, add_patient, tmp_path, monkeypatch):
    """The SystmOne lesson: recorded but never sent. The independent count catches a dropped row."""
    for _ in range(3):
        objections.record(pm, add_patient(pm))
    real = exclusion_repo.objector_rows
    monkeypatch.setattr(exclusion_repo, "objector_rows", lambda conn: real(conn)[1:])
    with pytest.raises(ExportError, match="2 rows were computed but the register expects 3"):
        exclusion.export(pm, tmp_path / "out")
    assert not (tmp_path / "out" / "CURRENT").exists()


def test_replacing_the_signing_key_fails_the_old_key_closed(pm, add_patient, tmp_path):
    from gp_optout_desktop.exclusion.errors import ExclusionSetError
    from gp_optout_desktop.services import audit

    objections.record(pm, add_patient(pm), effective=date(2014, 2, 1))
    exclusion.export(pm, tmp_path / "out")
    old_key = public_key(pm)
    assert not exclusion.export_status(pm).out_of_date
    change = exclusion.replace_signing_key(pm)
    assert change.data["key_id"] != change.data["old_key_id"]
    assert exclusion.export_status(pm).out_of_date  # the file on disk is signed with the old key
    exclusion.export(pm, tmp_path / "out")
    assert read_export(tmp_path / "out", public_key(pm), practice_ods="F84003", state_path=fresh_state(), now=NOW).manifest.signing_key_id == change.data["key_id"]
    with pytest.raises(ExclusionSetError):  # a consumer still holding the old key refuses the new file
        read_export(tmp_path / "out", old_key, practice_ods="F84003", state_path=fresh_state(), now=NOW)
    (row,) = audit.query(pm, action="export.signing_key_replaced")
    assert f"old_key_id={change.data['old_key_id']}" in row.detail
    with pytest.raises(PermissionError):
        exclusion.replace_signing_key(as_role(pm, "gp1", roles.GP))


def test_a_change_in_the_exports_own_second_counts_as_not_yet_in_the_file():
    """The export record keeps whole seconds. A change recorded later in the same second may
    have missed the file: the patient view must say it is waiting, never that it is in; once
    nothing has changed since the export (same revision), nothing waits."""
    from gp_optout_desktop.domain.events import Event
    from gp_optout_desktop.services.exclusion import ExportStatus, awaits_export

    exported = datetime(2026, 12, 2, 12, 0, 0, 300_000, tzinfo=timezone.utc)
    last = {"at": "2026-12-02T12:00:00Z", "revision": 7, "mode": EXCLUDE_LISTED}

    def event(at):
        return Event("type1", "register", date(2026, 12, 2), date(2026, 12, 2), "desk", "reception", at)

    same_second = [event(exported + timedelta(milliseconds=400))]
    before = [event(exported - timedelta(seconds=1))]
    after = [event(exported + timedelta(seconds=2))]
    changed = ExportStatus(last, revision=8, mode_now=EXCLUDE_LISTED)
    assert awaits_export(changed, same_second)
    assert awaits_export(changed, after)
    assert not awaits_export(changed, before)
    unchanged = ExportStatus(last, revision=7, mode_now=EXCLUDE_LISTED)
    assert not awaits_export(unchanged, same_second)
    assert awaits_export(ExportStatus(last, revision=7, mode_now=EXCLUDE_ALL_EXCEPT_LISTED), before)
    assert awaits_export(ExportStatus(None, revision=7, mode_now=EXCLUDE_LISTED), before)
