"""Users: add, remove, reset a password, change role, change one's own password, re-key.

Listing users, changing a role and removing a user run on either engine (ADR 0015): the
rules here, the rows through the store. Adding a user, resetting a password and changing
one's own run on a server through services/server_users.py (its login's password is the
administrator's to set, or the user's own), as do re-keying and the recovery key. The register file also signs each user's record
with the manager key and keeps their key entry in the key file; on the server the role is
the users row alone (only a manager's login may change it, schema V4) and the key slot is a
row there, deleted with the user."""

from __future__ import annotations

import secrets

from ..domain import roles
from ..domain.errors import ValidationError
from ..store import certs
from ..store import users as users_store
from ..store.errors import Conflict, NotFound, StoreError, WrongPassword
from .changes import ChangeSet
from .session import Session
from .setup import check_password, check_user_name


def temporary_password() -> str:
    """Readable, 12 characters from an alphabet without look-alikes; changed at next unlock."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))


def _on_file(session) -> bool:
    return not getattr(session, "on_server", False)


def _server_users():
    from . import server_users  # imported on a server only: it needs psycopg

    return server_users


def list_users(session: Session) -> list[tuple[str, str]]:
    with session.read_store("manage_users") as store:
        return store.active_users()


def record_problems(session: Session) -> list[str]:
    """User records that differ from their certificates signed by the manager key (a role
    or user edited directly in the database): shown by 'user list' and 'audit verify'."""
    reg = session.register
    with session.read("manage_users") as conn:
        try:
            anchor = certs.anchor_pub(conn, reg.keys, reg.manager_key)
        except StoreError as exc:
            return [str(exc)]
        table, problems = certs.load_all(conn, anchor, reg.keys.register_id)
        return problems + certs.record_problems(conn, table)


def _manager_key(session: Session) -> bytes:
    key = session.register.manager_key
    if key is None:
        raise ValidationError("Your key slot does not hold the manager key, which signs user records: ask the practice "
                              "manager who holds it to reset your password (that gives it to you).", "user")
    return key


def _certify(session: Session, conn, name: str, role: str, *, active: bool = True, seed: bytes | None = None) -> bytes | None:
    """Sign the user's record with the manager key. With ``seed`` the certificate names that
    new audit key; without, the user keeps the audit key of their latest certificate."""
    reg = session.register
    manager_key = _manager_key(session)
    if seed is not None:
        pub = certs.raw_public(certs.audit_private(seed))
    else:
        table, _ = certs.load_all(conn, certs.manager_public_hex(manager_key), reg.keys.register_id)
        cert = certs.latest(table, name)
        if cert is None:
            raise ValidationError(f"{name} has no certificate yet: reset their password instead.", "user")
        pub = bytes.fromhex(cert.audit_pub)
    head = reg.audit.head(conn)
    certs.issue(conn, manager_key, reg.keys.register_id, name=name, role=role, active=active, audit_pub=pub,
                from_seq=(head.seq if head else 0) + 1)
    return seed


def _slot_secrets(session: Session, role: str, seed: bytes) -> dict[str, bytes]:
    extra = {certs.AUDIT_SECRET: seed}
    if role == roles.MANAGER:
        extra[certs.MANAGER_SECRET] = _manager_key(session)
    return extra


def add(session: Session, name: str, role: str, password: str | None = None) -> ChangeSet:
    """Add a user. Without ``password`` a temporary one is made, returned in data, and must be changed at first unlock."""
    name = check_user_name(name)
    roles.check_role(role)
    temporary = password is None
    password = password if password is not None else temporary_password()
    if not temporary:
        check_password(password)
    if not _on_file(session):
        if not temporary:
            raise ValidationError("On a server register a new user gets a temporary password, which the "
                                  "server's administrator gives their login.", "password")
        return _server_users().add(session, name, role, password)
    if session.register.keys.has_user(name):
        raise Conflict(f"There is already a user called {name}.")
    session.require("manage_users")
    _manager_key(session)
    seed = certs.new_audit_seed()
    with session.write("manage_users") as ctx:
        users_store.add(ctx.conn, name, role, by=session.user, at=session.now())
        _certify(session, ctx.conn, name, role, seed=seed)
        ctx.audit("user.add", detail=f"name={name} role={role}")
        data_key = session.register.data_key
        extra = _slot_secrets(session, role, seed)
        # Inside the transaction: if the key file cannot be written, the user is not added.
        session.register.keys.update(lambda keys: keys.wrap(name, password, data_key, must_change=temporary,
                                                            extra=extra))
    return ChangeSet(f"Added {roles.ROLE_LABELS[role].lower()} {name}.", ctx.revision, areas=frozenset({"users"}),
                     data={"password": password if temporary else None})


def remove(session: Session, name: str) -> ChangeSet:
    if name == session.user:
        raise ValidationError("You cannot remove yourself; ask another practice manager.", "user")
    with session.write("manage_users") as ctx:
        store = ctx.store
        role = store.user_role(name)
        if role is None:
            raise NotFound(f"There is no user called {name}.")
        if role == roles.MANAGER and store.count_role(roles.MANAGER) <= 1:
            raise ValidationError("The last practice manager cannot be removed.", "user")
        store.deactivate_user(name)  # on the server their key slot goes with it
        if _on_file(session):
            _certify(session, ctx.conn, name, role, active=False)
        ctx.audit("user.remove", detail=f"name={name}")
        if _on_file(session):
            session.register.keys.update(lambda keys: keys.remove(name))
    return ChangeSet(f"Removed {name}; their key was deleted.", ctx.revision, areas=frozenset({"users"}))


def promotion_hands_over_key(session, old_role: str | None, role: str) -> bool:
    """Whether making this user ``role`` on a server gives them the manager key under a new
    temporary password (their current password then stops working): the screen asks first."""
    return (not _on_file(session) and role == roles.MANAGER and old_role != roles.MANAGER
            and getattr(session, "manager_key", None) is not None)


def change_role(session: Session, name: str, role: str) -> ChangeSet:
    roles.check_role(role)
    # On a server, a manager who holds the manager key gives it to the user they promote, under
    # a temporary password made here (the only key the promoted user's slot can be wrapped under
    # without their password): derived before the transaction (one Argon2id run).
    handover = None
    if not _on_file(session) and role == roles.MANAGER:
        handover = _server_users().prepare_handover(session, name, temporary_password())
    with session.write("manage_users") as ctx:
        store = ctx.store
        old = store.user_role(name)
        if old is None:
            raise NotFound(f"There is no user called {name}.")
        if old == roles.MANAGER and role != roles.MANAGER and store.count_role(roles.MANAGER) <= 1:
            raise ValidationError("The last practice manager must stay a practice manager.", "role")
        store.set_role(name, role)
        if _on_file(session):
            _certify(session, ctx.conn, name, role)
        ctx.audit("user.role", detail=f"name={name} role={old}->{role}")
        if _on_file(session) and old == roles.MANAGER and role != roles.MANAGER:
            session.register.keys.update(lambda keys: keys.drop_secret(name, certs.MANAGER_SECRET))
        promoted = role == roles.MANAGER and old != roles.MANAGER
        if promoted and handover is not None and handover.ready:
            _server_users().hand_over(session, ctx, handover)
    summary = f"{name} is now a {roles.ROLE_LABELS[role].lower()}."
    if promoted and handover is not None:
        return _server_users().promoted(session, handover, summary, ctx.revision)
    if _on_file(session) and promoted:
        summary += " Reset their password to give them the manager key (needed to sign the exclusion file and manage users)."
    return ChangeSet(summary, ctx.revision, areas=frozenset({"users"}))


def reset_password(session: Session, name: str) -> ChangeSet:
    """A temporary password (returned in data['password']) that the user must change at next unlock."""
    password = temporary_password()
    if not _on_file(session):
        return _server_users().reset_password(session, name, password)
    session.require("manage_users")
    _manager_key(session)
    seed = certs.new_audit_seed()  # the old one is wrapped under the password being replaced
    with session.write("manage_users") as ctx:
        role = users_store.role_of(ctx.conn, name)
        if role is None:
            raise NotFound(f"There is no user called {name}.")
        _certify(session, ctx.conn, name, role, seed=seed)
        ctx.audit("user.reset_password", detail=f"name={name}")
        data_key = session.register.data_key
        extra = _slot_secrets(session, role, seed)

        def reset(keys):
            keys.wrap(name, password, data_key, must_change=True, extra=extra)
            keys.clear_throttle(name)

        session.register.keys.update(reset)
    return ChangeSet(f"{name} has a temporary password and must choose a new one at next unlock.", ctx.revision,
                     areas=frozenset({"users"}), data={"password": password})


def change_own_password(session: Session, new_password: str) -> ChangeSet:
    check_password(new_password)
    if not _on_file(session):
        return _server_users().change_own_password(session, new_password)
    with session.write("change_own_password", changes_register=False) as ctx:
        ctx.audit("user.change_password")
        reg = session.register
        extra = {certs.AUDIT_SECRET: reg.audit_seed}
        if reg.manager_key is not None and session.role == roles.MANAGER:
            extra[certs.MANAGER_SECRET] = reg.manager_key
        data_key, user = reg.data_key, session.user
        reg.keys.update(lambda keys: keys.wrap(user, new_password, data_key, extra=extra))
    session.must_change_password = False
    return ChangeSet("Password changed.", ctx.revision, areas=frozenset({"users"}))


WRONG_CURRENT = "Your current password is wrong. Nothing was changed."


def change_password(session: Session, current: str, new_password: str) -> ChangeSet:
    """A signed-in user changes their password of their own accord (Register > Change my
    password): the current one is asked for again, so someone at a desk left unlocked cannot.
    A wrong one is one sentence and changes nothing; on the register file it counts as a
    failed unlock (throttled, and in the audit trail at the next unlock). Then the same
    change as at first sign-in, on either engine."""
    check_password(new_password)  # before any Argon2id run: the first sign-in's rule
    if not current:
        raise ValidationError("Enter your current password.", "current")
    if new_password == current:
        raise ValidationError("The new password is the same as the current one: choose a different one.",
                              "password")
    if _on_file(session):
        session.require("change_own_password")
        try:
            session.register.keys.confirm_password(session.user, current)
        except WrongPassword:
            raise WrongPassword(WRONG_CURRENT) from None
    else:
        _server_users().confirm_own_password(session, current, WRONG_CURRENT)
    return change_own_password(session, new_password)


def rekey(session: Session, password: str) -> ChangeSet:
    """Re-encrypt the register with a new data key (e.g. after a suspected leak).

    The practice manager confirms with their own password and keeps it; every other user
    gets a temporary password (returned in data['passwords']) to change at next unlock, and
    a new recovery key is made (data['recovery_key']): old key files and recovery keys stop
    working. Backups made before keep the old key."""
    from ..store import keyfile, register as register_store

    if not _on_file(session):  # every sealed row re-sealed on the desk, the chain's epoch (ADR 0015)
        return _server_users().rekey(session, password, temporary_password)
    session.require("rekey")
    reg = session.register
    if reg.keys.try_unwrap(session.user, password) is None:
        raise ValidationError("Your password is needed to re-key the register, and that one is wrong.", "password")
    manager_key = _manager_key(session)
    new_key = keyfile.new_data_key()
    new_keys = keyfile.KeyFile.create(reg.keys.path, reg.keys.register_id)
    for carried in ("audit_head", "manager_head", "manager_pub", "revision_seen"):
        if reg.keys.data.get(carried) is not None:
            new_keys.data[carried] = reg.keys.data[carried]
    new_keys.wrap(session.user, password, new_key,
                  extra={certs.AUDIT_SECRET: reg.audit_seed, certs.MANAGER_SECRET: manager_key})
    temporary = {}
    recovery = keyfile.new_recovery_key()
    new_keys.wrap_recovery(recovery, new_key, extra={certs.MANAGER_SECRET: manager_key})
    with session.write("rekey", changes_register=False) as ctx:
        for name, role in users_store.active(ctx.conn):
            if name != session.user and reg.keys.has_user(name):
                temporary[name] = temporary_password()
                seed = _certify(session, ctx.conn, name, role, seed=certs.new_audit_seed())
                new_keys.wrap(name, temporary[name], new_key, must_change=True,
                              extra=_slot_secrets(session, role, seed))
        ctx.audit("register.rekey", detail=f"users_reset={len(temporary)}")
    register_store.rekey(reg, new_keys, new_key)
    return ChangeSet("The register has a new key. Give each user their temporary password in person.", ctx.revision,
                     areas=frozenset({"users"}), data={"recovery_key": recovery, "passwords": temporary})


def new_recovery_key(session: Session) -> ChangeSet:
    """A new recovery key (shown once, in data['recovery_key']); the old one stops working.

    Its slot holds the data key and the manager key, so it can stand in for a practice manager
    whose password is lost. Needed once after the upgrade to signed records when that upgrade
    was made with a manager's password: the recovery key from before cannot hold the manager
    key (docs/adr/0006)."""
    from ..store import keyfile

    if not _on_file(session):  # the practice key in a recovery slot on the server (no manager key there)
        return _server_users().new_recovery_key(session, keyfile.new_recovery_key())
    session.require("rekey")
    manager_key = _manager_key(session)
    reg = session.register
    recovery = keyfile.new_recovery_key()
    with session.write("rekey", changes_register=False) as ctx:
        ctx.audit("register.recovery_key")
        data_key = reg.data_key

        def replace(keys):
            keys.wrap_recovery(recovery, data_key, extra={certs.MANAGER_SECRET: manager_key})
            keys.clear_throttle(keyfile.RECOVERY_USER)

        reg.keys.update(replace)  # inside the transaction: if the key file cannot be written, nothing is recorded
    return ChangeSet("A new recovery key was made; the old one no longer works. Print it and keep it locked away.",
                     ctx.revision, areas=frozenset({"users"}), data={"recovery_key": recovery})
