"""The register's side of coding in the clinical system: unconfirmed events, the practice-wide
code rows, confirmations, and the reconciliation runs (schema V5)."""

from __future__ import annotations

import json
from datetime import date, datetime

from ..domain.practice_list import INACTIVE

# The latest practice-wide code row of each patient (its op decides what is asked of them now).
_LATEST = "SELECT patient_id, max(id) AS id FROM practice_codes GROUP BY patient_id"
_OBJECTS = ("EXISTS (SELECT 1 FROM current_state c WHERE c.patient_id = {p} AND c.kind = 'type1' AND c.active = 1)")
# Deducted, deceased or merged (schema V8): no codes are added for them (domain.practice_list).
_ACTIVE = ("NOT EXISTS (SELECT 1 FROM registration r WHERE r.patient_id = {p} AND r.status IN ("
           + ", ".join(f"'{s}'" for s in INACTIVE) + "))")
_OPTED_IN = ("EXISTS (SELECT 1 FROM current_state c WHERE c.patient_id = {p} AND c.kind = 'include' AND c.active = 1)")


def unconfirmed_events(conn) -> list[tuple]:
    """(event id, patient id, kind, action, effective, recorded_at, coded_by, nhs, title, forenames,
    surname, dob) for every Type 1/Type 2 event whose code is not confirmed, oldest recorded first,
    of patients still with the practice (a record that has left cannot be coded here)."""
    return conn.execute(
        "SELECT e.id, e.patient_id, e.kind, e.action, e.effective, e.recorded_at, e.coded_by,"
        " p.nhs, p.title, p.forenames, p.surname, p.dob"
        " FROM events e JOIN patients p ON p.id = e.patient_id"
        f" WHERE e.confirmed_at IS NULL AND e.kind IN ('type1', 'type2') AND {_ACTIVE.format(p='e.patient_id')}"
        " ORDER BY e.recorded_at, e.id").fetchall()


def practice_latest(conn, with_patient: bool = True) -> list[tuple]:
    """(row id, patient id, op, effective, queued_at, confirmed, opted in, objects[, nhs, title,
    forenames, surname, dob]) for each patient with a practice-wide code row, by the latest row,
    in the order they were listed (row ids grow with time)."""
    extra = ", p.nhs, p.title, p.forenames, p.surname, p.dob" if with_patient else ""
    join = " JOIN patients p ON p.id = pc.patient_id" if with_patient else ""
    return conn.execute(
        f"SELECT pc.id, pc.patient_id, pc.op, pc.effective, pc.queued_at, pc.confirmed_at IS NOT NULL,"
        f" {_OPTED_IN.format(p='pc.patient_id')}, {_OBJECTS.format(p='pc.patient_id')}{extra}"
        f" FROM practice_codes pc JOIN ({_LATEST}) l ON l.id = pc.id{join} ORDER BY pc.id").fetchall()


def practice_newcomers(conn, with_patient: bool = True) -> list[tuple]:
    """(patient id, created_at[, nhs, title, forenames, surname, dob]) for every patient with no
    practice-wide row who has not opted in and does not object: while the opt-out is on, those
    added since it was turned on, or whose opt-in or objection was withdrawn since."""
    extra = ", p.nhs, p.title, p.forenames, p.surname, p.dob" if with_patient else ""
    return conn.execute(
        f"SELECT p.id, p.created_at{extra} FROM patients p"
        " WHERE NOT EXISTS (SELECT 1 FROM practice_codes pc WHERE pc.patient_id = p.id)"
        f" AND NOT {_OPTED_IN.format(p='p.id')} AND NOT {_OBJECTS.format(p='p.id')} AND {_ACTIVE.format(p='p.id')}"
        " ORDER BY p.created_at, p.id"
    ).fetchall()


