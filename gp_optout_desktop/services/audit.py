"""Reading, verifying and exporting the audit trail (practice managers only; reading and
exporting it are themselves audited). On either engine (ADR 0015): the register file's
signed trail, or the practice's chain on the server."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Sequence

from ..domain import nhs_number
from ..store import atomic
from ..store.audit import Verification
from .changes import ChangeSet


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
    """Check the trail, then audit the check. Checked before its own entry's write, not inside
    it: on the server the chain is read in a snapshot of its own while desks keep appending."""
    session.require("view_audit")
    result = session.verify_audit()
    with session.write("view_audit", changes_register=False) as ctx:
        ctx.audit("audit.verify", outcome="ok" if result.ok else "failed")
    return result


def query(session, *, since: date | None = None, until: date | None = None, user: str | None = None,
          action: str | None = None, patient: str | None = None, limit: int = 5000) -> list[AuditRow]:
    """Filter by date range (inclusive, UTC days), user, action prefix and patient (NHS number or id:N)."""
    if patient:
        digits = nhs_number.normalise(patient)
        patient = digits if digits.isdigit() else patient
    with session.write("view_audit", changes_register=False) as ctx:
        rows = ctx.store.audit_rows(
            since=datetime.combine(since, time.min, timezone.utc).isoformat() if since else None,
            until=datetime.combine(until, time.max, timezone.utc).isoformat() if until else None,
            user=user, action_prefix=action, patient=patient, limit=limit,
        )
        ctx.audit("audit.read", detail=f"rows={len(rows)}")
    return [AuditRow(r[0], datetime.fromisoformat(r[1]), *r[2:]) for r in rows]


# ---- export --------------------------------------------------------------------------------

CSV_HEADER = ("seq", "at_utc", "user", "role", "action", "patient", "outcome", "workstation", "detail")


def _safe(value: str) -> str:
    # A cell starting with = + - @ is run as a formula by spreadsheet programs.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_bytes(rows: Sequence[AuditRow]) -> bytes:
    """UTF-8 with BOM (Excel reads accents correctly), CRLF, times in UTC ISO 8601. Pure: no I/O."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for r in rows:
        writer.writerow([r.seq, r.at.isoformat(), *(_safe(str(v)) for v in
                                                     (r.user, r.role, r.action, r.patient, r.outcome,
                                                      r.workstation, r.detail))])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def export_csv(session, rows: Sequence[AuditRow], path: Path) -> ChangeSet:
    """Write ``rows`` (e.g. a filtered view) to ``path`` as CSV, atomically: a full or missing
    folder leaves any earlier file untouched. One audit row 'audit.export' with the row count;
    a failed write is audited too (outcome 'failed') and its error raised."""
    path = Path(path)
    data = csv_bytes(rows)
    error: OSError | None = None
    with session.write("view_audit", changes_register=False) as ctx:
        try:
            atomic.write_bytes(path, data)
        except OSError as exc:
            error = exc
        ctx.audit("audit.export", outcome="failed" if error else "ok", detail=f"rows={len(rows)}")
    if error is not None:
        raise error
    return ChangeSet(f"Exported {len(rows)} entries to {path}.", ctx.revision, areas=frozenset({"audit"}),
                     data={"path": str(path), "rows": len(rows)})
