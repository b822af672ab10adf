"""Change my password on a server register: the real main window signed in to the real
PostgreSQL the tests start, driven with qtbot (issue 15, ADR 0015 addendum "passwords on the
server"). The current password is checked against the user's own key slot; a wrong one is one
sentence, writes nothing then and counts as a wrong sign-in on this computer; the change re-wraps the slot and alters the login in one
transaction, audited; afterwards only the new password signs in, and the open desk carries on."""

from __future__ import annotations

import logging

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import server_session, users
from gp_optout_desktop.store.errors import WrongPassword
from gp_optout_desktop.ui.change_password import DONE
from tests.server import accounts
from tests.ui.test_change_password import _opened, _submit
from tests.ui.test_server_desk import _sign_in
from tests.ui.test_server_screens import _signed_in

pytestmark = pytest.mark.server

OLD, NEW = "rita-password-1", "rita-own-password-2"


@pytest.fixture
def server(pg_db):
    reg = accounts.Register(pg_db)
    reg.rita = reg.add_user("rita", OLD, roles.RECEPTIONIST)
    yield reg
    reg.close()


def test_a_receptionist_changes_their_password_on_the_server_and_only_the_new_one_signs_in(
        qtbot, settings, pg_db, server, caplog):
    caplog.set_level(logging.DEBUG)
    window = _signed_in(qtbot, settings, pg_db, server.rita, OLD)
    assert window.password_action.isEnabled()
    dialog = _opened(qtbot, window)
    assert "On the server only the new password signs in afterwards" in dialog.note.text()
    before = server.audit()

    assert _submit(qtbot, dialog, OLD, "a-new-password-1", "a-new-password-2") == \
        "The two passwords differ. Type the same password twice."
    assert _submit(qtbot, dialog, OLD, "too-short") == "Choose a password of at least 10 characters."
    assert _submit(qtbot, dialog, "a-guessed-password", NEW) == users.WRONG_CURRENT
    assert dialog.current.hasFocus()
    assert server.audit() == before  # nothing written on the server
    server_session.sign_in(accounts.address(pg_db), server.rita, OLD).lock()  # the old one still signs in
    before = server.audit()

    assert _submit(qtbot, dialog, OLD, NEW) == DONE
    # The wrong retype was counted as a wrong sign-in on this computer: the right one writes it
    # into the trail (as a sign-in does), then the change.
    assert [row[1:5] for row in server.audit()[len(before):]] == [
        (server.rita, roles.RECEPTIONIST, "login", "failed"),
        (server.rita, roles.RECEPTIONIST, "user.change_password", "ok")]
    dialog.close_button.click()
    assert window.session.revision() >= 0  # the desk carries on after the change

    window.lock()
    with pytest.raises(WrongPassword):
        server_session.sign_in(accounts.address(pg_db), server.rita, OLD)
    _sign_in(qtbot, window, server.rita, OLD)
    assert window.session is None and "wrong" in window.unlock.error.text()
    _sign_in(qtbot, window, server.rita, NEW)
    assert window.session is not None and window.session.user == server.rita
    window.lock()
    for secret in (OLD, NEW, "a-guessed-password", "a-new-password-1", "a-new-password-2"):
        assert secret not in caplog.text
