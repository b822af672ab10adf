"""Every coding write leaves the register attributable (ADR 0006): after a practice-wide opt-out
turned on and lifted, worklist exports, a coding target, reconciliations that confirm events and
record practice-wide rows, the one-step import and a report, a practice manager's ``audit
verify`` finds every table matching its signed entries."""

from __future__ import annotations

from datetime import date

from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import audit, coding, exclusion, objections, reconcile, session as session_service, users

from .helpers import N, emis_export, fixed

T1 = "827241000000103"


def test_coding_writes_verify_clean(manager, add_patient, register_dir, tmp_path):
    fixed(manager, date(2026, 11, 2))
    a = add_patient(manager, surname="Alpha", dob="1970-01-01", nhs=N[36])
    add_patient(manager, surname="Beta", dob="1970-01-01", nhs=N[37])
    objections.record(manager, a)
    users.add(manager, "drgp", roles.GP, "gp-password-1")
    coding.set_target_days(manager, 7)
    coding.export_csv(manager, tmp_path / "w.csv")
    coding.export_checklist(manager, tmp_path / "w.pdf")
    manager.lock()
    gp = session_service.unlock(register_dir, "drgp", "gp-password-1")
    fixed(gp, date(2026, 11, 2))
    exclusion.set_practice_optout(gp, "on", "Partners' decision")
    gp.lock()
    pm = session_service.unlock(register_dir, "pm", "pm-password-1")
    fixed(pm, date(2026, 11, 5))
    export = tmp_path / "export.csv"
    export.write_bytes(emis_export([
        (N[36], "Alpha", "Alex", date(1970, 1, 1), "LS1 4AP", T1, date(2026, 11, 2)),
        (N[37], "Beta", "Alex", date(1970, 1, 1), "LS1 4AP", T1, date(2026, 11, 2)),
        (N[38], "Gamma", "Alex", date(1970, 1, 1), "LS1 4AP", T1, date(2019, 1, 1)),  # (b)
    ]))
    result = reconcile.reconcile(pm, export)
    assert result.confirmed == 2  # Alpha's event, Beta's practice-wide add
    reconcile.write_report(pm, result, tmp_path / "r.csv")
    reconcile.import_missing(pm, result)
    exclusion.opt_in(pm, N[37])  # after a confirmed add: a removal is asked for
    export.write_bytes(emis_export([(N[36], "Alpha", "Alex", date(1970, 1, 1), "LS1 4AP", T1, date(2026, 11, 2))]))
    assert reconcile.reconcile(pm, export).confirmed == 1  # the removal, recorded confirmed
    pm.lock()
    gp = session_service.unlock(register_dir, "drgp", "gp-password-1")
    exclusion.set_practice_optout(gp, "off", "Lifted")
    gp.lock()
    pm = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        verified = audit.verify(pm)
        assert verified.ok, verified.problems
    finally:
        pm.lock()


def test_a_practice_wide_code_changed_outside_the_app_is_reported(manager, add_patient, register_dir):
    """Deleting a practice-wide removal in the database (so a code would silently stay) is found."""
    add_patient(manager, surname="Alpha", dob="1970-01-01", nhs=N[39])
    users.add(manager, "drgp", roles.GP, "gp-password-1")
    manager.lock()
    gp = session_service.unlock(register_dir, "drgp", "gp-password-1")
    exclusion.set_practice_optout(gp, "on", "Partners' decision")
    exclusion.set_practice_optout(gp, "off", "Lifted")
    gp.lock()
    pm = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        assert audit.verify(pm).ok
        pm.register.conn.execute("DELETE FROM practice_codes WHERE op = 'remove'")  # bypasses the services
        verified = audit.verify(pm)
        assert not verified.ok and "practice_codes" in " ".join(verified.problems)
    finally:
        pm.lock()


def test_every_coding_audit_action_has_words():
    """The audit viewer names each action in words, the ones built from a variable part too."""
    from gp_optout_desktop.domain.audit_words import ACTIONS

    for action in ("reconcile.run", "reconcile.report", "coding.worklist.csv", "coding.worklist.checklist",
                   "coding.practice_wide.add", "coding.practice_wide.remove", "settings.coding_target"):
        assert action in ACTIONS, action
