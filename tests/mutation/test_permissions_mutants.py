"""The permission gates in words and in the register: what a refusal says to each role, an
unknown role or action refused (never let through), a locked register refusing before
anything is checked or written, and the one write path's promises (an audit row with every
write, the revision bumped only when the register changed, nothing written when a write is
refused or fails). Written to close survivors of scripts/run-mutation over the permission
checks (domain/roles.py, Session.require, Session.write; docs/mutation-testing.md, "store
modules"). The role x action table itself is tests/services/test_role_action_matrix.py."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.services import audit, patients, session as session_service, users
from gp_optout_desktop.store import integrity, meta
from gp_optout_desktop.store.errors import RegisterCorrupt


@pytest.mark.parametrize("role, action, words", [
    (roles.RECEPTIONIST, "rekey", "A receptionist may not re-key the register."),
    (roles.GP, "print_letters", "A gp may not print letters."),
    (roles.RECEPTIONIST, "practice_optout", "A receptionist may not apply or lift the practice-wide opt-out."),
    (roles.GP, "delete_everything", "A gp may not delete everything."),  # an action with no label of its own
    (roles.MANAGER, "delete_everything", "A practice manager may not delete everything."),  # the role's label
    ("visitor", "search", "A visitor may not search."),  # a role the table does not know
])
def test_a_refusal_names_the_role_and_the_action_in_words(role, action, words):
    assert not roles.allowed(role, action)
    with pytest.raises(roles.PermissionDenied) as refused:
        roles.require(role, action)
    assert str(refused.value) == words
    assert isinstance(refused.value, PermissionError)


def test_a_role_is_allowed_its_own_actions_without_a_word():
    for role in roles.ROLES:
        for action in roles.PERMISSIONS[role]:
            assert roles.require(role, action) is None


@pytest.mark.parametrize("role", roles.ROLES)
def test_a_known_role_is_accepted_as_is(role):
    assert roles.check_role(role) == role


@pytest.mark.parametrize("role", ["", "Manager", "admin", "practice manager"])
def test_an_unknown_role_is_refused_with_the_roles_there_are(role):
    with pytest.raises(ValidationError) as refused:
        roles.check_role(role)
    assert str(refused.value) == f"Unknown role '{role}': one of receptionist, gp, manager."
    assert refused.value.field == "role"


def _rows(session, action_prefix=""):
    with session.register.reading() as conn:
        return conn.execute("SELECT user, role, action, outcome, perm, signer FROM audit WHERE action LIKE ? "
                            "ORDER BY seq", (action_prefix + "%",)).fetchall()


def test_a_refusal_is_signed_into_the_trail_as_the_user_with_their_role(manager, register_dir):
    users.add(manager, "desk", roles.RECEPTIONIST, "desk-password")
    desk = session_service.unlock(register_dir, "desk", "desk-password")
    try:
        before = desk.revision()
        with pytest.raises(PermissionError, match="^A receptionist may not manage users.$"):
            desk.require("manage_users")
        rows = _rows(desk, "denied.")
        assert [r[:5] for r in rows] == [("desk", roles.RECEPTIONIST, "denied.manage_users", "denied", "denied")]
        assert rows[0][5]  # signed by the receptionist's own certified key
        assert desk.revision() == before  # a refusal changes nothing but the trail
        desk.require("search")  # allowed: no row, no error
        assert len(_rows(desk, "denied.")) == 1
    finally:
        desk.lock()
    assert audit.verify(manager).ok


def test_a_locked_register_refuses_before_any_permission_is_checked(manager, register_dir):
    manager.lock()
    for permission in ("search", "no_such_permission"):
        with pytest.raises(session_service.Locked, match="^The register is locked. Unlock it to continue.$"):
            manager.require(permission)
        with pytest.raises(session_service.Locked):
            with manager.write(permission):
                pass  # pragma: no cover - never entered


def test_a_write_bumps_the_revision_once_and_an_audited_read_does_not(manager):
    start = manager.revision()
    with manager.write("settings") as ctx:
        meta.put(ctx.conn, "tidy_probe", "one")
        ctx.audit("settings.probe", detail="first")
    assert ctx.revision == start + 1 == manager.revision()
    with manager.write("view_audit", changes_register=False) as ctx:
        ctx.audit("audit.read")
    assert ctx.revision == start + 1 == manager.revision()
    rows = _rows(manager, "settings.probe") + _rows(manager, "audit.read")
    assert [(r[0], r[2], r[4]) for r in rows] == [("pm", "settings.probe", "settings"),
                                                  ("pm", "audit.read", "view_audit")]
    assert audit.verify(manager).ok


def test_a_write_without_an_audit_row_is_refused_and_leaves_nothing(manager):
    start = manager.revision()
    with pytest.raises(AssertionError, match="every write must leave an audit row"):
        with manager.write("settings") as ctx:
            meta.put(ctx.conn, "tidy_probe", "unaudited")
    with manager.register.reading() as conn:
        assert meta.get(conn, "tidy_probe") is None
    assert manager.revision() == start
    assert audit.verify(manager).ok


def test_a_write_that_fails_leaves_nothing_and_the_next_write_is_clean(manager, add_patient):
    start = manager.revision()
    with pytest.raises(RuntimeError):
        with manager.write("settings") as ctx:
            meta.put(ctx.conn, "tidy_probe", "half")
            ctx.audit("settings.probe")
            raise RuntimeError("the operation failed half way")
    with manager.register.reading() as conn:
        assert meta.get(conn, "tidy_probe") is None
    assert manager.revision() == start and _rows(manager, "settings.probe") == []
    add_patient(manager)  # the digest of the rolled-back change is not carried into the next entry
    assert audit.verify(manager).ok


def test_writes_are_refused_once_an_integrity_check_found_damage(manager, add_patient):
    integrity.remember(manager.register, integrity.CheckResult(False, True, datetime.now(timezone.utc), 0.1,
                                                               "The register is damaged (found at 09:00)."))
    with pytest.raises(RegisterCorrupt, match=r"^The register is damaged \(found at 09:00\)\.$"):
        add_patient(manager)
    assert patients.find(manager, "Testperson") == []  # reads still work: the practice can see what it has
