"""The Users screen and the first sign-in's password change on a server register (ADR 0015
addendum "passwords on the server"): the real main window signed in to the real PostgreSQL the
tests start. A manager adds a user and resets a password on the screen (the temporary password
shown once, with the administrator's step before it); the user signs in with it and must
choose their own before the desk opens; afterwards only their own password signs in."""

from __future__ import annotations

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import server_session, users
from gp_optout_desktop.store.errors import WrongPassword
from gp_optout_desktop.store.server import connect, schema
from gp_optout_desktop.ui import dialogs
from tests.server import accounts
from tests.ui.helpers import wait_idle
from tests.ui.test_server_screens import _screen, _signed_in, _window

pytestmark = pytest.mark.server


@pytest.fixture
def server(pg_db):
    reg = accounts.Register(pg_db)
    reg.mo = reg.add_user("mo", "mo-password-1", roles.MANAGER)
    yield reg
    reg.close()


def _administrator_gives(server, pg_db, login: str, password: str, *, new: bool) -> None:
    """`gp-optout server add-desk` / `set-desk-password` (tests/server/test_server_passwords.py
    runs the commands themselves)."""
    login_password = connect.derive_login(accounts.address(pg_db), login, password)[1]
    if new:
        schema.add_desk_login(server.admin, server.practice.id, login, login_password)
    else:
        schema.set_desk_password(server.admin, login, login_password)


def _first_sign_in(qtbot, settings, pg_db, login: str, temporary: str, own: str):
    """Sign in with a temporary password: the change page comes first, then the desk."""
    window = _window(qtbot, settings, pg_db)
    window.unlock.user.setText(login)
    window.unlock.password.setText(temporary)
    window.unlock.submit()
    qtbot.waitUntil(lambda: window.unlock.pages.currentIndex() == 1, timeout=30000)
    assert window.session is None and "temporary password" in window.unlock.change_note.text()
    return _chooses_own(qtbot, window, own)


def _chooses_own(qtbot, window, own: str):
    window.unlock.new_password.setText(own)
    window.unlock.new_password2.setText(own)
    window.unlock.submit_new_password()
    qtbot.waitUntil(lambda: window.session is not None, timeout=30000)
    assert window.session.must_change_password is False
    return window


def test_a_manager_adds_a_user_on_the_screen_who_changes_the_password_at_first_sign_in(qtbot, settings, pg_db,
                                                                                          server):
    window = _signed_in(qtbot, settings, pg_db, server.mo, "mo-password-1")
    screen = _screen(qtbot, window, "Users")
    assert screen.model.row_of(server.mo) >= 0
    nina = server.login("nina")
    screen.new_name.setText(nina)
    screen.new_role.setCurrentIndex(screen.new_role.findData(roles.GP))
    screen.add_button.click()
    wait_idle(qtbot, screen)
    temporary = screen.password_panel.password.text()
    assert screen.password_panel.isVisibleTo(screen) and len(temporary) == 14, screen.status.text()
    step = (f"'gp-optout server add-desk --practice {server.practice.id} --login {nina}' and type that same "
            "password.")
    assert step in screen.password_panel.message.text() and f"Added gp {nina}" in screen.status.text()
    assert screen.model.row_of(nina) >= 0
    assert server.audit()[-1][3:5] == ("user.add", "ok")
    window.session.lock()

    _administrator_gives(server, pg_db, nina, temporary, new=True)
    own = _first_sign_in(qtbot, settings, pg_db, nina, temporary, "nina-own-password-1")
    assert own.session.role == roles.GP
    own.session.lock()
    with pytest.raises(WrongPassword):
        server_session.sign_in(accounts.address(pg_db), nina, temporary)


def test_a_manager_resets_changes_a_role_and_removes_on_the_screen(qtbot, settings, pg_db, server):
    rita = server.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    window = _signed_in(qtbot, settings, pg_db, server.mo, "mo-password-1")
    screen = _screen(qtbot, window, "Users")
    screen.select_user(rita)
    dialogs.set_next_answer("Reset password")
    screen.reset_button.click()
    wait_idle(qtbot, screen)
    temporary = screen.password_panel.password.text()
    assert temporary and f"'gp-optout server set-desk-password --login {rita}'" in \
        screen.password_panel.message.text(), screen.status.text()

    screen.select_user(rita)
    screen.role_for_selected.setCurrentIndex(screen.role_for_selected.findData(roles.GP))
    screen.change_role_button.click()
    wait_idle(qtbot, screen)
    assert screen.model.index(screen.model.row_of(rita), 1).data() == "GP"
    window.session.lock()

    _administrator_gives(server, pg_db, rita, temporary, new=False)
    own = _first_sign_in(qtbot, settings, pg_db, rita, temporary, "rita-own-password-2")
    assert own.session.role == roles.GP
    own.session.lock()

    window = _signed_in(qtbot, settings, pg_db, server.mo, "mo-password-1")
    screen = _screen(qtbot, window, "Users")
    screen.select_user(rita)
    dialogs.set_next_answer("Remove")
    screen.remove_button.click()
    wait_idle(qtbot, screen)
    assert screen.model.row_of(rita) == -1
    assert (rita, roles.GP) not in users.list_users(window.session)
    window.session.lock()
    with pytest.raises(WrongPassword, match="not a user"):
        server_session.sign_in(accounts.address(pg_db), rita, "rita-own-password-2")


