"""Who has signed in on a server register (ADR 0015): read from the server, never taken from
the desk. On the server a user's name is their database login: the login proves the
password (SCRAM, store/server/connect.py), and the practice's ``users`` row and ``key_slots``
row of that name give the role and the wrapped practice data key."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import StoreError
from . import schema


@dataclass(frozen=True)
class Account:
    name: str
    role: str | None  # None: no users row of this name in the practice
    active: bool
    has_slot: bool
    must_change: bool = False  # the slot is under a temporary password (server schema V5)


def account(conn, login: str) -> Account:
    """This login's user row and key slot in its practice (row-level security shows no other)."""
    conn.autocommit = True
    schema.check_version(conn)
    row = conn.execute(
        "SELECT u.role, coalesce(u.active, false), s.name IS NOT NULL, coalesce(s.must_change, false)"
        " FROM practices p"
        " LEFT JOIN users u ON u.practice_id = p.id AND u.name = %s"
        " LEFT JOIN key_slots s ON s.practice_id = p.id AND s.name = %s", (login, login)).fetchone()
    if row is None:
        raise StoreError("This login is not mapped to a practice on the server. Nothing was changed. "
                         "Ask your IT supplier to check the desk login (docs/server-setup.md).")
    return Account(login, row[0], bool(row[1]), bool(row[2]), bool(row[3]))
