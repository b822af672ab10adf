"""The practice-wide opt-out's history."""

from __future__ import annotations

from datetime import date, datetime

from ..domain.practice_policy import PolicyChange


def history(conn) -> list[PolicyChange]:
    rows = conn.execute("SELECT id, state, effective, reason, recorded_by, recorded_at FROM policy ORDER BY id")
    return [
        PolicyChange(state=r[1], effective=date.fromisoformat(r[2]), reason=r[3], recorded_by=r[4],
                     recorded_at=datetime.fromisoformat(r[5]), seq=r[0])
        for r in rows
    ]


def insert(conn, change: PolicyChange) -> int:
    cur = conn.execute(
        "INSERT INTO policy(state, effective, reason, recorded_by, recorded_at) VALUES (?,?,?,?,?)",
        (change.state, change.effective.isoformat(), change.reason, change.recorded_by, change.recorded_at.isoformat()),
    )
    return cur.lastrowid