def list_practice_adds(conn, policy_id: int, effective: date, queued_at: datetime) -> int:
    """Turning the practice-wide opt-out on: an add for every patient still with the practice who
    has not opted in, does not object already, and has no practice-wide add listed. One INSERT ... SELECT."""
    cur = conn.execute(
        f"WITH latest AS (SELECT pc.patient_id, pc.op FROM practice_codes pc JOIN ({_LATEST}) l ON l.id = pc.id)"
        " INSERT INTO practice_codes(patient_id, policy_id, op, effective, queued_at)"
        " SELECT p.id, ?, 'add', ?, ? FROM patients p"
        f" WHERE NOT {_OPTED_IN.format(p='p.id')} AND NOT {_OBJECTS.format(p='p.id')} AND {_ACTIVE.format(p='p.id')}"
        " AND coalesce((SELECT op FROM latest WHERE latest.patient_id = p.id), '') <> 'add' ORDER BY p.id",
        (policy_id, effective.isoformat(), queued_at.isoformat()))
    return cur.rowcount


def list_practice_removals(conn, policy_id: int, effective: date, queued_at: datetime,
                           unlisted: bool = False) -> int:
    """Lifting it: a removal wherever the latest practice-wide row is an add, sparing patients
    who object individually. A patient whose latest row is already a removal gets nothing new.
    ``unlisted``: also patients with no row who neither opted in nor object: while it was on
    they were asked for an add (services.coding.build: added since, or an opt-in or objection
    withdrawn since), so they get a removal as well."""
    cur = conn.execute(
        f"INSERT INTO practice_codes(patient_id, policy_id, op, effective, queued_at)"
        f" SELECT pc.patient_id, ?, 'remove', ?, ? FROM practice_codes pc JOIN ({_LATEST}) l ON l.id = pc.id"
        f" WHERE pc.op = 'add' AND NOT {_OBJECTS.format(p='pc.patient_id')} ORDER BY pc.patient_id",
        (policy_id, effective.isoformat(), queued_at.isoformat()))
    n = cur.rowcount
    if unlisted:
        cur = conn.execute(
            "INSERT INTO practice_codes(patient_id, policy_id, op, effective, queued_at)"
            " SELECT p.id, ?, 'remove', ?, ? FROM patients p"
            " WHERE NOT EXISTS (SELECT 1 FROM practice_codes pc WHERE pc.patient_id = p.id)"
            f" AND NOT {_OPTED_IN.format(p='p.id')} AND NOT {_OBJECTS.format(p='p.id')} ORDER BY p.id",
            (policy_id, effective.isoformat(), queued_at.isoformat()))
        n += cur.rowcount
    return n


def insert_practice_code(conn, patient_id: int, policy_id: int, op: str, effective: date, queued_at: datetime,
                         confirmed_by: str | None = None) -> int:
    cur = conn.execute(
        "INSERT INTO practice_codes(patient_id, policy_id, op, effective, queued_at, confirmed_at, confirmed_by)"
        " VALUES (?,?,?,?,?,?,?)",
        (patient_id, policy_id, op, effective.isoformat(), queued_at.isoformat(),
         queued_at.isoformat() if confirmed_by else None, confirmed_by))
    return cur.lastrowid


def latest_policy_id(conn) -> int:
    """The practice-wide opt-out change a recorded practice-wide row belongs to."""
    return conn.execute("SELECT coalesce(max(id), 0) FROM policy").fetchone()[0]


def confirm_practice_codes(conn, row_ids: list[int], *, by: str, at: datetime) -> int:
    cur = conn.execute("UPDATE practice_codes SET confirmed_at = ?, confirmed_by = ? WHERE confirmed_at IS NULL"
                       " AND id IN (SELECT value FROM json_each(?))", (at.isoformat(), by, json.dumps(row_ids)))
    return cur.rowcount


def confirm_events(conn, event_ids: list[int], *, by: str, at: datetime) -> int:
    """Set-based store.events.mark_confirmed for a reconciliation's agreeing events: one UPDATE
    over the ids handed in as a JSON array (a third quicker than one statement per id)."""
    cur = conn.execute("UPDATE events SET confirmed_at = ?, confirmed_by = ? WHERE confirmed_at IS NULL"
                       " AND id IN (SELECT value FROM json_each(?))", (at.isoformat(), by, json.dumps(event_ids)))
    return cur.rowcount


def practice_codes_for(conn, patient_id: int) -> list[tuple]:
    """(id, policy id, op, effective, queued_at, confirmed_at, confirmed_by), oldest first."""
    return conn.execute("SELECT id, policy_id, op, effective, queued_at, confirmed_at, confirmed_by FROM practice_codes"
                        " WHERE patient_id = ? ORDER BY id", (patient_id,)).fetchall()


