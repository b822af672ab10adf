"""Adding a user, resetting a password and changing one's own on a server register (ADR 0015
addendum "passwords on the server"); services/users.py keeps the rules both engines share and
calls these on a server.

Who does what: a practice manager's desk writes the users row and the key slot, wrapped under
a temporary password made and shown once on that desk; the server's administrator gives the
login that password (``gp-optout server add-desk`` for a new user, ``gp-optout server
set-desk-password`` after a reset), since no desk may change another login's password. The
user then changes it at sign-in: their own login and key slot in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..domain import roles
from ..domain.errors import ValidationError
from ..store.errors import WrongPassword
from ..store.server import passwords, reading, schema
from ..store.server import signing as server_signing
from .changes import ChangeSet

BAD_LOGIN = ("On a server register a user's name is their database login: 3 to 63 lower-case letters, digits "
             "or _, starting with a letter (for example riverside_jsmith).")


def _administrator_step(session, command: str, name: str) -> str:
    """What the manager asks the server's administrator to do before handing the password over."""
    if command == "add-desk":
        return (f"Before you give {name} the temporary password, the server's administrator must run "
                f"'gp-optout server add-desk --practice {session.desk.practice_id} --login {name}' and type "
                "that same password.")
    return (f"Before you give {name} the temporary password, the server's administrator must run "
            f"'gp-optout server set-desk-password --login {name}' and type that same password; until then "
            f"{name} cannot sign in.")


def _give_manager_key(session, ctx, name: str, unwrap: bytes) -> None:
    """A manager added or reset by a manager who holds the manager key gets it in their own
    slot, under the same temporary password (ADR 0015 addendum, signing on the server)."""
    if session.manager_key is not None:
        server_signing.put_manager_slot(ctx, name, unwrap, session.manager_key)
        ctx.audit("export.manager_key_given", detail=f"name={name}")


def add(session, name: str, role: str, password: str) -> ChangeSet:
    if not schema.valid_login(name):
        raise ValidationError(BAD_LOGIN, "user")
    session.require("manage_users")  # before the Argon2id run
    unwrap, _login_password = session.derive(name, password)
    with session.write("manage_users") as ctx:
        passwords.add_user(ctx, name, role, unwrap)
        ctx.audit("user.add", detail=f"name={name} role={role}")
        if role == roles.MANAGER:
            _give_manager_key(session, ctx, name, unwrap)
    before = _administrator_step(session, "add-desk", name)
    return ChangeSet(f"Added {roles.ROLE_LABELS[role].lower()} {name}. {before}", ctx.revision,
                     areas=frozenset({"users"}), data={"password": password, "before": before})


def reset_password(session, name: str, password: str) -> ChangeSet:
    if name == session.user:
        raise ValidationError("Change your own password instead of resetting it.", "user")
    session.require("manage_users")
    unwrap, _login_password = session.derive(name, password)
    with session.write("manage_users") as ctx:
        passwords.reset_slot(ctx, name, unwrap)
        ctx.audit("user.reset_password", detail=f"name={name}")
        if ctx.store.user_role(name) == roles.MANAGER:
            _give_manager_key(session, ctx, name, unwrap)
    before = _administrator_step(session, "set-desk-password", name)
    return ChangeSet(f"{name} has a temporary password and must choose a new one at next sign-in. {before}",
                     ctx.revision, areas=frozenset({"users"}), data={"password": password, "before": before})


@dataclass
class Handover:
    """A promotion's manager key for the promoted user: their temporary password and its unwrap
    key (``ready``: the promoting manager holds the manager key and the name is a login)."""
    name: str
    password: str = field(repr=False)
    unwrap: bytes | None = field(default=None, repr=False)

    @property
    def ready(self) -> bool:
        return self.unwrap is not None


def prepare_handover(session, name: str, password: str) -> Handover:
    if session.manager_key is None or not schema.valid_login(name):
        return Handover(name, password)
    session.require("manage_users")  # before the Argon2id run
    unwrap, _login_password = session.derive(name, password)
    return Handover(name, password, unwrap)


def hand_over(session, ctx, handover: Handover) -> None:
    """In the promotion's own transaction: the promoted user's key slot under the temporary
    password (they must change it at sign-in, as after a reset) and their manager slot under
    it, each audited as a reset and a key given are."""
    passwords.reset_slot(ctx, handover.name, handover.unwrap)
    ctx.audit("user.reset_password", detail=f"name={handover.name}")
    _give_manager_key(session, ctx, handover.name, handover.unwrap)


def promoted(session, handover: Handover, summary: str, revision: int) -> ChangeSet:
    name = handover.name
    if not handover.ready:
        return ChangeSet(f"{summary} You do not hold the manager key, so they cannot sign the exclusion file yet: a "
                         "practice manager who holds it resets their password on this screen to give it to them.",
                         revision, areas=frozenset({"users"}))
    before = _administrator_step(session, "set-desk-password", name)
    return ChangeSet(f"{summary} They have a temporary password that carries the manager key (needed to sign the "
                     f"exclusion file) and must choose a new one at next sign-in. {before}", revision,
                     areas=frozenset({"users"}), data={"password": handover.password, "before": before})


