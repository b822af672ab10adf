"""A front-desk search and its result rows are read from one snapshot on the server
(services/server_session.py search_store: REPEATABLE READ, READ ONLY, on the desk's search
connection): another desk's change committed between the two reads is in neither."""

from __future__ import annotations

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import objections, patients, server_session
from gp_optout_desktop.store.server.desk_store import ServerStore
from gp_optout_desktop.ui.models.results_model import fetch
from tests.server.accounts import Register, address

# fetch makes the table's rows too, with fonts and brushes: Qt's GUI objects need a QApplication.
pytestmark = pytest.mark.usefixtures("qapp")


@pytest.fixture
def desks(pg_db):
    reg = Register(pg_db)
    rita = reg.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    mo = reg.add_user("mo", "mo-password-1", roles.MANAGER)
    here = server_session.sign_in(address(pg_db), rita, "rita-password-1")
    there = server_session.sign_in(address(pg_db), mo, "mo-password-1")
    yield here, there
    here.lock()
    there.lock()
    reg.close()


def _between_search_and_rows(monkeypatch, change):
    """Another desk commits ``change`` after this desk's search found its ids, before the rows."""
    real = ServerStore.result_rows

    def rows_after_a_change(store, ids):
        change()
        return real(store, ids)

    monkeypatch.setattr(ServerStore, "result_rows", rows_after_a_change)


def test_the_rows_of_a_search_are_read_from_the_snapshot_the_search_was(desks, monkeypatch):
    here, there = desks
    pid = patients.add(there, surname="Snapshot", forenames="Sue", dob="1970-01-01", postcode_raw="LS1 4AP",
                       nhs="9990000018").data["patient_id"]

    def renamed_and_objecting():
        patients.edit(there, pid, surname="Othername", forenames="Sue", dob="1970-01-01", postcode_raw="LS1 4AP",
                      nhs="9990000018")
        objections.record(there, pid)

    _between_search_and_rows(monkeypatch, renamed_and_objecting)
    found = fetch(here, "Snapshot")
    # As the register was when the search ran: found by "Snapshot", shown as Snapshot, not yet objecting.
    assert found.ids == [pid] and [(r.name, r.type1_active) for r in found.rows] == [("SNAPSHOT, Sue", False)]
    monkeypatch.undo()
    again = fetch(here, "Othername")  # the next search sees the change
    assert [(r.name, r.type1_active) for r in again.rows] == [("OTHERNAME, Sue", True)]


def test_searches_run_read_only_on_a_connection_of_their_own(desks):
    here, _there = desks
    with here.search_store("search") as store:
        assert store.conn is not here.desk.conn
        level, read_only = store.conn.execute(
            "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')").fetchone()
    assert (level, read_only) == ("repeatable read", "on")
    # A write on the desk's own connection meanwhile is not inside a search's transaction.
    patients.add(here, surname="Writer", forenames="Wyn", dob="1970-01-01", postcode_raw="LS1 4AP")
    assert [r.name for r in patients.find(here, "Writer")] == ["WRITER, Wyn"]
    here.lock()
    assert here.search_desk.conn.closed
