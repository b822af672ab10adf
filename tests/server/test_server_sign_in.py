"""Signing in at a desk on a server register (services/server_session.py sign_in): the user
name is the login, the password gives the login and the key-slot unwrap key, and the role and
key slot come from the server. Refusals are one sentence; what cannot be audited writes nothing."""

from __future__ import annotations

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.services import patients
from gp_optout_desktop.services.server_session import sign_in
from gp_optout_desktop.store.errors import WrongPassword
from tests.server.accounts import Register, address


@pytest.fixture
def register(pg_db):
    reg = Register(pg_db)
    yield reg
    reg.close()


def test_the_role_and_key_come_from_the_server_and_the_sign_in_is_audited(register, pg_db):
    login = register.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    before = len(register.audit())
    session = sign_in(address(pg_db), login, "rita-password-1")
    try:
        assert (session.user, session.role) == (login, roles.RECEPTIONIST)
        assert session.desk.keys == register.desk.keys  # the practice key, unwrapped from her slot on the desk
        assert patients.find(session, "anyone") == []
    finally:
        session.lock()
    assert register.audit()[before][1:] == (login, roles.RECEPTIONIST, "login", "ok", "password")

    # The practice manager makes her a GP: her next sign-in has the server's new role.
    register.set_user(login, role=roles.GP)
    session = sign_in(address(pg_db), f"  {login} ", "rita-password-1")
    assert session.role == roles.GP
    session.lock()


@pytest.mark.parametrize("who, password", [("rita", "wrong-password-1"), ("nobody", "rita-password-1")])
def test_a_wrong_password_or_unknown_user_is_one_sentence_and_writes_nothing(register, pg_db, who, password):
    register.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    before = register.audit()
    with pytest.raises(WrongPassword) as refused:
        sign_in(address(pg_db), register.login(who), password)
    assert str(refused.value) == "The server refused the sign-in: the user name or password is wrong."
    assert register.audit() == before


def test_a_login_without_a_key_slot_is_refused_and_writes_nothing(register, pg_db):
    login = register.add_user("kim", "kim-password-1", roles.RECEPTIONIST, slot=False)
    before = register.audit()
    with pytest.raises(WrongPassword, match=f"^{login} is not a user of this practice's register on the server"):
        sign_in(address(pg_db), login, "kim-password-1")
    assert register.audit() == before


@pytest.mark.parametrize("row", ["removed", "missing"])
def test_a_user_no_longer_in_the_register_is_refused_and_the_refusal_is_audited(register, pg_db, row):
    login = register.add_user("lee", "lee-password-1", roles.MANAGER, row=row != "missing")
    if row == "removed":
        register.set_user(login, active=False)
    before = len(register.audit())
    with pytest.raises(WrongPassword, match="is not, or no longer, a user of this practice's register"):
        sign_in(address(pg_db), login, "lee-password-1")
    detail = "no longer a user" if row == "removed" else "not a user"
    assert [r[1:] for r in register.audit()[before:]] == [(login, "", "login", "denied", detail)]


def test_a_blank_user_name_or_password_is_asked_for_before_anything_is_sent(register, pg_db):
    with pytest.raises(ValidationError, match="Enter your user name"):
        sign_in(address(pg_db), "  ", "x")
    with pytest.raises(ValidationError, match="Enter your password"):
        sign_in(address(pg_db), register.login("rita"), "")


def test_a_service_not_ported_to_the_server_says_so_in_one_sentence(register, pg_db):
    from gp_optout_desktop.services import backup
    from gp_optout_desktop.services.on_server import NotOnServer

    login = register.add_user("mia", "mia-password-1", roles.MANAGER)
    session = sign_in(address(pg_db), login, "mia-password-1")
    try:
        for not_ported in (backup.last_backup,):  # the file's own backups (settings: ported, srvrest15)
            with pytest.raises(NotOnServer) as said:
                not_ported(session)
            assert str(said.value) == ("Not available on a server register yet: this part of the program (it still "
                                       "needs a register file).")
    finally:
        session.lock()