# ---- reconciliation ---------------------------------------------------------------------------

def coded_events(conn) -> list[tuple]:
    """(patient id, event id, kind, action, effective, recorded_at, confirmed) for every Type 1/2 event,
    by id (the order the server's store gives them too)."""
    return conn.execute("SELECT patient_id, id, kind, action, effective, recorded_at, confirmed_at IS NOT NULL"
                        " FROM events WHERE kind IN ('type1', 'type2') ORDER BY id").fetchall()


def current_objections(conn) -> list[tuple]:
    """(patient id, kind, active) from the derived current state, Type 1 and Type 2."""
    return conn.execute("SELECT patient_id, kind, active FROM current_state WHERE kind IN ('type1', 'type2')").fetchall()


def patients_by_nhs(conn) -> dict[str, tuple[int, str]]:
    """NHS number -> (patient id, date of birth) for every patient with a number."""
    return {r[0]: (r[1], r[2]) for r in conn.execute("SELECT nhs, id, dob FROM patients WHERE nhs IS NOT NULL")}


def patient_rows(conn, patient_ids: list[int]) -> dict[int, tuple]:
    """patient id -> (nhs, title, forenames, surname, dob), in chunks (SQLite's variable limit)."""
    out: dict[int, tuple] = {}
    for start in range(0, len(patient_ids), 900):
        chunk = patient_ids[start:start + 900]
        marks = ",".join("?" * len(chunk))
        for r in conn.execute(f"SELECT id, nhs, title, forenames, surname, dob FROM patients WHERE id IN ({marks})", chunk):
            out[r[0]] = r[1:]
    return out


_RUN_COLUMNS = ("id", "at", "run_by", "source", "encoding", "delimiter", "rows", "not_coded", "not_in_register", "differ",
                "agree", "rows_not_in_register", "rows_differ", "rows_agree", "confirmed", "not_coded_oldest")


def insert_run(conn, run: dict) -> int:
    cols = [c for c in _RUN_COLUMNS if c != "id"]
    cur = conn.execute(f"INSERT INTO reconciliations({', '.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                       [run[c] for c in cols])
    return cur.lastrowid


def next_run_id(conn) -> int:
    return conn.execute("SELECT coalesce(max(id), 0) + 1 FROM reconciliations").fetchone()[0]


def last_run(conn) -> dict | None:
    row = conn.execute(f"SELECT {', '.join(_RUN_COLUMNS)} FROM reconciliations ORDER BY id DESC LIMIT 1").fetchone()
    return dict(zip(_RUN_COLUMNS, row)) if row else None


def unconfirmed_count(conn) -> int:
    """Individual Type 1/Type 2 events not confirmed in the clinical system (an aggregate)."""
    return conn.execute("SELECT count(*) FROM events e WHERE e.confirmed_at IS NULL AND e.kind IN ('type1', 'type2')"
                        f" AND {_ACTIVE.format(p='e.patient_id')}").fetchone()[0]


def practice_task_count(conn, on: bool) -> int:
    """How many practice-wide adds and removals are still to do: domain.coding.practice_wide as
    one aggregate (tested equal to the worklist), plus the unlisted patients while it is on."""
    listed = conn.execute(
        f"SELECT count(*) FROM (SELECT pc.op, pc.confirmed_at IS NOT NULL AS done,"
        f" {_OPTED_IN.format(p='pc.patient_id')} AS opted_in, {_OBJECTS.format(p='pc.patient_id')} AS objects"
        f" FROM practice_codes pc JOIN ({_LATEST}) l ON l.id = pc.id)"
        " WHERE NOT objects AND ((op = 'add' AND NOT done AND NOT opted_in) OR (op = 'add' AND done AND opted_in)"
        " OR (op = 'remove' AND NOT done))").fetchone()[0]
    return listed + (len(practice_newcomers(conn, with_patient=False)) if on else 0)


def inactive_patients(conn) -> set[int]:
    """Patients who have left the practice, died or been merged (schema V8)."""
    marks = ",".join("?" * len(INACTIVE))
    return {r[0] for r in conn.execute(f"SELECT patient_id FROM registration WHERE status IN ({marks})", INACTIVE)}
