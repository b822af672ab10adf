"""Helpers for the server-store tests: an initialised database, practices, desk logins, desks.

Every login is named with the test database's role prefix (the fixture drops them with it).
Desks connect like the app's: TLS verify-full against the pinned CA, SCRAM password."""

from __future__ import annotations

import itertools
import os
import secrets
from dataclasses import dataclass, field
from datetime import date

import psycopg

from gp_optout_desktop.domain.patient import validate_patient
from gp_optout_desktop.store.server import ops, schema

TODAY = date(2026, 12, 1)
_n = itertools.count(1)


@dataclass
class Practice:
    id: int
    data_key: bytes
    logins: list = field(default_factory=list)  # (login, password)


def init(pg_db) -> psycopg.Connection:
    admin = psycopg.connect(pg_db.admin_conninfo)
    schema.init_server(admin)
    return admin


def new_practice(pg_db, admin, name: str = "Practice", logins: int = 1) -> Practice:
    practice = Practice(schema.add_practice(admin, name), os.urandom(32))
    for _ in range(logins):
        add_login(pg_db, admin, practice)
    return practice


def add_login(pg_db, admin, practice: Practice) -> tuple[str, str]:
    login, password = f"{pg_db.role_prefix}desk{next(_n)}", secrets.token_urlsafe(16)
    schema.add_desk_login(admin, practice.id, login, password)
    practice.logins.append((login, password))
    return login, password


def connect(pg_db, login: str, password: str) -> psycopg.Connection:
    return psycopg.connect(pg_db.conninfo(user=login, password=password))


def desk(pg_db, practice: Practice, login_index: int = 0, *, user: str = "alice", role: str = "manager") -> ops.Desk:
    login, password = practice.logins[login_index]
    return ops.Desk.open(connect(pg_db, login, password), practice.data_key, user=user, role=role)


def started(pg_db, practice: Practice, **kw) -> ops.Desk:
    """A desk on a practice whose register has been started (audit entry 1 written)."""
    d = desk(pg_db, practice, **kw)
    if d.head() is None:
        with d.write() as tx:
            ops.start_register(tx, {"name": f"practice {practice.id}"})
    return d


def patient(surname="Smith", forenames="Jane", nhs=None, dob="1980-01-02", postcode="LS1 4AP", **kw):
    return validate_patient(surname=surname, forenames=forenames, dob=dob, postcode_raw=postcode, nhs=nhs,
                            today=TODAY, **kw)


def nhs_numbers(start: int = 0):
    """Valid synthetic NHS numbers (999 ...), Modulus 11 check digit."""
    from gp_optout_desktop.domain.nhs_number import check_digit

    n = start
    while True:
        nine = f"999{n:06d}"
        n += 1
        digit = check_digit(nine)
        if digit is not None:
            yield nine + str(digit)


def add(d: ops.Desk, p) -> int:
    with d.write() as tx:
        return ops.add_patient(tx, p)


def record(d: ops.Desk, patient_id: int, kind="type1", action="register", **kw):
    with d.write() as tx:
        return ops.record_event(tx, patient_id, kind, action, effective=kw.pop("effective", TODAY),
                                received=TODAY, via="desk", today=TODAY, type2_cutoff=date(2026, 6, 30),
                                recorded_at=kw.pop("recorded_at", None) or _now(), **kw)


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
