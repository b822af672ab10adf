"""Users screen: add (temporary password shown once), change role, reset, remove; who can do what."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import session as session_service, users as users_service
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.bus import ChangeBus
from gp_optout_desktop.ui.models.users_model import PermissionsModel, UsersModel
from gp_optout_desktop.ui.screens import SCREENS, users as users_screen
from tests.ui.helpers import wait_idle


@pytest.fixture
def screen(qtbot, manager):
    bus = ChangeBus()
    bus.seen = []
    bus.changed.connect(bus.seen.append)
    widget = users_screen.create(lambda: manager, bus)
    qtbot.addWidget(widget)
    widget.show()
    wait_idle(qtbot, widget)
    return widget


def _cancelled_then_answered(qtbot, screen, button, yes: str) -> None:
    """Cancelled, the button shows nothing; confirmed with ``yes``, it runs."""
    dialogs.set_next_answer("Cancel")
    button.click()
    wait_idle(qtbot, screen)
    assert not screen.password_panel.isVisibleTo(screen)
    dialogs.set_next_answer(yes)
    button.click()
    wait_idle(qtbot, screen)


def test_users_model_lists_rows_and_labels_roles():
    model = UsersModel()
    model.set_rows([("anna", roles.GP), ("pm", roles.MANAGER)])
    assert model.rowCount() == 2
    assert model.index(0, 1).data() == "GP"
    assert model.index(1, 1).data() == "Practice manager"
    assert model.row_of("pm") == 1 and model.name_at(5) is None


def test_permissions_model_matches_the_domain_matrix():
    model = PermissionsModel()
    assert model.rowCount() == len(roles.ALL_ACTIONS)
    cols = {model.headerData(c, Qt.Horizontal): c for c in range(1, model.columnCount())}
    for row in range(model.rowCount()):
        action = model.action_at(row)
        for role, label in roles.ROLE_LABELS.items():
            assert model.index(row, cols[label]).data() == ("Yes" if roles.allowed(role, action) else "No")
    # The rows where roles differ come first: that is what a manager is looking for.
    first = model.action_at(0)
    assert len({roles.allowed(r, first) for r in roles.ROLES}) == 2


def test_add_user_shows_temporary_password_once_and_it_must_be_changed(qtbot, screen, manager, register_dir):
    screen.new_name.setText("jdoe")
    screen.new_role.setCurrentIndex(screen.new_role.findData(roles.RECEPTIONIST))
    screen.add_button.click()
    wait_idle(qtbot, screen)
    password = screen.password_panel.password.text()
    assert screen.password_panel.isVisibleTo(screen) and len(password) == 14
    assert "Added receptionist jdoe" in screen.status.text()
    assert ("jdoe", roles.RECEPTIONIST) in users_service.list_users(manager)
    assert screen.model.row_of("jdoe") >= 0
    published = screen.bus.seen[-1]
    assert "users" in published.areas and password not in repr(published)  # the password stays on this screen
    # The password works once and the user is told to change it.
    other = session_service.unlock(register_dir, "jdoe", password)
    assert other.must_change_password and other.role == roles.RECEPTIONIST
    other.register.close()
    screen.password_panel.done.click()
    assert screen.password_panel.password.text() == "" and not screen.password_panel.isVisibleTo(screen)


def test_add_user_with_a_bad_name_is_refused_in_words(qtbot, screen, manager):
    screen.new_name.setText("two words")
    screen.add_button.click()
    wait_idle(qtbot, screen)
    assert "no spaces" in screen.status.text()
    assert [n for n, _ in users_service.list_users(manager)] == ["pm"]


def test_change_role_reset_and_remove(qtbot, screen, manager, register_dir):
    users_service.add(manager, "gp1", roles.GP, password="gp1-password-long")
    screen.refresh()
    wait_idle(qtbot, screen)
    screen.select_user("gp1")
    screen.role_for_selected.setCurrentIndex(screen.role_for_selected.findData(roles.RECEPTIONIST))
    screen.change_role_button.click()
    wait_idle(qtbot, screen)
    assert ("gp1", roles.RECEPTIONIST) in users_service.list_users(manager)
    assert screen.model.index(screen.model.row_of("gp1"), 1).data() == "Receptionist"

    # Cancelled: nothing changes and no password is shown.
    screen.select_user("gp1")
    _cancelled_then_answered(qtbot, screen, screen.reset_button, "Reset password")
    temporary = screen.password_panel.password.text()
    assert temporary and "must choose a new one" in screen.status.text()
    session = session_service.unlock(register_dir, "gp1", temporary)
    assert session.must_change_password
    session.register.close()

    screen.select_user("gp1")
    dialogs.set_next_answer("Remove")
    screen.remove_button.click()
    wait_idle(qtbot, screen)
    assert "gp1" not in [n for n, _ in users_service.list_users(manager)]
    assert screen.model.row_of("gp1") == -1
    assert any(title == "Remove user" for title, _ in dialogs.shown)


def test_last_manager_cannot_remove_themselves(qtbot, screen, manager):
    screen.select_user("pm")
    dialogs.set_next_answer("Remove")
    screen.remove_button.click()
    wait_idle(qtbot, screen)
    assert "cannot remove yourself" in screen.status.text()
    assert ("pm", roles.MANAGER) in users_service.list_users(manager)


def test_users_screen_hidden_from_and_refused_to_other_roles(manager):
    spec = next(s for s in SCREENS if s.title == users_screen.TITLE)
    assert spec.permission == "manage_users"
    for role in (roles.RECEPTIONIST, roles.GP):
        assert not roles.allowed(role, spec.permission)
        users_service.add(manager, f"u{role}", role, password="long-enough-pass")
    assert roles.allowed(roles.MANAGER, spec.permission)
    manager.role = roles.GP  # the service checks the session's role, whatever the window showed
    with pytest.raises(PermissionError):
        users_service.add(manager, "sneaky", roles.MANAGER, password="long-enough-pass")
    with pytest.raises(PermissionError):
        users_service.list_users(manager)


def test_a_new_recovery_key_is_shown_once_and_unlocks_as_the_manager(qtbot, screen, manager, register_dir):
    _cancelled_then_answered(qtbot, screen, screen.recovery_button, "Make a new recovery key")
    recovery = screen.password_panel.password.text()
    assert screen.password_panel.title() == "Recovery key" and len(recovery) == 64, screen.status.text()
    assert recovery not in repr(screen.bus.seen[-1])
    other = session_service.unlock_with_recovery(register_dir, "pm", recovery)
    assert other.must_change_password and other.role == roles.MANAGER
    other.register.close()
    screen.password_panel.done.click()
    assert screen.password_panel.title() == "Temporary password"
