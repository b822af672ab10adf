"""Objection events, the derived current_state table, letters queued with them, signposts."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from ..domain.events import EVENT_KINDS, Event, Proxy, current_status
from . import bulk

_EVENT_COLUMNS = (
    "id, kind, action, effective, received, via, proxy_role, proxy_name, proxy_evidence, proxy_verified_by,"
    " submitted_by, recorded_by, recorded_at, coded_at, coded_by, confirmed_at, confirmed_by"
)


def _row_to_event(row) -> Event:
    proxy = Proxy(row[6], row[7], row[8], row[9]) if row[6] else None
    return Event(
        event_id=row[0], seq=row[0], kind=row[1], action=row[2],
        effective=date.fromisoformat(row[3]), received=date.fromisoformat(row[4]), via=row[5],
        proxy=proxy, submitted_by=row[10], recorded_by=row[11],
        recorded_at=datetime.fromisoformat(row[12]),
        coded_at=datetime.fromisoformat(row[13]) if row[13] else None, coded_by=row[14],
        confirmed_at=datetime.fromisoformat(row[15]) if row[15] else None, confirmed_by=row[16],
    )


def history(conn, patient_id: int) -> list[Event]:
    rows = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE patient_id = ? ORDER BY effective, id", (patient_id,)
    )
    return [_row_to_event(r) for r in rows]


def histories(conn, patient_ids: list[int]) -> dict[int, list[Event]]:
    """``history`` of each of ``patient_ids`` (in their order, once each), 500 patients to a query."""
    ids = list(dict.fromkeys(patient_ids))
    out: dict[int, list[Event]] = {pid: [] for pid in ids}
    for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit, with room
        chunk = ids[start:start + 500]
        for row in conn.execute(f"SELECT patient_id, {_EVENT_COLUMNS} FROM events WHERE patient_id IN"
                                f" ({', '.join('?' * len(chunk))}) ORDER BY patient_id, effective, id", chunk):
            out[row[0]].append(_row_to_event(row[1:]))
    return out


def next_form_id(conn) -> int:
    row = conn.execute("SELECT coalesce(max(form_id), 0) + 1 FROM events").fetchone()
    return row[0]


def insert(conn, patient_id: int, e: Event, form_id: int) -> int:
    p = e.proxy
    cur = conn.execute(
        "INSERT INTO events(patient_id, kind, action, effective, received, via, proxy_role, proxy_name,"
        " proxy_evidence, proxy_verified_by, submitted_by, form_id, recorded_by, recorded_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (patient_id, e.kind, e.action, e.effective.isoformat(), e.received.isoformat(), e.via,
         p.role if p else None, p.name if p else None, p.evidence if p else None, p.verified_by if p else None,
         e.submitted_by, form_id, e.recorded_by, e.recorded_at.isoformat()),
    )
    return cur.lastrowid


def refresh_current_state(conn, patient_id: int) -> None:
    """Recompute the derived state for one patient from their whole history (latest wins)."""
    events = history(conn, patient_id)
    for kind in EVENT_KINDS:
        status = current_status(events, kind)
        if status.event is None:
            conn.execute("DELETE FROM current_state WHERE patient_id = ? AND kind = ?", (patient_id, kind))
            continue
        conn.execute(
            "INSERT OR REPLACE INTO current_state(patient_id, kind, active, since, event_id) VALUES (?,?,?,?,?)",
            (patient_id, kind, int(status.active), status.since.isoformat(), status.event.event_id),
        )


def insert_coded_many(conn, patients_events: list[tuple[int, list[Event]]], *, by: str, confirmed_by: str,
                      at: datetime) -> list[list[int]]:
    """For each (patient id, events) in turn, each event as ``insert`` (form id ``next_form_id``)
    then ``mark_coded`` (by) and ``mark_confirmed`` (confirmed_by) would leave it, in one bulk
    insert of the final rows: the ids and form ids one-by-one inserts give (max + 1 each), the
    rows hashed for the attest digest rather than logged three times by the triggers."""
    next_id, next_form = conn.execute(
        "SELECT coalesce(max(id), 0) + 1, coalesce(max(form_id), 0) + 1 FROM events").fetchone()
    when = at.isoformat()
    rows, out = [], []
    for patient_id, events in patients_events:
        made = []
        for e in events:
            p = e.proxy
            rows.append((next_id, patient_id, e.kind, e.action, e.effective.isoformat(), e.received.isoformat(), e.via,
                         p.role if p else None, p.name if p else None, p.evidence if p else None,
                         p.verified_by if p else None, e.submitted_by, next_form, e.recorded_by,
                         e.recorded_at.isoformat(), when, by, when, confirmed_by))
            made.append(next_id)
            next_id, next_form = next_id + 1, next_form + 1
        out.append(made)
    if rows:
        bulk.insert_confirmed_events(conn, rows)
    return out


class Ordered(NamedTuple):
    """What current_status reads of an event (its kind, action, effective date and entry order)
    and the id it keeps: enough to work out a state, lighter than an Event to make and to send
    from the import's planning process (issue 13)."""

    kind: str
    action: str
    effective: date
    seq: int
    event_id: int