def confirm_own_password(session, password: str, wrong: str) -> None:
    """The signed-in user's password typed again: it must open their own key slot. Each try is
    counted as a sign-in of this login on this computer (services/server_throttle.py): a desk
    left signed in is not a place to guess its user's password faster than the sign-in form
    allows (5 free tries, then waits), as a wrong one on the register file counts as a failed
    unlock. A right one clears the count and writes the wrong tries into the trail, as a sign-in does."""
    from .server_throttle import SignInThrottle

    session.require("change_own_password")

    def check(_address, _user, typed: str):
        unwrap, _login_password = session.derive(session.user, typed)
        with reading.unreachable_in_words(session.desk.conn):
            if not passwords.opens_own_slot(session.desk, unwrap):
                raise WrongPassword(wrong)
        return session  # its record_wrong_sign_ins writes the tries counted before this one

    SignInThrottle.on_this_computer(session.clock).sign_in(check, _address_of(session), session.user, password)


def _address_of(session):
    """The server address this session signed in to (the throttle's key, as at the sign-in form)."""
    address = getattr(session.reconnect, "address", None)
    if address is not None:
        return address
    from ..store.server.connect import ServerAddress

    info = session.desk.conn.info
    return ServerAddress((("host", info.host), ("port", str(info.port)), ("dbname", info.dbname)))


def change_own_password(session, new_password: str) -> ChangeSet:
    """The key slot and the login together, in one transaction with its audit entry."""
    session.require("change_own_password")
    unwrap, login_password = session.derive(session.user, new_password)
    with session.write("change_own_password", changes_register=False) as ctx:
        ctx.audit("user.change_password")
        passwords.change_own(ctx, unwrap, login_password)
        if session.manager_key is not None:  # the manager slot follows the password, as the key slot does
            server_signing.put_manager_slot(ctx, session.user, unwrap, session.manager_key)
    session.login_changed(login_password)
    session.must_change_password = False
    return ChangeSet("Password changed.", ctx.revision, areas=frozenset({"users"}))


def new_recovery_key(session, recovery: str) -> ChangeSet:
    """The practice's recovery slot on the server under a new recovery key (shown once). Made
    by a manager who holds the manager key, it opens that too (as the register file's does),
    so a manager who signs in with it can still sign the exclusion file."""
    with session.write("rekey", changes_register=False) as ctx:
        ctx.audit("register.recovery_key")
        passwords.put_recovery(ctx, recovery, session.manager_key)
    summary = "A new recovery key was made; the old one no longer works. Print it and keep it locked away."
    if session.manager_key is None:
        summary += (" It does not open the manager key (you do not hold it): a manager who signs in with it cannot "
                    "sign the exclusion file until a manager who holds the key makes a new recovery key.")
    return ChangeSet(summary, ctx.revision, areas=frozenset({"users"}), data={"recovery_key": recovery})


REKEYED = ("The register has a new key. Give each user their temporary password in person, once the server's "
           "administrator has set it on their login. The recovery key no longer works: make a new one now "
           "(Users > New recovery key…).")


def rekey(session, password: str, make_password) -> ChangeSet:
    """Re-key the practice on the server (ADR 0015 addendum "re-keying a server practice"): the
    manager confirms with their own password and keeps it; every other user gets a temporary
    password (data['passwords'], shown once) that the administrator must also set on their login
    (data['before']); the recovery slot is deleted (data['recovery_key'] is None: make a new one)."""
    import os

    from ..store.server import rekey as server_rekey

    session.require("rekey")
    desk = session.desk
    unwrap, _login_password = session.derive(session.user, password)
    with reading.unreachable_in_words(desk.conn):
        if not passwords.opens_own_slot(desk, unwrap):
            raise ValidationError("Your password is needed to re-key the register, and that one is wrong.", "password")
        has_signing = server_signing.has_signing_key(desk.conn)
        others = server_rekey.users_to_reset(desk.conn, session.user)
    if has_signing and session.manager_key is None:
        raise ValidationError("Your key slot does not hold the manager key, which signs the exclusion file: ask the "
                              "practice manager who holds it to re-key, or to reset your password (that gives it to "
                              "you).", "user")
    temporary = {name: make_password() for name in others}
    plan = server_rekey.Plan(
        data_key=os.urandom(32), own_unwrap=unwrap,
        others={name: session.derive(name, temporary[name])[0] for name in others},
        managers=frozenset(n for n, r in others.items() if r == roles.MANAGER),
        manager_key=os.urandom(32) if has_signing else None, old_manager_key=session.manager_key)
    session.require("rekey")  # the connection checked again after the Argon2id runs
    result = server_rekey.rekey(desk, plan, detail=f"users_reset={len(temporary)} recovery_key=removed")
    session.rekeyed(plan.data_key, result, plan.manager_key if has_signing else session.manager_key)
    before = [f"gp-optout server set-desk-password --login {name}" for name in temporary]
    return ChangeSet(REKEYED, session.revision(), areas=frozenset({"users"}),
                     data={"passwords": temporary, "recovery_key": None, "before": before,
                           "counts": result.counts})
