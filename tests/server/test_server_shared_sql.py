"""The register file's own store functions (store/events.py, store/meta.py), unchanged, on the
server through the placeholder adapter: same SQL, same results, each practice's rows only."""

from __future__ import annotations

from datetime import date, datetime, timezone

from gp_optout_desktop.store import events as events_store
from gp_optout_desktop.store import meta
from gp_optout_desktop.store.server.adapter import Adapted
from tests.server import practices as P


def test_shared_store_functions_run_unchanged_under_row_level_security(pg_db):
    admin = P.init(pg_db)
    a, b = P.new_practice(pg_db, admin, "A"), P.new_practice(pg_db, admin, "B")
    desk_a, desk_b = P.started(pg_db, a), P.started(pg_db, b)
    pid = P.add(desk_a, P.patient(nhs="9990000018"))
    P.record(desk_a, pid)
    other = P.add(desk_a, P.patient("Jones", nhs="9990000026"))
    at = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
    with desk_a.write() as tx:
        shared = Adapted(tx.conn)
        events_store.add_signpost(shared, pid, date(2026, 11, 30), by="alice", at=at)
        events_store.add_signpost(shared, pid, date(2026, 11, 2), by="alice", at=at)
        tx.audit("ndoo.signposted", desk_a.keys.audit_ref("9990000018", pid))
    shared_a, shared_b = Adapted(desk_a.conn), Adapted(desk_b.conn)
    assert events_store.signposts(shared_a, pid) == [date(2026, 11, 2), date(2026, 11, 30)]
    assert events_store.type1_active(shared_a, pid) is True
    assert events_store.type1_active(shared_a, other) is False
    assert events_store.counts(shared_a) == {"type1_active": 1}
    assert meta.get(shared_a, "practice") == {"name": f"practice {a.id}"}
    # Practice B, through the same functions, sees none of A's rows.
    assert events_store.signposts(shared_b, pid) == []
    assert events_store.counts(shared_b) == {}
    assert meta.get(shared_b, "practice") == {"name": f"practice {b.id}"}
    rows = admin.execute("SELECT practice_id FROM signposts").fetchall()
    assert rows == [(a.id,), (a.id,)]  # practice_id came from the column default, not the SQL
    admin.close()
