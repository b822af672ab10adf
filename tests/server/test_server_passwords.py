"""Passwords on a server register (services/server_users.py, store/server/passwords.py, server
schema V5): a user changes their own (key slot and login in one transaction, so only the new
password signs in); a manager adds a user or resets a password under a temporary password
that the administrator gives the login (`gp-optout server add-desk` / `set-desk-password`);
the user must change it at first sign-in. A desk login's own SQL cannot change another user's
slot, row or password."""

from __future__ import annotations

import psycopg
import pytest

from gp_optout_desktop import cli
from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.roles import PermissionDenied
from gp_optout_desktop.services import patients, users
from gp_optout_desktop.services.server_session import sign_in
from gp_optout_desktop.store.errors import Conflict, NotFound, WrongPassword
from gp_optout_desktop.store.server import connect, ops, passwords
from tests.server.accounts import Register, address, url

pytestmark = pytest.mark.server
WRONG = "The server refused the sign-in: the user name or password is wrong."


@pytest.fixture
def register(pg_db):
    reg = Register(pg_db)
    yield reg
    reg.close()


@pytest.fixture
def admin_cli(pg_db, tmp_path, capsys, monkeypatch):
    """The administrator's `gp-optout server ...`, with the desk's password in a file."""
    monkeypatch.delenv("GP_OPTOUT_DATABASE", raising=False)
    admin_pw = tmp_path / "admin.pw"
    admin_pw.write_text(pg_db.server.password + "\n")
    desk_pw = tmp_path / "desk.pw"

    def run(*args, desk_password: str):
        desk_pw.write_text(desk_password + "\n")
        code = cli.main(["server", *args, "--database", url(pg_db), "--admin-password-file", str(admin_pw),
                         "--desk-password-file", str(desk_pw)])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def signs_in(pg_db, login: str, password: str) -> bool:
    try:
        sign_in(address(pg_db), login, password).lock()
    except WrongPassword as exc:
        assert str(exc) == WRONG
        return False
    return True


def slot(register, login: str) -> tuple:
    return tuple(register.admin.execute("SELECT slot, must_change FROM key_slots WHERE name = %s",
                                        (login,)).fetchone())


def test_changing_my_password_changes_the_slot_and_the_login_together(register, pg_db):
    login = register.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    session = sign_in(address(pg_db), login, "rita-password-1")
    assert session.must_change_password is False
    before = len(register.audit())
    change = users.change_own_password(session, "rita-password-2")
    assert change.summary == "Password changed."
    assert register.audit()[before][1:] == (login, roles.RECEPTIONIST, "user.change_password", "ok", "")
    # The session keeps working, and a new connection (a reconnect) uses the new login.
    assert patients.find(session, "anyone") == []
    session.reconnect().close()
    session.lock()

    assert not signs_in(pg_db, login, "rita-password-1")  # the old password no longer signs in
    again = sign_in(address(pg_db), login, "rita-password-2")
    assert again.desk.keys == register.desk.keys  # the re-wrapped slot opens to the practice key
    again.lock()


def test_a_new_password_that_is_too_short_changes_nothing(register, pg_db):
    login = register.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    session = sign_in(address(pg_db), login, "rita-password-1")
    kept, before = slot(register, login), register.audit()
    with pytest.raises(ValidationError):
        users.change_own_password(session, "short")
    session.lock()
    assert slot(register, login) == kept and register.audit()[:len(before)] == before
    assert signs_in(pg_db, login, "rita-password-1")


