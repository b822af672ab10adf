"""The desk's core flow on the server (store/server/ops.py): start, add, update, record with a
proxy and a letter, mark coded; each write one transaction with its chained audit rows."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.events import Proxy
from gp_optout_desktop.store.errors import Conflict, NewerSchema, NotFound, StoreError
from gp_optout_desktop.store.server import chain, ops, schema
from tests.server import practices as P


@pytest.fixture
def practice(pg_db):
    admin = P.init(pg_db)
    admin.autocommit = True
    p = P.new_practice(pg_db, admin, "A", logins=2)
    yield admin, p
    admin.close()


def test_add_update_record_and_mark_leave_one_verified_chain(pg_db, practice):
    admin, a = practice
    d = P.started(pg_db, a)
    assert d.head().seq == 1 and d.revision() == 1
    pid = P.add(d, P.patient("Smith", "Jane", nhs="9990000018", postcode="LS1 4AP"))
    other = P.add(d, P.patient("Jones", "Ann", nhs="9990000026", postcode="B33 8TH"))
    moved = replace(d.get_patient(pid), surname="Brown", postcode="M1 1AE")
    with d.write() as tx:
        ops.update_patient(tx, moved)
    assert d.get_patient(pid) == moved
    assert d.search_ids("smith") == [] and d.search_ids("brown") == [pid]
    assert d.search_ids("LS1") == [] and d.search_ids("M1 1") == [pid]
    # The new NHS number clashes: refused, and nothing of the update is kept.
    with pytest.raises(Conflict):
        with d.write() as tx:
            ops.update_patient(tx, replace(moved, surname="Clash", nhs_number="9990000026"))
    assert d.get_patient(pid) == moved and d.search_ids("clash") == []
    proxy = Proxy("legal_guardian", "Harriet Guardian", "court order seen", "alice")
    event_id, form_id = P.record(d, pid, proxy=proxy, letter=("register", P.TODAY))
    with d.write() as tx:
        assert ops.mark_event(tx, event_id, "coded", at=P._now()) == 1
    with d.write() as tx:
        assert ops.mark_event(tx, event_id, "coded", at=P._now()) == 0
        tx.audit("event.coded", outcome="already")
    [event] = d.history(pid)
    assert (event.event_id, event.proxy, event.coded_by, event.confirmed_at) == (event_id, proxy, "alice", None)
    assert d.current_state(pid) == {"type1": True} and d.current_state(other) == {}
    letters = admin.execute("SELECT patient_id, form_id, kind FROM letters").fetchall()
    assert letters == [(pid, form_id, "register")]
    actions = [r[0] for r in admin.execute("SELECT action FROM audit ORDER BY seq")]
    assert actions == ["register.create", "patient.create", "patient.create", "patient.update", "letter.queue",
                       "type1.register", "event.coded", "event.coded"]
    patients_named = {r[0] for r in admin.execute("SELECT patient FROM audit WHERE patient <> ''")}
    assert patients_named == {d.keys.audit_ref("9990000018", pid), d.keys.audit_ref("9990000026", other)}
    result = chain.verify(d.conn, d.keys.audit_key, a.id, d.head())
    assert result.ok and result.rows == 8


def test_a_refused_event_writes_nothing(pg_db, practice):
    _admin, a = practice
    d = P.started(pg_db, a)
    pid = P.add(d, P.patient(nhs="9990000018"))
    before = (d.revision(), d.head())
    with pytest.raises(ValidationError, match="Nothing to withdraw"):
        P.record(d, pid, action="withdraw")
    with pytest.raises(NotFound):
        P.record(d, pid + 1000)
    with pytest.raises(AssertionError, match="audit row"):
        with d.write():
            pass
    assert (d.revision(), d.head()) == before and d.history(pid) == []


def test_a_login_without_a_practice_or_on_a_newer_schema_is_refused(pg_db, practice):
    admin, a = practice
    login, password = a.logins[1]
    admin.execute("DELETE FROM desks WHERE login = %s", (login,))
    with pytest.raises(StoreError, match="not mapped to a practice"):
        ops.Desk.open(P.connect(pg_db, login, password), a.data_key, user="bob", role="receptionist")
    admin.execute("INSERT INTO schema_version(version) VALUES (%s)", (schema.LATEST + 1,))
    with pytest.raises(NewerSchema):
        P.desk(pg_db, a)


def test_a_desk_with_the_wrong_practice_key_cannot_read_and_says_so(pg_db, practice):
    _admin, a = practice
    d = P.started(pg_db, a)
    pid = P.add(d, P.patient(nhs="9990000018"))
    wrong = ops.Desk.open(P.connect(pg_db, *a.logins[1]), bytes(32), user="bob", role="receptionist")
    assert wrong.search_ids("9990000018") == []  # its blind index finds nothing
    with pytest.raises(StoreError, match="fails its check"):
        wrong.get_patient(pid)
