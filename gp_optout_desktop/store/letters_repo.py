"""The letters queue in the register: what is due, what a letter covers, printing and sending.

Rows are created by store.events.queue_letter when an objection or withdrawal is recorded.
sent_at holds the date the letter was sent (YYYY-MM-DD); template_version the template it
was first printed from; printed_count every print, reprints included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ..domain.practice_list import INACTIVE
from .errors import NotFound
from .events import _EVENT_COLUMNS, _row_to_event

_INACTIVE_SQL = ", ".join(f"'{state}'" for state in INACTIVE)  # constants, not input
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
    # Deducted, deceased and merged patients' letters are held: never printed, kept for the record;
    # the one exception is the letter telling someone who left that their objection travels.
    sql = (f"SELECT {_COLUMNS} FROM letters WHERE sent_at IS NULL AND (kind = 'transferred' OR patient_id NOT IN"
           f" (SELECT patient_id FROM registration WHERE status IN ({_INACTIVE_SQL}))) ORDER BY due, queued_at, id")
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


_INACTIVE_SQL = ", ".join(f"'{s}'" for s in INACTIVE)  # deducted, deceased, merged: never sent a notice


def queue_patient_notices(conn, kind: str, *, since: datetime, queued_at: datetime, due: date,
                          born_on_or_before: date) -> int:
    """One ``kind`` letter to each patient still with the practice born on or before
    ``born_on_or_before`` (16 or over) who has not had one queued at or after ``since``. A letter per household would reveal who
    else is registered at an address and fails in care homes and shared houses. Set-based."""
    cur = conn.execute(
        "INSERT INTO letters(patient_id, form_id, kind, queued_at, due)"
        " SELECT p.id, NULL, ?, ?, ? FROM patients p WHERE p.dob <= ? AND NOT EXISTS ("
        f"  SELECT 1 FROM registration r WHERE r.patient_id = p.id AND r.status IN ({_INACTIVE_SQL})) AND NOT EXISTS ("
        "  SELECT 1 FROM letters l WHERE l.patient_id = p.id AND l.kind = ? AND l.queued_at >= ?) ORDER BY p.id",
        (kind, queued_at.isoformat(), due.isoformat(), born_on_or_before.isoformat(), kind, since.isoformat()),
    )
    return cur.rowcount


def cancel_unsent(conn, kind: str) -> int:
    """Drop every ``kind`` letter still waiting (not yet sent); returns how many."""
    return conn.execute("DELETE FROM letters WHERE kind = ? AND sent_at IS NULL", (kind,)).rowcount


# Acknowledgements (code pending) and the confirmations they stand in for: letters.model
# RECEIVED_KIND, repeated here so the SQL needs no import from the letters package.
RECEIVED_KINDS = {"objection": "objection_received", "withdrawal": "withdrawal_received",
                  "include": "include_received"}


def became_acknowledgement(conn, letter_id: int, kind: str, *, queued_at: datetime | None,
                           due: date | None) -> int | None:
    """The letter was printed as an acknowledgement: say so in the log, and queue the
    confirmation it promises (held until every code is confirmed), unless ``queued_at`` is
    None (nothing to confirm). Returns the new letter's id, if any."""
    row = get(conn, letter_id)
    conn.execute("UPDATE letters SET kind = ? WHERE id = ?", (RECEIVED_KINDS[kind], letter_id))
    if queued_at is None or due is None:
        return None
    cur = conn.execute("INSERT INTO letters(patient_id, form_id, kind, queued_at, due) VALUES (?, ?, ?, ?, ?)",
                       (row.patient_id, row.form_id, kind, queued_at.isoformat(), due.isoformat()))
    return cur.lastrowid


def cancel(conn, letter_id: int) -> int:
    """Drop one letter that was never sent (a confirmation whose events were all superseded)."""
    return conn.execute("DELETE FROM letters WHERE id = ? AND sent_at IS NULL", (letter_id,)).rowcount


# Patients whose Type 1 objection is in force: their current Type 1 event is an objection whose
# code was confirmed in the clinical system. A withdrawal, or an objection only received or
# marked, is not in force.
_IN_FORCE_TYPE1 = ("SELECT c.patient_id FROM current_state c JOIN events e ON e.id = c.event_id"
                   " WHERE c.kind = 'type1' AND c.active = 1 AND e.confirmed_at IS NOT NULL")


def in_force_type1_count(conn) -> int:
    return conn.execute(f"SELECT count(*) FROM ({_IN_FORCE_TYPE1})").fetchone()[0]


def queue_for_in_force_objectors(conn, kind: str, *, queued_at: datetime, due: date) -> int:
    """One ``kind`` letter to each patient whose Type 1 objection is in force, skipping anyone
    with a ``kind`` letter still waiting (so queueing twice does not write twice). Set-based."""
    cur = conn.execute(
        f"INSERT INTO letters(patient_id, form_id, kind, queued_at, due)"
        f" SELECT patient_id, NULL, ?, ?, ? FROM ({_IN_FORCE_TYPE1})"
        f" WHERE patient_id NOT IN (SELECT patient_id FROM letters WHERE kind = ? AND sent_at IS NULL)"
        f" ORDER BY patient_id",
        (kind, queued_at.isoformat(), due.isoformat(), kind))
    return cur.rowcount


# A confirmation queued after its acknowledgement, waiting for a code not yet confirmed.
HELD_SQL = ("(l.kind IN ('objection', 'withdrawal', 'include') AND l.form_id IS NOT NULL"
            " AND EXISTS (SELECT 1 FROM letters a WHERE a.form_id = l.form_id"
            " AND a.kind = l.kind || '_received')"
            " AND EXISTS (SELECT 1 FROM events e JOIN current_state c ON c.event_id = e.id"
            " WHERE e.form_id = l.form_id AND e.confirmed_at IS NULL))")


def form_facts(conn, form_ids) -> tuple[dict[int, list], set[int], set[tuple[int, str]]]:
    """For many forms at once: (form id -> [(patient id, Event)] in entry order, the ids of
    their events that still decide a state, {(form id, acknowledgement kind)} already printed).
    Batched, so a long queue is classified in a few queries."""
    by_form: dict[int, list] = {}
    current: set[int] = set()
    acked: set[tuple[int, str]] = set()
    ids = sorted(set(form_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for r in conn.execute(f"SELECT form_id, patient_id, {_EVENT_COLUMNS} FROM events WHERE form_id IN ({marks})"
                              " ORDER BY id", chunk):
            by_form.setdefault(r[0], []).append((r[1], _row_to_event(r[2:])))
        current.update(r[0] for r in conn.execute(
            f"SELECT c.event_id FROM current_state c JOIN events e ON e.id = c.event_id"
            f" WHERE e.form_id IN ({marks})", chunk))
        acked.update((r[0], r[1]) for r in conn.execute(
            f"SELECT DISTINCT form_id, kind FROM letters WHERE form_id IN ({marks})"
            f" AND kind IN ('objection_received', 'withdrawal_received', 'include_received')", chunk))
    return by_form, current, acked