@pytest.mark.parametrize("fail_at", ["after the login changed", "at the audit entry"])
def test_a_failure_before_the_commit_keeps_the_old_password_for_both(register, pg_db, monkeypatch, fail_at):
    """ALTER ROLE is transactional: the slot and the login change at one commit, or neither."""
    login = register.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    session = sign_in(address(pg_db), login, "rita-password-1")
    kept = slot(register, login)

    real = passwords.change_own

    def change_then_crash(tx, unwrap, login_password):
        real(tx, unwrap, login_password)
        raise OSError("the desk crashed")

    def chain_fails(self, tx, changes_register=True):
        raise OSError("the server went away at the chain")

    with monkeypatch.context() as patch:
        if fail_at == "after the login changed":
            patch.setattr(passwords, "change_own", change_then_crash)
        else:
            patch.setattr(ops.Desk, "_append_chain", chain_fails)
        with pytest.raises(OSError):
            users.change_own_password(session, "rita-password-2")
    session.lock()
    assert slot(register, login) == kept
    assert not signs_in(pg_db, login, "rita-password-2")
    assert signs_in(pg_db, login, "rita-password-1")


def test_a_manager_adds_a_user_who_must_change_the_temporary_password(register, pg_db, admin_cli):
    pm = register.add_user("pm", "pm-password-1", roles.MANAGER)
    manager = sign_in(address(pg_db), pm, "pm-password-1")
    new = register.login("nina")
    change = users.add(manager, new, roles.RECEPTIONIST)
    temporary = change.data["password"]
    assert change.summary == (
        f"Added receptionist {new}. Before you give {new} the temporary password, the server's administrator must "
        f"run 'gp-optout server add-desk --practice {register.practice.id} --login {new}' and type that same password.")
    assert register.audit()[-1][1:] == (pm, roles.MANAGER, "user.add", "ok", f"name={new} role=receptionist")
    assert users.list_users(manager) == sorted([(pm, roles.MANAGER), (new, roles.RECEPTIONIST),
                                                (register.practice.logins[0][0], roles.MANAGER)])
    assert slot(register, new)[1] is True
    # Twice is refused, and so is a name the server cannot use as a login.
    with pytest.raises(Conflict, match=f"^There is already a user called {new}"):
        users.add(manager, new, roles.GP)
    with pytest.raises(ValidationError, match="database login"):
        users.add(manager, "NinaSmith", roles.GP)
    manager.lock()

    assert not signs_in(pg_db, new, temporary)  # no login yet: the administrator's step
    code, out, err = admin_cli("add-desk", "--practice", str(register.practice.id), "--login", new,
                               desk_password=temporary)
    assert (code, err) == (0, "")
    nina = sign_in(address(pg_db), new, temporary)
    assert (nina.role, nina.must_change_password) == (roles.RECEPTIONIST, True)
    users.change_own_password(nina, "nina-password-1")
    assert nina.must_change_password is False
    nina.lock()
    assert not signs_in(pg_db, new, temporary)
    nina = sign_in(address(pg_db), new, "nina-password-1")
    assert nina.must_change_password is False and nina.desk.keys == register.desk.keys
    nina.lock()


def test_a_manager_resets_a_password_and_the_administrator_sets_the_login(register, pg_db, admin_cli):
    pm = register.add_user("pm", "pm-password-1", roles.MANAGER)
    rita = register.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    manager = sign_in(address(pg_db), pm, "pm-password-1")
    change = users.reset_password(manager, rita)
    temporary = change.data["password"]
    assert f"'gp-optout server set-desk-password --login {rita}'" in change.summary
    assert register.audit()[-1][1:] == (pm, roles.MANAGER, "user.reset_password", "ok", f"name={rita}")
    with pytest.raises(NotFound):
        users.reset_password(manager, register.login("nobody"))
    with pytest.raises(ValidationError, match="Change your own password"):
        users.reset_password(manager, pm)
    manager.lock()

    # Until the administrator sets it: her old password signs in to a slot it no longer opens,
    # and she is told why; the temporary one is not yet her login's.
    before = register.audit()
    with pytest.raises(WrongPassword, match=f"^{rita}'s password was reset by a practice manager"):
        sign_in(address(pg_db), rita, "rita-password-1")
    assert not signs_in(pg_db, rita, temporary)
    assert register.audit() == before

    code, out, err = admin_cli("set-desk-password", "--login", rita, desk_password=temporary)
    assert (code, err) == (0, "") and f"desk login {rita} (practice {register.practice.id})" in out
    assert not signs_in(pg_db, rita, "rita-password-1")
    session = sign_in(address(pg_db), rita, temporary)
    assert session.must_change_password is True
    users.change_own_password(session, "rita-password-2")
    session.lock()
    assert signs_in(pg_db, rita, "rita-password-2") and not signs_in(pg_db, rita, temporary)


