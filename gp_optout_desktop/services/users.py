"""Users: add, remove, reset a password, change role, change one's own password, re-key."""

from __future__ import annotations

import secrets

from ..domain import roles
from ..domain.errors import ValidationError
from ..store import users as users_store
from ..store.errors import Conflict, NotFound
from .changes import ChangeSet
from .session import Session
from .setup import check_password, check_user_name


def temporary_password() -> str:
    """Readable, 12 characters from an alphabet without look-alikes; changed at next unlock."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))


def list_users(session: Session) -> list[tuple[str, str]]:
    with session.read("manage_users") as conn:
        return users_store.active(conn)


def add(session: Session, name: str, role: str, password: str | None = None) -> ChangeSet:
    """Add a user. Without ``password`` a temporary one is made, returned in data, and must be changed at first unlock."""
    name = check_user_name(name)
    roles.check_role(role)
    temporary = password is None
    password = password if password is not None else temporary_password()
    if not temporary:
        check_password(password)
    if session.register.keys.has_user(name):
        raise Conflict(f"There is already a user called {name}.")
    with session.write("manage_users") as ctx:
        users_store.add(ctx.conn, name, role, by=session.user, at=session.now())
        ctx.audit("user.add", detail=f"name={name} role={role}")
        data_key = session.register.data_key
        # Inside the transaction: if the key file cannot be written, the user is not added.
        session.register.keys.update(lambda keys: keys.wrap(name, password, data_key, must_change=temporary))
    return ChangeSet(f"Added {roles.ROLE_LABELS[role].lower()} {name}.", ctx.revision, areas=frozenset({"users"}),
                     data={"password": password if temporary else None})


def remove(session: Session, name: str) -> ChangeSet:
    if name == session.user:
        raise ValidationError("You cannot remove yourself; ask another practice manager.", "user")
    with session.write("manage_users") as ctx:
        role = users_store.role_of(ctx.conn, name)
        if role is None:
            raise NotFound(f"There is no user called {name}.")
        if role == roles.MANAGER and users_store.count_role(ctx.conn, roles.MANAGER) <= 1:
            raise ValidationError("The last practice manager cannot be removed.", "user")
        users_store.deactivate(ctx.conn, name)
        ctx.audit("user.remove", detail=f"name={name}")
        session.register.keys.update(lambda keys: keys.remove(name))
    return ChangeSet(f"Removed {name}; their key was deleted.", ctx.revision, areas=frozenset({"users"}))


def change_role(session: Session, name: str, role: str) -> ChangeSet:
    roles.check_role(role)
    with session.write("manage_users") as ctx:
        old = users_store.role_of(ctx.conn, name)
        if old is None:
            raise NotFound(f"There is no user called {name}.")
        if old == roles.MANAGER and role != roles.MANAGER and users_store.count_role(ctx.conn, roles.MANAGER) <= 1:
            raise ValidationError("The last practice manager must stay a practice manager.", "role")
        users_store.set_role(ctx.conn, name, role)
        ctx.audit("user.role", detail=f"name={name} role={old}->{role}")
    return ChangeSet(f"{name} is now a {roles.ROLE_LABELS[role].lower()}.", ctx.revision, areas=frozenset({"users"}))


def reset_password(session: Session, name: str) -> ChangeSet:
    """A temporary password (returned in data['password']) that the user must change at next unlock."""
    password = temporary_password()
    with session.write("manage_users") as ctx:
        if users_store.role_of(ctx.conn, name) is None:
            raise NotFound(f"There is no user called {name}.")
        ctx.audit("user.reset_password", detail=f"name={name}")
        data_key = session.register.data_key

        def reset(keys):
            keys.wrap(name, password, data_key, must_change=True)
            keys.clear_throttle(name)

        session.register.keys.update(reset)
    return ChangeSet(f"{name} has a temporary password and must choose a new one at next unlock.", ctx.revision,
                     areas=frozenset({"users"}), data={"password": password})


def change_own_password(session: Session, new_password: str) -> ChangeSet:
    check_password(new_password)
    with session.write("change_own_password", changes_register=False) as ctx:
        ctx.audit("user.change_password")
        data_key = session.register.data_key
        session.register.keys.update(lambda keys: keys.wrap(session.user, new_password, data_key))
    session.must_change_password = False
    return ChangeSet("Password changed.", ctx.revision, areas=frozenset({"users"}))


def rekey(session: Session, password: str) -> ChangeSet:
    """Re-encrypt the register with a new data key (e.g. after a suspected leak).

    The practice manager confirms with their own password and keeps it; every other user
    gets a temporary password (returned in data['passwords']) to change at next unlock, and
    a new recovery key is made (data['recovery_key']): old key files and recovery keys stop
    working. Backups made before keep the old key."""
    from ..store import keyfile, register as register_store

    session.require("rekey")
    reg = session.register
    if reg.keys.try_unwrap(session.user, password) is None:
        raise ValidationError("Your password is needed to re-key the register, and that one is wrong.", "password")
    new_key = keyfile.new_data_key()
    new_keys = keyfile.KeyFile.create(reg.keys.path, reg.keys.register_id)
    new_keys.data["audit_head"] = reg.keys.data.get("audit_head")
    new_keys.wrap(session.user, password, new_key)
    temporary = {}
    for name in reg.keys.user_names():
        if name != session.user:
            temporary[name] = temporary_password()
            new_keys.wrap(name, temporary[name], new_key, must_change=True)
    recovery = keyfile.new_recovery_key()
    new_keys.wrap_recovery(recovery, new_key)
    with session.write("rekey", changes_register=False) as ctx:
        ctx.audit("register.rekey", detail=f"users_reset={len(temporary)}")
    register_store.rekey(reg, new_keys, new_key)
    return ChangeSet("The register has a new key. Give each user their temporary password in person.", ctx.revision,
                     areas=frozenset({"users"}), data={"recovery_key": recovery, "passwords": temporary})
