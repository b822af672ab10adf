"""Patients: insert, fetch, and the front-desk search (the database searches and sorts)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime

from ..domain import nhs_number, postcode
from ..domain.patient import Patient
from . import bulk
from .errors import Conflict, NotFound

_COLUMNS = "id, nhs, title, surname, forenames, dob, address, postcode, phone, email"
_POSTCODE_LIKE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?( ?[0-9][A-Z]{0,2})?$")
_DATE_FORMS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d %m %Y")


def surname_key(surname: str) -> str:
    return surname.casefold()


def _row_to_patient(row) -> Patient:
    return Patient(
        patient_id=row[0], nhs_number=row[1], title=row[2], surname=row[3], forenames=row[4],
        dob=date.fromisoformat(row[5]), address=tuple(json.loads(row[6])), postcode=row[7],
        phone=row[8], email=row[9],
    )


def insert(conn, p: Patient, *, by: str, at: datetime) -> int:
    if p.nhs_number and conn.execute("SELECT 1 FROM patients WHERE nhs = ?", (p.nhs_number,)).fetchone():
        raise Conflict("A patient with this NHS number is already in the register.")
    cur = conn.execute(
        "INSERT INTO patients(nhs, title, surname, forenames, surname_key, dob, address, postcode, postcode_key,"
        " phone, email, created_at, created_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        _stored(p, by, at.isoformat()),
    )
    return cur.lastrowid


def _stored(p: Patient, by: str, when: str) -> tuple:
    """A new patient's columns after the id, as the table keeps them (one place for both inserts)."""
    return (p.nhs_number, p.title, p.surname, p.forenames, surname_key(p.surname), p.dob.isoformat(),
            json.dumps(list(p.address), ensure_ascii=False), p.postcode, postcode.search_key(p.postcode),
            p.phone, p.email, when, by)


def insert_many(conn, people: list[Patient], *, by: str, at: datetime) -> list[int]:
    """``insert`` for each of ``people`` in turn, in one bulk insert: the same ids, the same
    rows and the same Conflict (nothing inserted) if a number is in the register already or
    twice in ``people``."""
    numbers = [p.nhs_number for p in people if p.nhs_number]
    if len(set(numbers)) != len(numbers):
        raise Conflict("A patient with this NHS number is already in the register.")
    for start in range(0, len(numbers), 500):  # SQLite's bound-parameter limit, with room
        chunk = numbers[start:start + 500]
        if conn.execute(f"SELECT 1 FROM patients WHERE nhs IN ({', '.join('?' * len(chunk))}) LIMIT 1",
                        chunk).fetchone():
            raise Conflict("A patient with this NHS number is already in the register.")
    first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM patients").fetchone()[0]
    when = at.isoformat()
    rows = [(first + i, *_stored(p, by, when)) for i, p in enumerate(people)]
    if rows:
        bulk.insert_patients(conn, rows)
    return [row[0] for row in rows]


def update(conn, p: Patient) -> None:
    if p.nhs_number:
        clash = conn.execute("SELECT id FROM patients WHERE nhs = ? AND id != ?", (p.nhs_number, p.patient_id)).fetchone()
        if clash:
            raise Conflict("Another patient in the register already has this NHS number.")
    conn.execute(
        "UPDATE patients SET nhs=?, title=?, surname=?, forenames=?, surname_key=?, dob=?, address=?, postcode=?,"
        " postcode_key=?, phone=?, email=? WHERE id=?",
        (p.nhs_number, p.title, p.surname, p.forenames, surname_key(p.surname), p.dob.isoformat(),
         json.dumps(list(p.address), ensure_ascii=False), p.postcode, postcode.search_key(p.postcode),
         p.phone, p.email, p.patient_id),
    )


def get(conn, patient_id: int) -> Patient:
    row = conn.execute(f"SELECT {_COLUMNS} FROM patients WHERE id = ?", (patient_id,)).fetchone()
    if row is None:
        raise NotFound("No such patient in the register.")
    return _row_to_patient(row)


def get_many(conn, ids: list[int]) -> dict[int, Patient]:
    out: dict[int, Patient] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"SELECT {_COLUMNS} FROM patients WHERE id IN ({marks})", chunk):
            out[row[0]] = _row_to_patient(row)
    return out


def by_nhs(conn, nhs: str) -> Patient:
    row = conn.execute(f"SELECT {_COLUMNS} FROM patients WHERE nhs = ?", (nhs,)).fetchone()
    if row is None:
        raise NotFound("No patient with this NHS number is in the register.")
    return _row_to_patient(row)


def by_nhs_many(conn, numbers: list[str]) -> dict[str, Patient]:
    """``by_nhs`` for each of ``numbers``, 500 to a query: the ones in the register, by number."""
    out: dict[str, Patient] = {}
    for start in range(0, len(numbers), 500):  # SQLite's bound-parameter limit, with room
        chunk = numbers[start:start + 500]
        for row in conn.execute(f"SELECT {_COLUMNS} FROM patients WHERE nhs IN ({', '.join('?' * len(chunk))})",
                                chunk):
            out[row[1]] = _row_to_patient(row)
    return out