def test_set_desk_password_is_for_desk_logins_only(register, pg_db, admin_cli):
    for login in ("postgres", "gp_optout_owner", register.login("nobody")):
        code, out, err = admin_cli("set-desk-password", "--login", login, desk_password="whatever-password-1")
        assert code != 0 and f"There is no desk login named {login} on this server" in err
    assert signs_in(pg_db, register.add_user("rita", "rita-password-1", roles.RECEPTIONIST), "rita-password-1")


def test_a_receptionist_cannot_add_or_reset_and_is_audited(register, pg_db):
    rita = register.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    gp = register.add_user("gina", "gina-password-1", roles.GP)
    session = sign_in(address(pg_db), rita, "rita-password-1")
    with pytest.raises(PermissionDenied):
        users.add(session, register.login("newbie"), roles.MANAGER)
    with pytest.raises(PermissionDenied):
        users.reset_password(session, gp)
    session.lock()
    denied = [r[1:] for r in register.audit() if r[4] == "denied"]
    assert denied == [(rita, roles.RECEPTIONIST, "denied.manage_users", "denied", "")] * 2


def test_a_receptionists_own_sql_cannot_touch_another_users_slot_row_or_login(register, pg_db):
    rita = register.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    pm = register.add_user("pm", "pm-password-1", roles.MANAGER)
    session = sign_in(address(pg_db), rita, "rita-password-1")
    conn = session.desk.conn
    kept = slot(register, pm)
    own = slot(register, rita)[0]
    # Another user's slot and her own role: no row matches for her login (so nothing to audit).
    assert conn.execute("UPDATE key_slots SET slot = %s, must_change = true WHERE name = %s",
                        (own, pm)).rowcount == 0
    assert conn.execute("UPDATE users SET role = 'manager' WHERE name = %s", (rita,)).rowcount == 0
    assert slot(register, pm) == kept
    for statement, args in (
            ("INSERT INTO users(name, role, active, created_at, created_by) VALUES (%s, 'manager', true, now(), 'x')",
             (register.login("mole"),)),
            ("INSERT INTO key_slots(name, slot) VALUES (%s, %s)", (register.login("mole"), own))):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            with conn.transaction():
                conn.execute(statement, args)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with conn.transaction():
            passwords.schema.set_login_password(conn.cursor(), pm, "taken-over-password")
    session.lock()
    assert signs_in(pg_db, pm, "pm-password-1")
    assert sign_in(address(pg_db), rita, "rita-password-1").role == roles.RECEPTIONIST


def test_a_migrated_style_slot_under_a_temporary_password_must_be_changed(register, pg_db):
    """What migrate-to-server writes for every user but the migrating manager (must_change)."""
    login = register.add_user("rita", "rita-temporary-1", roles.RECEPTIONIST)
    with register.desk.write(changes_register=False) as tx:
        tx.audit("user.key_slot", detail=f"user={login}")
        unwrap = connect.derive_login(address(pg_db), login, "rita-temporary-1")[0]
        ops.put_key_slot(tx, login, unwrap, register.practice.data_key, must_change=True)
    session = sign_in(address(pg_db), login, "rita-temporary-1")
    assert session.must_change_password is True
    with pytest.raises(ValidationError):
        users.change_own_password(session, "short")
    users.change_own_password(session, "rita-password-2")
    session.lock()
    assert sign_in(address(pg_db), login, "rita-password-2").must_change_password is False


