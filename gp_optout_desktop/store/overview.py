"""Counts for the overview screen: aggregates only, no identifiers leave these queries."""

from __future__ import annotations

from datetime import date

from .letters_repo import HELD_SQL


def patient_count(conn) -> int:
    return conn.execute("SELECT count(*) FROM patients").fetchone()[0]


def current_counts(conn) -> dict[tuple[str, bool], int]:
    """(kind, active) -> patients, from the derived current_state (latest event wins)."""
    rows = conn.execute("SELECT kind, active, count(*) FROM current_state GROUP BY kind, active")
    return {(kind, bool(active)): n for kind, active, n in rows}


def objecting_without_nhs_number(conn) -> int:
    """Objecting patients the exclusion file cannot list: it lists NHS numbers only."""
    return conn.execute(
        "SELECT count(DISTINCT c.patient_id) FROM current_state c JOIN patients p ON p.id = c.patient_id"
        " WHERE c.active = 1 AND c.kind IN ('type1', 'type2') AND p.nhs IS NULL").fetchone()[0]


def type1_coding_counts(conn) -> dict[tuple[bool, str], int]:
    """(objecting, coding state of the deciding event) -> patients, for Type 1: whether each
    current objection or withdrawal is confirmed in the clinical system, marked, or pending."""
    rows = conn.execute(
        "SELECT c.active, CASE WHEN e.confirmed_at IS NOT NULL THEN 'confirmed'"
        " WHEN e.coded_at IS NOT NULL THEN 'marked' ELSE 'pending' END AS state, count(*)"
        " FROM current_state c JOIN events e ON e.id = c.event_id WHERE c.kind = 'type1'"
        " GROUP BY c.active, state")
    return {(bool(active), state): n for active, state, n in rows}


def letter_counts(conn, today: date, soon: date) -> dict[str, int]:
    """Letters not yet sent: all, past their one-month deadline, and due by ``soon``; and
    confirmations held until their codes are confirmed (not counted as ready to send)."""
    row = conn.execute(
        f"SELECT coalesce(sum(NOT held), 0), coalesce(sum(NOT held AND due < ?), 0),"
        f" coalesce(sum(NOT held AND due >= ? AND due <= ?), 0), coalesce(sum(held), 0)"
        f" FROM (SELECT l.due, {HELD_SQL} AS held FROM letters l WHERE l.sent_at IS NULL)",
        (today.isoformat(), today.isoformat(), soon.isoformat()),
    ).fetchone()
    return {"pending": row[0], "overdue": row[1], "due_soon": row[2], "held": row[3]}


def monthly_events(conn, kinds: tuple[str, ...]) -> list[tuple[str, str, int]]:
    """(YYYY-MM of the effective date, action, count) for the given kinds, oldest first."""
    marks = ",".join("?" * len(kinds))
    rows = conn.execute(
        f"SELECT substr(effective, 1, 7) AS month, action, count(*) FROM events WHERE kind IN ({marks})"
        " GROUP BY month, action ORDER BY month",
        kinds,
    )
    return [tuple(r) for r in rows]
