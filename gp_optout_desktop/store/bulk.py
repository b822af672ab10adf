"""Bulk inserts for the demo generator and benchmarks: one executemany per table."""

from __future__ import annotations

from contextlib import contextmanager
from operator import itemgetter

from . import attest


_SECONDARY_INDEXES = {
    "patients_surname": "CREATE INDEX patients_surname ON patients(surname_key, forenames)",
    "patients_dob": "CREATE INDEX patients_dob ON patients(dob, surname_key, forenames)",
    "patients_postcode": "CREATE INDEX patients_postcode ON patients(postcode_key, surname_key, forenames)",
}


@contextmanager
def large_cache(conn, mib: int = 512):
    """A bigger page cache while bulk-loading: the three index builds each scan the whole
    patients table, and at 1,000,000 patients (about 250 MB) the normal 64 MiB cache makes
    each scan decrypt every page again. Set back afterwards, which frees the memory."""
    before = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = {-int(mib) * 1024}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size = {int(before)}")


def insert_patients(conn, rows: list[tuple]) -> None:
    """rows: (id, nhs, title, surname, forenames, surname_key, dob, address_json, postcode, postcode_key, phone, email,
    created_at, created_by): every column, in the table's order.

    Into an empty table, the search indexes are built once afterwards (a sort) rather than
    row by row (random B-tree inserts): about twice as fast for a large demo register."""
    empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM patients)").fetchone()[0]
    if empty:
        for name in _SECONDARY_INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
    sql = ("INSERT INTO patients(id, nhs, title, surname, forenames, surname_key, dob, address, postcode, postcode_key,"
           " phone, email, created_at, created_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
    acc = attest.accumulator_of(conn)
    if acc is not None and attest.columns(conn, "patients") == list(_PATIENT_COLUMNS) and _stored_as_given(rows):
        # The row digest from the rows themselves (the attest module docstring): a row is
        # stored exactly as given, every column in table order, when every value already
        # has its column's type. Otherwise the trigger logs each row.
        with acc.untriggered_inserts("patients"):
            conn.executemany(sql, rows)
        acc.add_rows("patients", rows)
    else:
        conn.executemany(sql, rows)
    if empty:
        for sql in _SECONDARY_INDEXES.values():
            conn.execute(sql)


_PATIENT_COLUMNS = ("id", "nhs", "title", "surname", "forenames", "surname_key", "dob", "address", "postcode",
                    "postcode_key", "phone", "email", "created_at", "created_by")


def _stored_as_given(rows: list[tuple]) -> bool:
    """Whether SQLite stores each patients row unchanged: 14 values, an int id, the NHS number
    a str or NULL, the rest str (a str in the INTEGER id, or an int in a TEXT column, would
    be converted, and its hash would then differ from the stored row's)."""
    if not rows or set(map(len, rows)) != {14}:
        return False
    if set(map(type, map(itemgetter(0), rows))) != {int}:
        return False
    if not set(map(type, map(itemgetter(1), rows))) <= {str, type(None)}:
        return False
    return all(set(map(type, map(itemgetter(i), rows))) == {str} for i in range(2, 14))


def insert_events(conn, rows: list[tuple]) -> None:
    """rows: (id, patient_id, kind, action, effective, received, via, proxy_role, proxy_name, proxy_evidence,
    proxy_verified_by, submitted_by, form_id, recorded_by, recorded_at, coded_at, coded_by)."""
    conn.executemany(
        "INSERT INTO events(id, patient_id, kind, action, effective, received, via, proxy_role, proxy_name,"
        " proxy_evidence, proxy_verified_by, submitted_by, form_id, recorded_by, recorded_at, coded_at, coded_by)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )


def insert_current_state(conn, rows: list[tuple]) -> None:
    """rows: (patient_id, kind, active, since, event_id)."""
    conn.executemany(
        "INSERT OR REPLACE INTO current_state(patient_id, kind, active, since, event_id) VALUES (?,?,?,?,?)", rows
    )


def insert_letters(conn, rows: list[tuple]) -> None:
    """rows: (patient_id, form_id, kind, queued_at, due, sent_at, template_version, printed_count)."""
    conn.executemany(
        "INSERT INTO letters(patient_id, form_id, kind, queued_at, due, sent_at, template_version, printed_count)"
        " VALUES (?,?,?,?,?,?,?,?)",
        rows,
    )


def next_ids(conn) -> tuple[int, int]:
    patient = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM patients").fetchone()[0]
    event = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM events").fetchone()[0]
    return patient, event
