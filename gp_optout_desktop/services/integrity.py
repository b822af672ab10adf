"""Checking the register's integrity after unlock, before a backup, and on demand (ADR 0011).

Any signed-in user may run a check (it only reads); the result goes into the audit trail.
"""

from __future__ import annotations

from ..store import integrity as store_integrity
from ..store.database import DatabaseError
from ..store.errors import StoreError
from .on_server import on_server
from .session import Session

CheckResult = store_integrity.CheckResult


def check(session: Session, *, full: bool = False, why: str = "on demand") -> CheckResult:
    """Run the check on its own connection (the desk keeps working), audit it, and remember
    the result on the register (a failure blocks further writes from then on). On a server
    practice: services/server_integrity.py (the background check after sign-in is audited
    only when it fails)."""
    if on_server(session):
        from . import server_integrity

        return server_integrity.check(session, why=why, audit_ok=why != "after unlock")
    session.require("search")
    reg = session.register
    if not reg.is_open:
        raise StoreError("The register is locked. Unlock it to check it.")
    result = store_integrity.check_file(reg.db.path, reg.data_key, full=full)
    try:
        with session.write("search", changes_register=False) as ctx:
            ctx.audit("register.check", outcome="ok" if result.ok else "failed",
                      detail=f"{'full' if full else 'quick'} {why} seconds={result.seconds:.2f}")
    except (StoreError, DatabaseError):
        if result.ok:
            raise
        # a damaged register may not take the audit row; the failure is still shown and blocks writes
    store_integrity.remember(reg, result)
    return result


def last(session: Session) -> CheckResult | None:
    if on_server(session):
        from . import server_integrity

        return server_integrity.last(session)
    return store_integrity.last_result(session.register)
