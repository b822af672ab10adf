"""Bulk inserts (the demo generator, benchmarks, the practice list and objections imports):
one executemany per table."""

from __future__ import annotations

from contextlib import contextmanager

from . import attest


_INT, _INT_OR_NULL = frozenset({int}), frozenset({int, type(None)})
_TEXT, _TEXT_OR_NULL = frozenset({str}), frozenset({str, type(None)})

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
    _insert_digested(conn, "patients", _PATIENT_COLUMNS, rows, meanwhile=_build_indexes if empty else None)


def _build_indexes(conn) -> None:
    for sql in _SECONDARY_INDEXES.values():
        conn.execute(sql)


_PATIENT_COLUMNS = {"id": _INT, "nhs": _TEXT_OR_NULL, "title": _TEXT, "surname": _TEXT, "forenames": _TEXT,
                    "surname_key": _TEXT, "dob": _TEXT, "address": _TEXT, "postcode": _TEXT, "postcode_key": _TEXT,
                    "phone": _TEXT, "email": _TEXT, "created_at": _TEXT, "created_by": _TEXT}
_EVENT_COLUMNS = {"id": _INT, "patient_id": _INT, "kind": _TEXT, "action": _TEXT, "effective": _TEXT,
                  "received": _TEXT, "via": _TEXT, "proxy_role": _TEXT_OR_NULL, "proxy_name": _TEXT_OR_NULL,
                  "proxy_evidence": _TEXT_OR_NULL, "proxy_verified_by": _TEXT_OR_NULL, "submitted_by": _INT_OR_NULL,
                  "form_id": _INT, "recorded_by": _TEXT, "recorded_at": _TEXT, "coded_at": _TEXT_OR_NULL,
                  "coded_by": _TEXT_OR_NULL}


_STATE_COLUMNS = {"patient_id": _INT, "kind": _TEXT, "active": _INT, "since": _TEXT_OR_NULL, "event_id": _INT_OR_NULL}


def _insert_digested(conn, table: str, columns: dict[str, frozenset], rows: list[tuple], verb: str = "INSERT",
                     meanwhile=None) -> None:
    """One executemany into an attested table, then ``meanwhile(conn)`` if given. The row
    digest is taken from the rows themselves (the attest module docstring) when each is
    stored exactly as given, hashed during ``meanwhile``; otherwise the table's trigger
    logs each row as stored."""
    names = list(columns)
    sql = f"{verb} INTO {table}({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    acc = attest.accumulator_of(conn)
    if acc is not None and _stored_as_given(conn, table, columns, rows):
        with acc.untriggered_inserts(table):
            conn.executemany(sql, rows)
        if meanwhile is None:
            acc.add_rows(table, rows)
            return
        with acc.adding_rows(table, rows):
            meanwhile(conn)
        return
    conn.executemany(sql, rows)
    if meanwhile is not None:
        meanwhile(conn)


def _stored_as_given(conn, table: str, columns: dict[str, frozenset], rows: list[tuple]) -> bool:
    """Whether SQLite stores each row unchanged, so that its hash is the stored row's: the
    table's columns are ``columns`` in this order, then only columns that take NULL (left out
    of a row's hash, trailing); each row has one value per column, each of a type its column
    keeps as it is (a str in an INTEGER column, or an int in a TEXT one, would be converted)."""
    info = list(conn.execute(f"PRAGMA main.table_info({table})"))
    if [c[1] for c in info[:len(columns)]] != list(columns):
        return False
    if any(c[3] or c[4] is not None for c in info[len(columns):]):  # NOT NULL or a default: not NULL when left out
        return False
    if not rows or set(map(len, rows)) != {len(columns)}:
        return False
    for start in range(0, len(rows), _CHECKED_AT_ONCE):  # each column's values, transposed at C speed
        part = rows[start:start + _CHECKED_AT_ONCE]
        if not all(set(map(type, values)) <= allowed for values, allowed in zip(zip(*part), columns.values())):
            return False
    return True


_CHECKED_AT_ONCE = 2_000  # rows transposed at a time: each zip(*rows) holds the GIL (14 ms for 15,000 events)


def insert_events(conn, rows: list[tuple]) -> None:
    """rows: (id, patient_id, kind, action, effective, received, via, proxy_role, proxy_name, proxy_evidence,
    proxy_verified_by, submitted_by, form_id, recorded_by, recorded_at, coded_at, coded_by)."""
    _insert_digested(conn, "events", _EVENT_COLUMNS, rows)


def insert_confirmed_events(conn, rows: list[tuple]) -> None:
    """``insert_events``' rows followed by (confirmed_at, confirmed_by): events stored already
    coded and confirmed (the objections import), in their final state at once."""
    _insert_digested(conn, "events", _CONFIRMED_EVENT_COLUMNS, rows)


_CONFIRMED_EVENT_COLUMNS = {**_EVENT_COLUMNS, "confirmed_at": _TEXT_OR_NULL, "confirmed_by": _TEXT_OR_NULL}


def insert_current_state(conn, rows: list[tuple]) -> None:
    """rows: (patient_id, kind, active, since, event_id)."""
    # A replaced row is still logged by the delete trigger (recursive triggers are on): only
    # the inserts are hashed here.
    _insert_digested(conn, "current_state", _STATE_COLUMNS, rows, verb="INSERT OR REPLACE")


def insert_letters(conn, rows: list[tuple]) -> None:
    """rows: (id, patient_id, form_id, kind, queued_at, due, sent_at, template_version, printed_count).
    Ids given (from ``next_ids``) so each row is stored as given and hashed here, not logged."""
    _insert_digested(conn, "letters", _LETTER_COLUMNS, rows)


_LETTER_COLUMNS = {"id": _INT, "patient_id": _INT, "form_id": _INT_OR_NULL, "kind": _TEXT, "queued_at": _TEXT,
                   "due": _TEXT, "sent_at": _TEXT_OR_NULL, "template_version": _TEXT_OR_NULL, "printed_count": _INT}


def next_ids(conn) -> tuple[int, int, int]:
    """The next patient, event and letter ids."""
    return conn.execute("SELECT (SELECT coalesce(max(id), 0) + 1 FROM patients),"
                        " (SELECT coalesce(max(id), 0) + 1 FROM events),"
                        " (SELECT coalesce(max(id), 0) + 1 FROM letters)").fetchone()