def put_current_states(conn, patients_events: list[tuple[int, list]]) -> None:
    """``refresh_current_state`` for each (patient id, every event of theirs, Event or Ordered)
    without reading the histories again: the states written in one executemany each for the
    deletes and the rewrites (the bulk import, which has each patient's events in hand)."""
    replace, delete = [], []
    for pid, events in patients_events:
        for kind in EVENT_KINDS:
            status = current_status(events, kind)
            if status.event is None:
                delete.append((pid, kind))
            else:
                replace.append((pid, kind, int(status.active), status.since.isoformat(), status.event.event_id))
    if delete:
        conn.executemany("DELETE FROM current_state WHERE patient_id = ? AND kind = ?", delete)
    if replace:
        bulk.insert_current_state(conn, replace)


def mark_coded(conn, event_id: int, *, by: str, at: datetime) -> int:
    cur = conn.execute(
        "UPDATE events SET coded_at = ?, coded_by = ? WHERE id = ? AND coded_at IS NULL",
        (at.isoformat(), by, event_id),
    )
    return cur.rowcount


def mark_confirmed(conn, event_id: int, *, by: str, at: datetime) -> int:
    """The code was found in the clinical system's export (``by`` names the run or import)."""
    cur = conn.execute(
        "UPDATE events SET confirmed_at = ?, confirmed_by = ? WHERE id = ? AND confirmed_at IS NULL",
        (at.isoformat(), by, event_id),
    )
    return cur.rowcount


def own_form_id(conn, patient_id: int) -> int | None:
    """The form id of the patient's first event that they submitted themselves (no proxy)."""
    row = conn.execute("SELECT form_id FROM events WHERE patient_id = ? AND submitted_by IS NULL ORDER BY id LIMIT 1",
                       (patient_id,)).fetchone()
    return None if row is None else row[0]


def patient_of_event(conn, event_id: int) -> int | None:
    row = conn.execute("SELECT patient_id FROM events WHERE id = ?", (event_id,)).fetchone()
    return row[0] if row else None


def queue_letter(conn, patient_id: int, form_id: int | None, kind: str, queued_at: datetime, due: date) -> int:
    cur = conn.execute(
        "INSERT INTO letters(patient_id, form_id, kind, queued_at, due) VALUES (?,?,?,?,?)",
        (patient_id, form_id, kind, queued_at.isoformat(), due.isoformat()),
    )
    return cur.lastrowid


def letters_for(conn, patient_id: int) -> list[dict]:
    rows = conn.execute(
        "SELECT id, kind, queued_at, due, sent_at, template_version, printed_count FROM letters"
        " WHERE patient_id = ? ORDER BY queued_at",
        (patient_id,),
    )
    keys = ("letter_id", "kind", "queued_at", "due", "sent_at", "template_version", "printed_count")
    return [dict(zip(keys, r)) for r in rows]


def add_signpost(conn, patient_id: int, on: date, *, by: str, at: datetime) -> None:
    conn.execute(
        "INSERT INTO signposts(patient_id, on_date, recorded_by, recorded_at) VALUES (?,?,?,?)",
        (patient_id, on.isoformat(), by, at.isoformat()),
    )


def signposts(conn, patient_id: int) -> list[date]:
    rows = conn.execute("SELECT on_date FROM signposts WHERE patient_id = ? ORDER BY on_date", (patient_id,))
    return [date.fromisoformat(r[0]) for r in rows]


def type1_active(conn, patient_id: int) -> bool:
    row = conn.execute("SELECT active FROM current_state WHERE patient_id = ? AND kind = 'type1'", (patient_id,)).fetchone()
    return bool(row and row[0])


def counts(conn) -> dict[str, int]:
    """Current objections by type, withdrawals in force, include-me requests."""
    out = {}
    for kind, active, n in conn.execute("SELECT kind, active, count(*) FROM current_state GROUP BY kind, active"):
        out[f"{kind}_{'active' if active else 'withdrawn'}"] = n
    return out
