"""Reading and verifying the audit trail (practice managers only; reading it is itself audited)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone

from ..domain import nhs_number
from ..store import audit as store_audit
from ..store.audit import Verification


@dataclass(frozen=True)
class AuditRow:
    seq: int
    at: datetime
    user: str
    role: str
    action: str
    patient: str
    outcome: str
    workstation: str
    detail: str


def verify(session) -> Verification:
    with session.write("view_audit", changes_register=False) as ctx:
        result = session.register.audit.verify(ctx.conn, session.register.recorded_head())
        ctx.audit("audit.verify", outcome="ok" if result.ok else "failed")
    return result


def query(session, *, since: date | None = None, until: date | None = None, user: str | None = None,
          action: str | None = None, patient: str | None = None, limit: int = 5000) -> list[AuditRow]:
    """Filter by date range (inclusive, UTC days), user, action prefix and patient (NHS number or id:N)."""
    if patient:
        digits = nhs_number.normalise(patient)
        patient = digits if digits.isdigit() else patient
    with session.write("view_audit", changes_register=False) as ctx:
        rows = store_audit.select(
            ctx.conn,
            since=datetime.combine(since, time.min, timezone.utc).isoformat() if since else None,
            until=datetime.combine(until, time.max, timezone.utc).isoformat() if until else None,
            user=user, action_prefix=action, patient=patient, limit=limit,
        )
        ctx.audit("audit.read", detail=f"rows={len(rows)}")
    return [AuditRow(r[0], datetime.fromisoformat(r[1]), *r[2:]) for r in rows]