def test_a_lost_manager_password_comes_back_with_the_recovery_key_made_on_the_screen(qtbot, settings, pg_db,
                                                                                       server):
    window = _signed_in(qtbot, settings, pg_db, server.mo, "mo-password-1")
    screen = _screen(qtbot, window, "Users")
    dialogs.set_next_answer("Make a new recovery key")
    screen.recovery_button.click()
    wait_idle(qtbot, screen)
    recovery = screen.password_panel.password.text()
    assert screen.password_panel.title() == "Recovery key" and len(recovery) == 64, screen.status.text()
    assert server.audit()[-1][3:5] == ("register.recovery_key", "ok")
    window.session.lock()

    # Mo forgets the password; the administrator gives the login a new one.
    _administrator_gives(server, pg_db, server.mo, "mo-from-the-admin-1", new=False)
    window = _window(qtbot, settings, pg_db)
    form = window.unlock
    assert form.recovery_toggle.isVisible() and not form.recovery_key.isVisible()
    form.recovery_toggle.click()
    assert form.recovery_key.isVisible()
    form.user.setText(server.mo)
    form.password.setText("mo-from-the-admin-1")
    form.submit()
    assert form.error.text() == "Enter the practice's recovery key." and window.session is None
    form.recovery_key.setText("WXYZ-" * 12 + "WXYZ")
    form.submit()
    qtbot.waitUntil(lambda: "recovery key is wrong" in form.error.text(), timeout=30000)
    form.recovery_key.setText(recovery)
    form.submit()
    qtbot.waitUntil(lambda: form.pages.currentIndex() == 1, timeout=30000)
    assert form.change_note.text().startswith("You unlocked with the recovery key.")
    assert _chooses_own(qtbot, window, "mo-own-password-2").session.role == roles.MANAGER
    window.session.lock()
    for old in ("mo-password-1", "mo-from-the-admin-1"):
        with pytest.raises(WrongPassword):
            server_session.sign_in(accounts.address(pg_db), server.mo, old)
    server_session.sign_in(accounts.address(pg_db), server.mo, "mo-own-password-2").lock()


def test_a_promotion_on_the_screen_hands_over_the_manager_key_with_a_temporary_password(qtbot, settings, pg_db,
                                                                                         server):
    """Issue 15 gap: on a server a manager who holds the manager key makes a user a manager on
    the screen: asked first (their password stops working), the temporary password shown once
    with the administrator's step; signing in with it, the new manager holds the manager key."""
    rita = server.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    window = _signed_in(qtbot, settings, pg_db, server.mo, "mo-password-1")
    key = window.session.manager_key
    assert key is not None
    screen = _screen(qtbot, window, "Users")
    screen.select_user(rita)
    screen.role_for_selected.setCurrentIndex(screen.role_for_selected.findData(roles.MANAGER))
    dialogs.set_next_answer("Cancel")
    screen.change_role_button.click()
    wait_idle(qtbot, screen)
    assert screen.model.index(screen.model.row_of(rita), 1).data() == "Receptionist"  # asked, declined: unchanged
    dialogs.set_next_answer("Make a practice manager")
    screen.change_role_button.click()
    wait_idle(qtbot, screen)
    temporary = screen.password_panel.password.text()
    assert temporary and f"'gp-optout server set-desk-password --login {rita}'" in \
        screen.password_panel.message.text(), screen.status.text()
    assert "carries the manager key" in screen.status.text()
    assert screen.model.index(screen.model.row_of(rita), 1).data() == "Practice manager"
    window.session.lock()

    _administrator_gives(server, pg_db, rita, temporary, new=False)
    own = _first_sign_in(qtbot, settings, pg_db, rita, temporary, "rita-own-password-2")
    assert own.session.role == roles.MANAGER and own.session.manager_key == key
    own.session.lock()
