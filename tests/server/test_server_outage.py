"""Hazard H-76: the server goes away. A desk whose connection is lost in the middle of a
recording, or that finds the server stopped, is told "Nothing was saved", and nothing of
that recording is on the server afterwards (no half-written patient, no audit entry, no
revision). The desk has no local register to fall back to."""

from __future__ import annotations

from urllib.parse import quote

import psycopg
import pytest

from gp_optout_desktop.store.errors import ServerUnreachable
from gp_optout_desktop.store.server import connect, ops
from tests.server import practices as P


@pytest.fixture
def practice(pg_db):
    admin = P.init(pg_db)
    admin.autocommit = True
    practice = P.new_practice(pg_db, admin, "A", logins=2)
    yield admin, practice
    admin.close()


def state(pg_db, practice):
    """What the server holds for the practice, read by a fresh desk connection."""
    d = P.desk(pg_db, practice, 1, user="bob", role="receptionist")
    try:
        return d.revision(), d.head(), d.search_ids("Outage")
    finally:
        d.conn.close()


def test_a_connection_lost_mid_recording_saves_nothing(pg_db, practice):
    admin, prac = practice
    desk = P.started(pg_db, prac)
    before = state(pg_db, prac)
    with pytest.raises(ServerUnreachable, match="Nothing was saved"):
        with desk.write() as tx:
            ops.add_patient(tx, P.patient("Outage", "Patient", nhs="9990000018"))
            # The server drops this desk's session (a crash, a restart, a network cut).
            admin.execute("SELECT pg_terminate_backend(%s)", (desk.conn.info.backend_pid,))
    assert desk.conn.broken or desk.conn.closed
    assert state(pg_db, prac) == before
    assert before[2] == []


def test_a_stopped_server_is_reported_and_nothing_is_saved(pg_db, practice):
    admin, prac = practice
    server = pg_db.server
    desk = P.started(pg_db, prac)
    before = state(pg_db, prac)
    address = connect.parse(f"postgresql://{server.host}:{server.port}/{pg_db.dbname}"
                            f"?sslrootcert={quote(str(server.ca_file))}&connect_timeout=3")
    login, password = prac.logins[0]
    admin.close()
    server.halt()
    try:
        with pytest.raises(ServerUnreachable, match="Nothing was saved"):
            P.add(desk, P.patient("Outage", "Patient", nhs="9990000018"))
        with pytest.raises(ServerUnreachable, match="cannot be reached .* Nothing was saved"):
            connect.connect(address, login, password)
    finally:
        server.resume()
    assert state(pg_db, prac) == before
    # Back up: the same desk login signs in again and records normally.
    again = ops.Desk.open(connect.connect(address, login, password), prac.data_key, user="alice", role="manager")
    with again.conn:
        P.add(again, P.patient("Outage", "Patient", nhs="9990000018"))
        assert len(again.search_ids("Outage")) == 1 and again.revision() == before[0] + 1
    with pytest.raises(psycopg.OperationalError):
        desk.conn.execute("SELECT 1")  # the old session did not survive the outage