# -- the recovery key on the server ------------------------------------------------------------
def test_a_manager_who_lost_their_password_signs_in_with_the_recovery_key(register, pg_db, admin_cli):
    pm = register.add_user("pm", "pm-password-1", roles.MANAGER)
    rita = register.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    manager = sign_in(address(pg_db), pm, "pm-password-1")
    first = users.new_recovery_key(manager).data["recovery_key"]
    change = users.new_recovery_key(manager)  # a second one: the first stops working
    recovery = change.data["recovery_key"]
    assert change.summary.startswith("A new recovery key was made; the old one no longer works.")
    assert [r[3] for r in register.audit()[-2:]] == ["register.recovery_key"] * 2
    manager.lock()
    receptionist = sign_in(address(pg_db), rita, "rita-password-1")
    with pytest.raises(PermissionDenied):
        users.new_recovery_key(receptionist)
    receptionist.lock()
    assert register.audit()[-2][3:5] == ("denied.rekey", "denied")

    # The manager forgets their password; the administrator gives the login a new one.
    code, _out, err = admin_cli("set-desk-password", "--login", pm, desk_password="pm-at-the-admin-1")
    assert (code, err) == (0, "")
    before = register.audit()
    for wrong in (first, "ABCD-" * 12 + "ABCD"):
        with pytest.raises(WrongPassword, match="^The recovery key is wrong"):
            sign_in(address(pg_db), pm, "pm-at-the-admin-1", recovery_key=wrong)
    assert register.audit() == before  # no key opened: nothing to chain an entry with
    session = sign_in(address(pg_db), pm, "pm-at-the-admin-1", recovery_key=recovery.lower().replace("-", " "))
    assert (session.role, session.must_change_password) == (roles.MANAGER, True)
    assert session.desk.keys == register.desk.keys
    assert register.audit()[-1][1:] == (pm, roles.MANAGER, "login", "ok", "recovery key")
    users.change_own_password(session, "pm-password-2")
    session.lock()
    assert not signs_in(pg_db, pm, "pm-at-the-admin-1") and not signs_in(pg_db, pm, "pm-password-1")
    again = sign_in(address(pg_db), pm, "pm-password-2")
    assert again.must_change_password is False and again.desk.keys == register.desk.keys
    again.lock()

    # A receptionist holding the recovery key is refused, and that is audited.
    with pytest.raises(WrongPassword, match="^The recovery key may only be used by a practice manager"):
        sign_in(address(pg_db), rita, "rita-password-1", recovery_key=recovery)
    assert register.audit()[-1][1:] == (rita, roles.RECEPTIONIST, "login", "denied",
                                        "recovery key: not a practice manager")


def test_a_practice_without_a_recovery_key_says_so(register, pg_db):
    pm = register.add_user("pm", "pm-password-1", roles.MANAGER)
    with pytest.raises(WrongPassword, match="^This practice has no recovery key on the server yet"):
        sign_in(address(pg_db), pm, "pm-password-1", recovery_key="ABCD-" * 12 + "ABCD")


def test_a_receptionists_own_sql_cannot_replace_the_recovery_slot(register, pg_db):
    pm = register.add_user("pm", "pm-password-1", roles.MANAGER)
    rita = register.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    manager = sign_in(address(pg_db), pm, "pm-password-1")
    recovery = users.new_recovery_key(manager).data["recovery_key"]
    manager.lock()
    kept = slot(register, passwords.RECOVERY_SLOT)
    session = sign_in(address(pg_db), rita, "rita-password-1")
    conn = session.desk.conn
    assert conn.execute("UPDATE key_slots SET slot = %s WHERE name = %s",
                        (slot(register, rita)[0], passwords.RECOVERY_SLOT)).rowcount == 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with conn.transaction():
            conn.execute("DELETE FROM key_slots WHERE name = %s", (passwords.RECOVERY_SLOT,))
            conn.execute("INSERT INTO key_slots(name, slot) VALUES (%s, %s)", (passwords.RECOVERY_SLOT, b"x"))
    session.lock()
    assert slot(register, passwords.RECOVERY_SLOT) == kept
    assert passwords.open_recovery(register.desk.conn, recovery) == register.practice.data_key


