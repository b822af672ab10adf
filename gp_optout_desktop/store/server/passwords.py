"""Users' passwords on the server (ADR 0015 addendum "passwords on the server"): the rows a
manager's desk writes to add a user or reset a password, and the one transaction in which a
desk changes its own password.

A password opens two things made from one Argon2id run (keyfile.derive_server_secrets): the
user's login (the server keeps only a SCRAM verifier, computed here by libpq) and their key
slot (the practice data key wrapped on the desk). Both change in ONE transaction when a user
changes their own: PostgreSQL's ALTER ROLE is transactional, so a crash or a lost server
before the commit leaves the old password opening both, and after it the new one; never one
of each. Another login's password is the administrator's to set (``gp-optout server
set-desk-password``): no role a desk can reach may change it (server schema V5).
"""

from __future__ import annotations

from ..errors import Conflict, NotFound
from . import schema
from .crypto import wrap_data_key
from .ops import WriteTx


def _wrapped(tx: WriteTx, user: str, unwrap_key: bytes) -> bytes:
    desk = tx.desk
    if desk.data_key is None:
        raise AssertionError("a desk that wraps key slots holds the practice data key")
    return wrap_data_key(unwrap_key, desk.data_key, desk.keys.practice_ref, user)


def change_own(tx: WriteTx, unwrap_key: bytes, login_password: str) -> None:
    """This desk's user: their key slot re-wrapped under the new password (no longer
    temporary) and their login's password, in the caller's transaction."""
    user = tx.desk.user
    changed = tx.conn.execute("UPDATE key_slots SET slot = %s, must_change = false WHERE name = %s",
                              (_wrapped(tx, user, unwrap_key), user)).rowcount
    if changed != 1:
        raise NotFound(f"There is no key slot for {user} on the server; nothing was changed.")
    schema.set_login_password(tx.conn.cursor(), user, login_password)


def opens_own_slot(desk, unwrap_key: bytes) -> bool:
    """Whether ``unwrap_key`` (from a password typed again at this desk) opens the desk user's
    own key slot: the check before they change their password. Read only; the unwrap happens
    here on the desk, as at sign-in."""
    from ..errors import KeyDamaged
    from .crypto import unwrap_data_key

    row = desk.conn.execute("SELECT p.ref, s.slot FROM practices p JOIN key_slots s"
                            " ON s.practice_id = p.id AND s.name = %s", (desk.user,)).fetchone()
    if row is None:
        return False
    try:
        unwrap_data_key(unwrap_key, row[1], str(row[0]), desk.user)
    except KeyDamaged:
        return False
    return True


def login_taken(conn, login: str) -> bool:
    """Logins are cluster-wide: one of this name may belong to another practice, or be the
    administrator's own. pg_roles is readable by every role and names no password."""
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,)).fetchone() is not None


def add_user(tx: WriteTx, name: str, role: str, unwrap_key: bytes) -> None:
    """A new user's row and key slot under their temporary password (manager's desk only)."""
    row = tx.conn.execute("SELECT active FROM users WHERE name = %s", (name,)).fetchone()
    if row is not None:
        raise Conflict(f"There is already a user called {name}." if row[0] else
                       f"{name} was a user of this register and keeps that name in its audit trail: "
                       "choose another name.")
    if login_taken(tx.conn, name):
        raise Conflict(f"A login named {name} already exists on this server (logins are shared by every "
                       "practice on it): choose another name.")
    tx.conn.execute("INSERT INTO users(name, role, active, created_at, created_by) VALUES (%s, %s, true, now(), %s)",
                    (name, role, tx.desk.user))
    tx.conn.execute("INSERT INTO key_slots(name, slot, must_change) VALUES (%s, %s, true)",
                    (name, _wrapped(tx, name, unwrap_key)))


def reset_slot(tx: WriteTx, name: str, unwrap_key: bytes) -> str:
    """An active user's key slot re-wrapped under a temporary password; returns their role."""
    row = tx.conn.execute("SELECT role FROM users WHERE name = %s AND active", (name,)).fetchone()
    if row is None:
        raise NotFound(f"There is no user called {name}.")
    changed = tx.conn.execute("UPDATE key_slots SET slot = %s, must_change = true WHERE name = %s",
                              (_wrapped(tx, name, unwrap_key), name)).rowcount
    if changed != 1:
        raise NotFound(f"{name} has no key slot on the server; nothing was changed.")
    return row[0]


# -- the practice's recovery key ---------------------------------------------------------------
# Its slot is a row of key_slots that no login can be named ('*' never starts a login): the
# data key wrapped under a key derived from the recovery key (itself 260 random bits, so HKDF,
# as in the register file). Every desk login of the practice may read it; only the recovery
# key opens it. Written by a manager's login only (server schema V5).
RECOVERY_SLOT = "*recovery"
RECOVERY_LABEL = b"gp-optout server v1 recovery key"


def _recovery_key(recovery_key: str, practice_ref: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from ..keyfile import normalise_recovery

    return HKDF(hashes.SHA256(), 32, practice_ref.encode("utf-8"), RECOVERY_LABEL).derive(
        normalise_recovery(recovery_key).encode("ascii"))


def put_recovery(tx: WriteTx, recovery_key: str, manager_key: bytes | None = None) -> None:
    """Replace the practice's recovery slot: the old recovery key stops working. With the
    manager key (the writing manager holds it) the recovery key opens that too, as the register
    file's recovery slot does: a row of ``manager_slots`` named as the recovery slot, which only
    a manager's login can read (schema V7); without it, any older such row goes with the old key."""
    from . import signing

    unwrap = _recovery_key(recovery_key, tx.desk.keys.practice_ref)
    tx.conn.execute("INSERT INTO key_slots(name, slot) VALUES (%s, %s) ON CONFLICT (practice_id, name)"
                    " DO UPDATE SET slot = excluded.slot", (RECOVERY_SLOT, _wrapped(tx, RECOVERY_SLOT, unwrap)))
    if manager_key is not None:
        signing.put_manager_slot(tx, RECOVERY_SLOT, unwrap, manager_key)
    else:
        tx.conn.execute("DELETE FROM manager_slots WHERE name = %s", (RECOVERY_SLOT,))


def open_recovery(conn, recovery_key: str) -> bytes:
    """The practice data key from its recovery slot (on the desk), or WrongPassword."""
    from ..errors import KeyDamaged, WrongPassword
    from .crypto import unwrap_data_key

    row = conn.execute("SELECT p.ref, s.slot FROM practices p LEFT JOIN key_slots s"
                       " ON s.practice_id = p.id AND s.name = %s", (RECOVERY_SLOT,)).fetchone()
    if row is None or row[1] is None:
        raise WrongPassword("This practice has no recovery key on the server yet (a practice manager makes one "
                            "on the Users screen). Nothing was changed.")
    try:
        return unwrap_data_key(_recovery_key(recovery_key, str(row[0])), row[1], str(row[0]), RECOVERY_SLOT)
    except KeyDamaged:
        raise WrongPassword("The recovery key is wrong. Nothing was changed.") from None


def recovery_manager_key(conn, recovery_key: str, practice_ref: str) -> bytes | None:
    """The manager key the recovery key opens, or None: a recovery key made by a manager who
    did not hold it (or before this was kept), or a login that is not a manager's (row-level
    security shows it no such row). Call only after ``open_recovery`` accepted the key."""
    from . import signing

    return signing.manager_key(conn, _recovery_key(recovery_key, practice_ref), practice_ref, RECOVERY_SLOT)
