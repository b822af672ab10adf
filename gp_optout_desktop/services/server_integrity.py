"""The integrity check of a server practice (ADR 0011 addendum "on a server"): after each
sign-in in the background, and on demand (the status bar's button, the Backups screen).

It runs on a connection of its own (the desk keeps working on its own connection) in one
read-only snapshot, with the practice's keys on this desk: the server never sees them, so
only a desk can tell a sealed row from a swapped one (store/server/integrity.py).

A failure is shown plainly and always audited (``register.check``, outcome failed, with the
first problem: rows and entries by number, never a patient's details). An on-demand check is
audited either way, as on the register file; the background check after a sign-in is audited
only when it fails (the sign-in is already in the trail, and a row per sign-in would say
nothing more). Unlike the register file, a failure does not block this desk's writes: the
register is shared, other desks keep writing, and the damage is on the server, not in a
file this desk alone holds; the practice manager is told to act (server-setup.md).
"""

from __future__ import annotations

import dataclasses

from ..store.server import integrity as integrity_store, ops

ServerCheck = integrity_store.ServerCheck


def _own_desk(session) -> tuple[ops.Desk, bool]:
    """A Desk on a connection of its own when the session can open one (the desk window's),
    else the session's own (a command's, where nothing else is running)."""
    if session.reconnect is None:
        return session.desk, False
    conn = session.reconnect()
    conn.autocommit = True
    # The same desk on the new connection: its keys, the earlier keys of a re-keyed practice
    # and the key epoch it holds (a Desk built from the keys alone holds epoch 0 and no
    # earlier key, and found a re-keyed practice's trail "altered").
    return dataclasses.replace(session.desk, conn=conn), True


def check(session, *, why: str = "on demand", audit_ok: bool = True) -> ServerCheck:
    session.require("search")
    desk, own = _own_desk(session)
    try:
        result = integrity_store.check_practice(desk)
    finally:
        if own:
            desk.conn.close()
    if audit_ok or not result.ok:
        detail = f"server {why} seconds={result.seconds:.2f}"
        if not result.ok:
            detail += f" problems={len(result.problems)} first: {result.problem}"
        with session.write("search", changes_register=False) as tx:
            tx.audit("register.check", outcome="ok" if result.ok else "failed", detail=detail)
    remember(session, result)
    return result


def remember(session, result: ServerCheck) -> None:
    """A failure stays shown until the session ends: a later passing check does not hide it."""
    previous = getattr(session, "integrity", None)
    if previous is None or previous.ok:
        session.integrity = result


def last(session) -> ServerCheck | None:
    return getattr(session, "integrity", None)
