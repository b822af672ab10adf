"""The letters queue in the register: what is due, what a letter covers, printing and sending.

Rows are created by store.events.queue_letter when an objection or withdrawal is recorded.
sent_at holds the date the letter was sent (YYYY-MM-DD); template_version the template it
was first printed from; printed_count every print, reprints included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from .errors import NotFound
from .events import _EVENT_COLUMNS, _row_to_event

_COLUMNS = "id, patient_id, form_id, kind, queued_at, due, sent_at, template_version, printed_count"


@dataclass(frozen=True)
class LetterRow:
    letter_id: int
    patient_id: int
    form_id: int | None
    kind: str
    queued_at: datetime
    due: date
    sent_on: date | None
    template_version: str | None
    printed_count: int


def _row(r) -> LetterRow:
    return LetterRow(r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4]), date.fromisoformat(r[5]),
                     date.fromisoformat(r[6][:10]) if r[6] else None, r[7], r[8])


def pending(conn, limit: int | None = None) -> list[LetterRow]:
    """Unsent letters, the nearest deadline first (oldest received first), then queue order."""
    sql = f"SELECT {_COLUMNS} FROM letters WHERE sent_at IS NULL ORDER BY due, queued_at, id"
    params: tuple = ()
    if limit is not None:
        sql += " LIMIT ?"
        params = (limit,)
    return [_row(r) for r in conn.execute(sql, params)]


def get(conn, letter_id: int) -> LetterRow:
    r = conn.execute(f"SELECT {_COLUMNS} FROM letters WHERE id = ?", (letter_id,)).fetchone()
    if r is None:
        raise NotFound("No such letter in the register.")
    return _row(r)


def get_many(conn, letter_ids: list[int]) -> list[LetterRow]:
    return [get(conn, i) for i in letter_ids]


def for_patient(conn, patient_id: int) -> list[LetterRow]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM letters WHERE patient_id = ? ORDER BY queued_at, id", (patient_id,))
    return [_row(r) for r in rows]


def form_events(conn, form_id: int) -> list[tuple[int, object]]:
    """(patient id, Event) for every event recorded on one form, in entry order."""
    rows = conn.execute(
        f"SELECT patient_id, {_EVENT_COLUMNS} FROM events WHERE form_id = ? ORDER BY id", (form_id,)
    )
    return [(r[0], _row_to_event(r[1:])) for r in rows]


def mark_printed(conn, letter_id: int, *, template_version: str, sent_on: date | None) -> None:
    """Count a print; the first print fixes the template version, and ``sent_on`` marks it sent
    unless it already was (a reprint never moves the original sent date)."""
    conn.execute(
        "UPDATE letters SET printed_count = printed_count + 1,"
        " template_version = coalesce(template_version, ?),"
        " sent_at = coalesce(sent_at, ?) WHERE id = ?",
        (template_version, sent_on.isoformat() if sent_on else None, letter_id),
    )


def mark_sent(conn, letter_id: int, on: date) -> int:
    cur = conn.execute("UPDATE letters SET sent_at = ? WHERE id = ? AND sent_at IS NULL", (on.isoformat(), letter_id))
    return cur.rowcount


def queue_patient_notices(conn, kind: str, *, since: datetime, queued_at: datetime, due: date,
                          born_on_or_before: date) -> int:
    """One ``kind`` letter to each patient born on or before ``born_on_or_before`` (16 or over)
    who has not had one queued at or after ``since``. A letter per household would reveal who
    else is registered at an address and fails in care homes and shared houses. Set-based."""
    cur = conn.execute(
        "INSERT INTO letters(patient_id, form_id, kind, queued_at, due)"
        " SELECT p.id, NULL, ?, ?, ? FROM patients p WHERE p.dob <= ? AND NOT EXISTS ("
        "  SELECT 1 FROM letters l WHERE l.patient_id = p.id AND l.kind = ? AND l.queued_at >= ?) ORDER BY p.id",
        (kind, queued_at.isoformat(), due.isoformat(), born_on_or_before.isoformat(), kind, since.isoformat()),
    )
    return cur.rowcount


def cancel_unsent(conn, kind: str) -> int:
    """Drop every ``kind`` letter still waiting (not yet sent); returns how many."""
    return conn.execute("DELETE FROM letters WHERE kind = ? AND sent_at IS NULL", (kind,)).rowcount
