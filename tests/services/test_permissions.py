"""Every role x action through the real service layer: refusals raise and are audited."""

from datetime import date

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import audit, backup, objections, patients, session as session_service, users


@pytest.fixture
def sessions(manager, register_dir, add_patient):
    pid = add_patient(manager)
    users.add(manager, "desk", roles.RECEPTIONIST, "desk-password")
    users.add(manager, "doc", roles.GP, "doc-password-1")
    manager.lock()
    out = {
        roles.RECEPTIONIST: session_service.unlock(register_dir, "desk", "desk-password"),
        roles.GP: session_service.unlock(register_dir, "doc", "doc-password-1"),
    }
    yield out, pid
    for s in out.values():
        if s.register.is_open:
            s.lock()


def operations(tmp_path, pid):
    return {
        "search": lambda s: patients.find(s, "Testperson"),
        "view_patient": lambda s: patients.view(s, pid),
        "add_patient": lambda s: patients.add(s, surname="New", forenames="P", dob="2000-01-01", postcode_raw="M1 1AE"),
        "record_objection": lambda s: objections.record(s, pid),
        "signpost_ndoo": lambda s: objections.signpost_ndoo(s, pid),
        "manage_users": lambda s: users.add(s, "x1", roles.RECEPTIONIST, "x1-password-1"),
        "view_audit": lambda s: audit.verify(s),
        "backup": lambda s: backup.backup(s, tmp_path / "b.gpob"),
    }


@pytest.mark.parametrize("role", [roles.RECEPTIONIST, roles.GP])
def test_each_role_can_do_exactly_what_its_permissions_say(sessions, role, tmp_path):
    by_role, pid = sessions
    session = by_role[role]
    for action, op in operations(tmp_path, pid).items():
        if roles.allowed(role, action):
            op(session)
        else:
            revision = session.revision()
            with pytest.raises(PermissionError):
                op(session)
            assert session.revision() == revision


def test_refusals_are_audited(sessions, register_dir):
    by_role, _pid = sessions
    with pytest.raises(PermissionError, match="receptionist may not view the audit trail"):
        audit.verify(by_role[roles.RECEPTIONIST])
    by_role[roles.RECEPTIONIST].lock()
    pm = session_service.unlock(register_dir, "pm", "pm-password-1")
    denied = audit.query(pm, action="denied")
    assert [(r.user, r.action, r.outcome) for r in denied] == [("desk", "denied.view_audit", "denied")]
    pm.lock()


def test_a_locked_session_refuses_everything(backend, add_patient):
    """On either engine (tests/services/conftest.py backend)."""
    manager = backend.manager
    pid = add_patient(manager)
    manager.lock()
    for op in (lambda: patients.view(manager, pid), lambda: patients.find(manager, "Testperson"),
               lambda: objections.record(manager, pid), lambda: manager.revision()):
        with pytest.raises(session_service.Locked):
            op()


def test_reads_are_audited_with_the_patient(manager, add_patient):
    pid = add_patient(manager, nhs="9990000034")
    patients.view(manager, pid)
    rows = audit.query(manager, patient="999 000 0034")
    assert [r.action for r in rows] == ["patient.read", "patient.create"]


def test_users_last_manager_and_self_removal_are_refused(manager):
    from gp_optout_desktop.domain.errors import ValidationError

    with pytest.raises(ValidationError, match="yourself"):
        users.remove(manager, "pm")
    with pytest.raises(ValidationError, match="last practice manager"):
        users.change_role(manager, "pm", roles.GP)