def test_the_manager_key_follows_a_managers_password_through_add_change_and_reset(register, pg_db, admin_cli):
    """The manager key that opens the exclusion file's signing key (ADR 0015 addendum "signing
    the exclusion file on the server") lives in each manager's own slot under their password:
    a new manager gets it under the temporary password, and it moves with every change and
    reset. The recovery key made by a manager who holds it opens it too (as the register file's
    recovery slot does), so it follows the recovered manager's new password; a promotion by a
    holder gives it under a temporary password, as a reset does."""
    pm = register.add_user("pm", "pm-password-1", roles.MANAGER)
    first = sign_in(address(pg_db), pm, "pm-password-1")  # the practice's first manager makes the keys
    key = first.manager_key
    assert key is not None
    nora = register.login("nora")
    temporary = users.add(first, nora, roles.MANAGER).data["password"]
    assert admin_cli("add-desk", "--practice", str(register.practice.id), "--login", nora,
                     desk_password=temporary)[0] == 0
    users.change_own_password(first, "pm-password-2")
    first.lock()

    new = sign_in(address(pg_db), nora, temporary)
    assert new.manager_key == key
    users.change_own_password(new, "nora-password-1")
    new.lock()
    for login, password in ((nora, "nora-password-1"), (pm, "pm-password-2")):
        session = sign_in(address(pg_db), login, password)
        assert session.manager_key == key, login
        session.lock()

    # pm loses their password: the recovery key (made by a holder) lets them in with the manager key.
    holder = sign_in(address(pg_db), nora, "nora-password-1")
    recovery = users.new_recovery_key(holder).data["recovery_key"]
    holder.lock()
    assert admin_cli("set-desk-password", "--login", pm, desk_password="pm-at-the-admin-1")[0] == 0
    recovered = sign_in(address(pg_db), pm, "pm-at-the-admin-1", recovery_key=recovery)
    assert recovered.manager_key == key
    users.change_own_password(recovered, "pm-password-3")
    recovered.lock()
    again = sign_in(address(pg_db), pm, "pm-password-3")  # their manager slot followed the new password
    assert again.manager_key == key and again.role == roles.MANAGER
    again.lock()
    register.admin.execute("DELETE FROM manager_slots WHERE name = %s", (pm,))  # as if it never had been

    # nora, who holds the key, resets pm: the temporary password opens it again.
    holder = sign_in(address(pg_db), nora, "nora-password-1")
    temporary = users.reset_password(holder, pm).data["password"]
    holder.lock()
    assert admin_cli("set-desk-password", "--login", pm, desk_password=temporary)[0] == 0
    back = sign_in(address(pg_db), pm, temporary)
    assert back.manager_key == key
    back.lock()

    # Demoted or removed, a user keeps no manager slot (nor could their login read one).
    holder = sign_in(address(pg_db), nora, "nora-password-1")
    users.change_role(holder, pm, roles.GP)
    holder.lock()

    def manager_slots():
        return sorted(r[0] for r in register.admin.execute("SELECT name FROM manager_slots"))

    assert pm not in manager_slots() and nora in manager_slots()
    demoted = sign_in(address(pg_db), pm, temporary)
    assert demoted.manager_key is None
    assert demoted.desk.conn.execute("SELECT count(*) FROM manager_slots").fetchone()[0] == 0
    demoted.lock()
    holder = sign_in(address(pg_db), nora, "nora-password-1")
    change = users.change_role(holder, pm, roles.MANAGER)
    holder.lock()
    assert "temporary password that carries the manager key" in change.summary
    assert "set-desk-password" in change.data["before"]
    with pytest.raises(WrongPassword, match="password was reset by a practice manager"):
        sign_in(address(pg_db), pm, temporary)  # the promotion reset their key slot
    assert admin_cli("set-desk-password", "--login", pm, desk_password=change.data["password"])[0] == 0
    promoted = sign_in(address(pg_db), pm, change.data["password"])
    assert promoted.manager_key == key and promoted.must_change_password
    users.change_own_password(promoted, "pm-password-4")
    users.remove(promoted, nora)
    promoted.lock()
    assert manager_slots() == sorted([passwords.RECOVERY_SLOT, pm])  # nora's went with her
