"""Search on the server (store/server/ops.py): the same patients in the same order as the
register file's search, each kind through an index (EXPLAIN), and NOTIFY carrying only a
revision and patient ids."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import datetime, timezone

import pytest

from gp_optout_desktop.store import patients as patients_store
from gp_optout_desktop.store import schema as file_schema
from gp_optout_desktop.store.server import ops
from tests.server import practices as P

SURNAMES = ["Smith", "Smithson", "Smyth", "SMITH", "Smit", "O'Brien", "Ørsted", "Straße", "Strasse", "de la Cruz",
            "Jones", "Jonas", "Li", "Lee", "Ng", "Patel", "Pate", "Zed"]
FORENAMES = ["Jane", "john", "Jo", "Ann", "anna", "Émile", "Zoë", "J"]
POSTCODES = ["LS1 4AP", "LS14 6AA", "SW1A 1AA", "SW1A 2AA", "N1 9GU", "M1 1AE", "ZZ99 3VZ", "B33 8TH"]
DOBS = ["1980-01-02", "1980-02-01", "2001-12-31", "1955-06-15", "2019-03-03"]


@pytest.fixture(scope="module")
def seeded_patients():
    rng = random.Random(15)
    numbers = P.nhs_numbers(0)
    out = []
    for _ in range(400):
        nhs = next(numbers) if rng.random() < 0.85 else None
        out.append(P.patient(rng.choice(SURNAMES), rng.choice(FORENAMES), nhs=nhs, dob=rng.choice(DOBS),
                             postcode=rng.choice(POSTCODES)))
    return out


@pytest.fixture
def both(pg_db, seeded_patients):
    """The same patients, in the same order, in a register file's schema and on the server."""
    lite = sqlite3.connect(":memory:")
    for step in file_schema.MIGRATIONS:
        lite.executescript(step)
    at = datetime(2026, 12, 1, tzinfo=timezone.utc)
    file_ids = [patients_store.insert(lite, p, by="alice", at=at) for p in seeded_patients]
    admin = P.init(pg_db)
    admin.autocommit = True
    practice = P.new_practice(pg_db, admin, "A", logins=2)
    d = P.started(pg_db, practice)
    with d.write() as tx:
        server_ids = [ops.add_patient(tx, p) for p in seeded_patients]
    assert server_ids == file_ids
    admin.execute("ANALYZE")
    yield lite, d, practice, admin
    admin.close()


def _queries(patients) -> list[str]:
    out = {"s", "S", "sm", "smi", "smith", "SMITHS", "smyth", "o'b", "ør", "stra", "straß", "strasse", "de la",
           "Smith, j", "smith, JO", "Jon, a", "li", "zed", ", j", "LS1", "ls14", "LS1 4", "ls14 6aa", "sw1a",
           "SW1A 1AA", "SW1A1AA", "n1", "ZZ99", "b33 8", "02/01/1980", "1980-01-02", "31.12.2001", "999",
           "99900", "999000012", "nobody"}
    for p in patients[:25]:
        if p.nhs_number:
            out.add(p.nhs_number)
            out.add(f"{p.nhs_number[:3]} {p.nhs_number[3:6]} {p.nhs_number[6:]}")
            out.add(p.nhs_number[:7])
    return sorted(out)


def test_search_finds_what_the_register_files_search_finds_in_the_same_order(both, seeded_patients):
    lite, d, _practice, _admin = both
    for limit in (200, 7):
        for text in _queries(seeded_patients):
            expected = patients_store.search_ids(lite, patients_store.parse_query(text), limit)
            assert d.search_ids(text, limit) == expected, (text, limit)
    # ... and the searches are not all empty
    assert len(d.search_ids("smi")) > 20 and len(d.search_ids("sw1a")) > 20


def _plan(conn, sql, args) -> str:
    plan = conn.execute("EXPLAIN (FORMAT JSON) " + sql, args).fetchone()[0]
    conn.rollback()
    return json.dumps(plan)


KINDS = [("9990000018", "nhs", "patients_nhs"), ("99900", "nhs_prefix", "patient_tokens_pkey"),
         ("smi", "surname", "patient_tokens_pkey"), ("smithson", "surname", "patient_tokens_pkey"),
         ("1980-01-02", "dob", "patient_tokens_pkey"), ("LS1 4", "postcode", "patient_tokens_pkey")]


def test_each_kind_of_search_reads_an_index(both):
    _lite, d, _practice, _admin = both
    for text, kind, index in KINDS:
        query = patients_store.parse_query(text)
        assert query.kind == kind
        plan = _plan(d.conn, *ops.search_sql(d.keys, query))
        assert f'"Index Name": "{index}"' in plan, (text, plan)
        assert '"Seq Scan"' not in plan, (text, plan)


def test_notify_carries_only_the_revision_and_patient_ids_and_a_rollback_sends_nothing(both, pg_db):
    _lite, d, practice, _admin = both
    listener = P.connect(pg_db, *practice.logins[1])
    listener.autocommit = True
    listener.execute(f"LISTEN {ops.channel(practice.id)}")
    target = d.search_ids("smith")[0]
    P.record(d, target)
    # stop_after=1 returns as soon as it arrives; the long timeout only spares a loaded machine.
    heard = list(listener.notifies(timeout=10.0, stop_after=1))
    assert len(heard) == 1
    assert json.loads(heard[0].payload) == {"rev": d.revision(), "patients": [target]}
    with pytest.raises(RuntimeError):
        with d.write() as tx:
            ops.add_patient(tx, P.patient("Rolledback", nhs=next(P.nhs_numbers(500_000))))
            raise RuntimeError("the desk gave up")
    assert list(listener.notifies(timeout=1.0, stop_after=1)) == []
    # A desk that was away catches up by revision: it was at rev, the server is now further on.
    seen = json.loads(heard[0].payload)["rev"]
    later = next(P.nhs_numbers(600_000))
    P.add(d, P.patient("Later", nhs=later))
    assert d.revision() == seen + 1
    assert list(listener.notifies(timeout=10.0, stop_after=1))[0].payload == json.dumps(
        {"rev": seen + 1, "patients": [d.search_ids(later)[0]]}, separators=(",", ":"))
    listener.close()


def test_notify_drops_an_id_list_too_long_for_one_notification():
    payload = ops.notify_payload(5, range(100_000, 102_000))
    assert json.loads(payload) == {"rev": 5, "patients": None} and len(payload) < ops.NOTIFY_LIMIT
    assert json.loads(ops.notify_payload(6, {3, 1})) == {"rev": 6, "patients": [1, 3]}
