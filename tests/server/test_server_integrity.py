"""The integrity check of a server practice (ADR 0011 addendum "on a server"), on the real test
cluster: a practice recorded through the services passes; then rows are changed behind the
program by the database's superuser (who holds every grant but not the practice's keys): a
sealed blob swapped between two patients, a blind index altered, a search token removed, an
audit entry edited, an event's action changed, a current state flipped, a proxy's sealed name
moved. Each is found and named by row or entry number; the failure is audited with no
patient's details in the trail or the log."""

from __future__ import annotations

import logging

import psycopg
import pytest

from gp_optout_desktop.domain import nhs_number, roles
from gp_optout_desktop.domain.events import Proxy
from gp_optout_desktop.services import integrity, objections, patients, server_integrity, server_session
from tests.server import accounts
from tests.server.test_server_export import practice_a  # noqa: F401  (a fixture)

pytestmark = pytest.mark.server


@pytest.fixture
def server(pg_db):
    reg = accounts.Register(pg_db)
    reg.mo = reg.add_user("mo", "mo-password-1", roles.MANAGER)
    reg.manager = server_session.sign_in(accounts.address(pg_db), reg.mo, "mo-password-1")
    reg.made = []
    for i in range(4):
        number = nhs_number.synthetic(780_000 + 10 * i)
        pid = patients.add(reg.manager, surname=f"Check{i}", forenames="Carol", dob="1960-02-03",
                           postcode_raw="LS1 4AP", nhs=number).data["patient_id"]
        proxy = Proxy("lpa_health_welfare", "Pat Attorney", "LPA seen", reg.mo) if i == 3 else None
        objections.record(reg.manager, pid, proxy=proxy, donor_lacks_capacity=proxy is not None)
        reg.made.append((pid, number))
    yield reg
    reg.manager.lock()
    reg.close()


def _as_superuser(pg_db, sql: str, args=()) -> None:
    with psycopg.connect(pg_db.admin_conninfo, autocommit=True) as admin:
        assert admin.execute(sql, args).rowcount >= 1


def _failed(server, caplog) -> list[str]:
    with caplog.at_level(logging.DEBUG):
        result = server_integrity.check(server.manager)
    assert not result.ok
    last = server.audit()[-1]
    assert last[3:5] == ("register.check", "failed") and result.problem in last[5]
    for _pid, number in server.made:  # no patient's details in the trail nor the log
        assert not any(number in str(r) or "Check" in str(r[5]) for r in server.audit())
        assert number not in caplog.text
    return list(result.problems)


def test_a_practice_recorded_through_the_program_passes_and_the_check_is_audited(server):
    result = integrity.check(server.manager)  # the services' entry point, on a server
    assert result.ok, result.problems
    assert result.counts["patients"] == 4 and result.counts["events"] == 4 and result.counts["audit"] > 8
    assert result.describe().startswith("Server check at ") and "no damage found" in result.describe()
    assert server.audit()[-1][3:5] == ("register.check", "ok")
    assert integrity.last(server.manager) is result
    # The background check after a sign-in is audited only when it fails.
    before = server.audit()
    assert integrity.check(server.manager, why="after unlock").ok
    assert server.audit() == before


def test_a_sealed_blob_swapped_between_two_patients_is_found(pg_db, server, caplog):
    (a, _), (b, _) = server.made[:2]
    _as_superuser(pg_db, "UPDATE patients p SET identity = q.identity FROM patients q"
                         " WHERE (p.id, q.id) IN ((%s, %s), (%s, %s))", (a, b, b, a))
    problems = _failed(server, caplog)
    assert problems == [f"Patient row {pid}: its sealed details do not open under the practice key on that row "
                        "(altered, or moved from another row)." for pid in (a, b)]


def test_an_altered_blind_index_or_a_removed_search_token_is_found(pg_db, server, caplog):
    (a, _), (b, _) = server.made[:2]
    _as_superuser(pg_db, "UPDATE patients SET nhs_bidx = decode(repeat('ab', length(nhs_bidx)), 'hex') WHERE id = %s",
                  (a,))
    _as_superuser(pg_db, "DELETE FROM patient_tokens WHERE ctid = (SELECT ctid FROM patient_tokens"
                         " WHERE patient_id = %s LIMIT 1)", (b,))
    assert _failed(server, caplog) == [
        f"Patient row {a}: its NHS number index does not match its sealed details (altered behind the program).",
        f"Patient row {b}: its search indexes do not match its sealed details (altered behind the program)."]


def test_an_edited_audit_entry_is_found(pg_db, server, caplog):
    seq = next(r[0] for r in server.audit() if r[3] == "type1.register")
    _as_superuser(pg_db, "UPDATE audit SET detail = 'form=999' WHERE seq = %s", (seq,))
    problems = _failed(server, caplog)
    assert problems[0] == f"The audit trail has been altered: entry {seq} was changed after it was written."


def test_an_event_changed_behind_the_program_is_found_against_its_state_and_the_trail(pg_db, server, caplog):
    pid, _ = server.made[0]
    eid, form = server.manager.desk.conn.execute("SELECT id, form_id FROM events WHERE patient_id = %s",
                                                 (pid,)).fetchone()
    _as_superuser(pg_db, "UPDATE events SET action = 'withdraw' WHERE id = %s", (eid,))
    problems = _failed(server, caplog)
    assert f"Patient row {pid}: its current type1 state is not the one its history gives (altered behind the " \
           "program)." in problems
    assert any(p.startswith("Audit entry ") and f"records form {form} (type1.register), but the register has no "
               "such event" in p for p in problems), problems


def test_a_flipped_current_state_or_a_moved_proxy_name_is_found(pg_db, server, caplog):
    pid, _ = server.made[1]
    _as_superuser(pg_db, "UPDATE current_state SET active = false WHERE patient_id = %s", (pid,))
    proxied = server.manager.desk.conn.execute("SELECT id FROM events WHERE proxy_role IS NOT NULL").fetchone()[0]
    other = server.manager.desk.conn.execute("SELECT id FROM events WHERE id <> %s ORDER BY id LIMIT 1",
                                             (proxied,)).fetchone()[0]
    _as_superuser(pg_db, "UPDATE events SET proxy = (SELECT proxy FROM events WHERE id = %s), proxy_role = 'lpa_health_welfare'"
                         " WHERE id = %s", (proxied, other))
    problems = _failed(server, caplog)
    assert f"Event row {other}: its proxy's sealed name does not open on that row (altered, or moved from another " \
           "row)." in problems
    assert f"Patient row {pid}: its current type1 state is not the one its history gives (altered behind the " \
           "program)." in problems
    # A failure stays for the session: a later passing check does not hide it.
    _as_superuser(pg_db, "UPDATE current_state SET active = true WHERE patient_id = %s", (pid,))
    _as_superuser(pg_db, "UPDATE events SET proxy = NULL, proxy_role = NULL WHERE id = %s", (other,))
    assert server_integrity.check(server.manager).ok
    assert not integrity.last(server.manager).ok


def test_a_practice_moved_from_a_register_file_passes(practice_a):
    """The demo register (300 patients, their events, the practice-wide opt-out) moved onto the
    server, then an objection and a coded mark recorded there: every row agrees, every row checked."""
    _a, session = practice_a
    result = server_integrity.check(session)
    assert result.ok, result.problems
    events = session.desk.conn.execute("SELECT count(*) FROM events").fetchone()[0]
    assert result.counts["patients"] == 300 and result.counts["events"] == events > 1
