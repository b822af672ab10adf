"""The key hierarchy (docs/adr/0006): which slot holds what, and every user change re-signed,
so the trail and the user records keep verifying through adds, role changes, removals,
password resets and changes, the recovery key and a re-key."""

from __future__ import annotations

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.exclusion.errors import ExportError
from gp_optout_desktop.services import audit, exclusion, objections, session as session_service, users
from gp_optout_desktop.store import certs, keyfile
from gp_optout_desktop.store.errors import RecordNotCertified, WrongPassword


def slots(register_dir):
    return keyfile.KeyFile.load(register_dir / "register.keys")


def test_the_manager_key_is_only_in_managers_slots_and_the_recovery_slot(manager, register_dir):
    users.add(manager, "desk1", roles.RECEPTIONIST, "desk1-password-1")
    users.add(manager, "drgp", roles.GP, "drgp-password-1")
    users.add(manager, "pm2", roles.MANAGER, "pm2-password-1")
    keys = slots(register_dir)
    holders = {name for name in keys.data["users"] if keys.has_secret(name, certs.MANAGER_SECRET)}
    assert holders == {"pm", "pm2", keyfile.RECOVERY_USER}
    assert all(keys.has_secret(n, certs.AUDIT_SECRET) for n in ("pm", "desk1", "drgp", "pm2"))
    pm2 = session_service.unlock(register_dir, "pm2", "pm2-password-1")
    try:
        assert pm2.register.manager_key == manager.register.manager_key
    finally:
        pm2.lock()
    desk = session_service.unlock(register_dir, "desk1", "desk1-password-1")
    try:
        assert desk.register.manager_key is None and desk.register.audit_seed is not None
    finally:
        desk.lock()


def test_every_user_change_is_re_signed_and_the_trail_verifies(manager, register_dir, add_patient):
    users.add(manager, "desk1", roles.RECEPTIONIST, "desk1-password-1")
    users.change_role(manager, "desk1", roles.GP)
    temp = users.reset_password(manager, "desk1").data["password"]
    manager.lock()
    gp = session_service.unlock(register_dir, "desk1", temp)
    assert gp.role == roles.GP
    users.change_own_password(gp, "desk1-new-password-2")
    exclusion.set_practice_optout(gp, "on", "Partners meeting")
    gp.lock()
    again = session_service.unlock(register_dir, "desk1", "desk1-new-password-2")
    objections.record(again, add_patient(again))
    again.lock()
    pm = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        users.change_role(pm, "desk1", roles.RECEPTIONIST)
        assert audit.verify(pm).ok and users.record_problems(pm) == []
        users.remove(pm, "desk1")
        result = audit.verify(pm)
        assert result.ok, result.problems
    finally:
        pm.lock()
    with pytest.raises(WrongPassword):
        session_service.unlock(register_dir, "desk1", "desk1-new-password-2")


def test_a_demoted_manager_loses_the_manager_key_and_a_promoted_user_gets_it_with_a_reset(manager, register_dir):
    users.add(manager, "pm2", roles.MANAGER, "pm2-password-1")
    users.change_role(manager, "pm2", roles.RECEPTIONIST)
    assert not slots(register_dir).has_secret("pm2", certs.MANAGER_SECRET)
    change = users.change_role(manager, "pm2", roles.MANAGER)
    assert "Reset their password" in change.summary
    pm2 = session_service.unlock(register_dir, "pm2", "pm2-password-1")
    try:
        assert pm2.role == roles.MANAGER and pm2.register.manager_key is None
        with pytest.raises(ExportError, match="does not hold the manager key"):
            exclusion.export(pm2, register_dir.parent / "out")
        with pytest.raises(ValidationError, match="does not hold the manager key"):
            users.add(pm2, "x1", roles.RECEPTIONIST, "x1-password-1")
    finally:
        pm2.lock()
    temp = users.reset_password(manager, "pm2").data["password"]
    pm2 = session_service.unlock(register_dir, "pm2", temp)
    try:
        assert pm2.register.manager_key == manager.register.manager_key
    finally:
        pm2.lock()
    assert audit.verify(manager).ok


def test_the_recovery_key_opens_with_a_new_certified_audit_key_kept_at_the_new_password(register_dir):
    from gp_optout_desktop.services import setup

    practice = setup.practice_details(name="Rec Surgery", address=["1 Road"], phone="01632 960001",
                                      email="a@example.invalid")
    session, recovery = setup.create_register(register_dir, ods="F84003", practice=practice, user="pm",
                                              password="pm-password-1")
    users.add(session, "desk1", roles.RECEPTIONIST, "desk1-password-1")
    session.lock()
    rec = session_service.unlock_with_recovery(register_dir, "pm", recovery)
    try:
        assert rec.must_change_password and rec.register.manager_key is not None
        users.change_own_password(rec, "pm-new-password-2")
    finally:
        rec.lock()
    pm = session_service.unlock(register_dir, "pm", "pm-new-password-2")
    try:
        result = audit.verify(pm)
        assert result.ok, result.problems
        assert users.record_problems(pm) == []
    finally:
        pm.lock()


def test_rekey_gives_every_user_a_new_certified_audit_key(manager, register_dir):
    users.add(manager, "desk1", roles.RECEPTIONIST, "desk1-password-1")
    change = users.rekey(manager, "pm-password-1")
    manager.lock()
    desk = session_service.unlock(register_dir, "desk1", change.data["passwords"]["desk1"])
    desk.lock()
    rec = session_service.unlock_with_recovery(register_dir, "pm", change.data["recovery_key"])
    rec.lock()
    pm = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        result = audit.verify(pm)
        assert result.ok, result.problems
    finally:
        pm.lock()


def test_a_user_added_directly_in_the_database_cannot_unlock(manager, register_dir):
    """A row in users plus a slot made with the data key, but no certificate: refused."""
    keys = manager.register.keys
    keys.wrap("ghost", "ghost-password-1", manager.register.data_key)
    keys.save()
    with manager.register.transaction() as conn:
        conn.execute("INSERT INTO users(name, role, active, created_at, created_by) VALUES "
                     "('ghost', 'manager', 1, '2026-01-01', 'pm')")
    manager.lock()
    with pytest.raises(RecordNotCertified):
        session_service.unlock(register_dir, "ghost", "ghost-password-1")