def all_by_nhs(conn) -> dict[str, Patient]:
    """Every patient with an NHS number, by number (for matching a whole practice list at once)."""
    return {row[1]: _row_to_patient(row) for row in conn.execute(f"SELECT {_COLUMNS} FROM patients WHERE nhs IS NOT NULL")}


def count(conn) -> int:
    return conn.execute("SELECT count(*) FROM patients").fetchone()[0]


@dataclass(frozen=True)
class Query:
    """What the search box text means; decided once, then one indexed SQL query."""

    kind: str  # nhs | nhs_prefix | dob | postcode | surname | empty
    value: str
    forename: str = ""

    def describe(self) -> str:
        return {
            "nhs": "NHS number",
            "nhs_prefix": "NHS number starting",
            "dob": "date of birth",
            "postcode": "postcode",
            "surname": "surname starting",
            "empty": "",
        }[self.kind]


def parse_query(text: str) -> Query:
    raw = (text or "").strip()
    if not raw:
        return Query("empty", "")
    digits = nhs_number.normalise(raw)
    if digits.isdigit() and len(digits) == 10:
        return Query("nhs", digits)
    for form in _DATE_FORMS:
        try:
            return Query("dob", datetime.strptime(raw, form).date().isoformat())
        except ValueError:
            continue  # why: not a date in this form; try the next, then the other kinds of query
    if digits.isdigit() and 3 <= len(digits) < 10:
        return Query("nhs_prefix", digits)
    upper = " ".join(raw.upper().split())
    if any(ch.isdigit() for ch in upper) and _POSTCODE_LIKE.match(upper):
        return Query("postcode", postcode.search_key(upper))
    if "," in raw:  # "Smith, J" = surname Smith, forename starting J
        surname, _, forename = raw.partition(",")
        return Query("surname", surname_key(surname.strip()), forename.strip().casefold())
    return Query("surname", surname_key(raw))


def _prefix_bounds(prefix: str) -> tuple[str, str]:
    return prefix, prefix + "\U0010ffff"


def search_ids(conn, query: Query, limit: int = 200) -> list[int]:
    """Matching patient ids, at most ``limit``. Each kind reads one index in its own order, so
    a short prefix matching 80,000 patients stops after ``limit`` rows instead of sorting
    them all: surname then forenames; a date of birth by surname; a postcode prefix by
    postcode then surname; an NHS number prefix by number."""
    if query.kind == "empty":
        return []
    lo, hi = _prefix_bounds(query.value)
    if query.kind == "nhs":
        sql, args = "SELECT id FROM patients WHERE nhs = ?", [query.value]
    elif query.kind == "nhs_prefix":
        sql, args = "SELECT id FROM patients WHERE nhs >= ? AND nhs < ? ORDER BY nhs", [lo, hi]
    elif query.kind == "dob":
        sql, args = "SELECT id FROM patients WHERE dob = ? ORDER BY dob, surname_key, forenames", [query.value]
    elif query.kind == "postcode":
        sql, args = ("SELECT id FROM patients WHERE postcode_key >= ? AND postcode_key < ?"
                     " ORDER BY postcode_key, surname_key, forenames", [lo, hi])
    else:
        sql, args = "SELECT id FROM patients WHERE surname_key >= ? AND surname_key < ?", [lo, hi]
        if query.forename:
            sql += " AND forenames LIKE ?"
            args.append(query.forename.replace("%", "").replace("_", "") + "%")
        sql += " ORDER BY surname_key, forenames"
    return [r[0] for r in conn.execute(sql + " LIMIT ?", [*args, limit])]


@dataclass(frozen=True)
class ResultRow:
    """What the results table shows for one patient."""

    patient_id: int
    nhs_number: str | None
    name: str
    dob: date
    postcode: str
    type1_active: bool
    type2_active: bool


def result_rows(conn, ids: list[int]) -> list[ResultRow]:
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT p.id, p.nhs, p.surname, p.forenames, p.title, p.dob, p.postcode,"
        f" (SELECT active FROM current_state c WHERE c.patient_id = p.id AND c.kind = 'type1'),"
        f" (SELECT active FROM current_state c WHERE c.patient_id = p.id AND c.kind = 'type2')"
        f" FROM patients p WHERE p.id IN ({marks})",
        ids,
    ).fetchall()
    by_id = {
        r[0]: ResultRow(r[0], r[1], f"{r[2].upper()}, {r[3]}" + (f" ({r[4]})" if r[4] else ""),
                        date.fromisoformat(r[5]), r[6], bool(r[7]), bool(r[8]))
        for r in rows
    }
    return [by_id[i] for i in ids if i in by_id]
