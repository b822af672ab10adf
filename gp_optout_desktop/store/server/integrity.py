"""The integrity check of one practice on the server (ADR 0011 addendum "on a server").

AES-GCM already refuses a sealed row that was altered or moved when it is read, so nothing
damaged is shown silently. What this check adds, in ONE read-only REPEATABLE READ snapshot
(other desks keep writing) on the connection it is given:

1. the practice's audit chain, first entry to head (chain.verify's rules);
2. every patient row's sealed details open under the practice key, bound to that row (a blob
   swapped between two rows fails), and its blind indexes are its details': the NHS number's
   index and the search tokens (an index altered behind the app would find the wrong patient,
   or none);
3. every proxy's sealed name opens on its own event row;
4. every patient's current state is the one its event history gives (domain.events);
5. every objection the chain records (``type1.register`` etc. with ``form=N``) is an event of
   that kind and action with that form id (an event deleted or changed behind the app).

Problems name rows by their internal ids and entries by seq, never a patient's details.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ...domain.events import EVENT_KINDS, current_status
from ..errors import RegisterCorrupt
from . import chain, ops, reading

MAX_NAMED = 20  # a check stops collecting after this many problems (the first is the one shown)


@dataclass(frozen=True)
class ServerCheck:
    ok: bool
    at: datetime
    seconds: float
    problems: tuple[str, ...] = ()
    counts: dict = field(default_factory=dict)

    @property
    def problem(self) -> str:
        return self.problems[0] if self.problems else ""

    def describe(self) -> str:
        when = self.at.astimezone().strftime("%H:%M")
        if self.ok:
            return (f"Server check at {when}: the audit trail ({self.counts.get('audit', 0)} entries), "
                    f"{self.counts.get('patients', 0)} patients and {self.counts.get('events', 0)} events agree; "
                    "no damage found.")
        more = f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
        return (f"The practice on the server failed its integrity check at {when}: {self.problem}{more} "
                "Tell your practice manager: the register on the server was changed outside the program "
                "(see the server set-up guide, integrity checks).")


def check_practice(desk: ops.Desk) -> ServerCheck:
    """Check the practice ``desk`` sees, on ``desk.conn`` (give it a connection of its own:
    the check holds it for the whole read)."""
    start, at = time.perf_counter(), datetime.now(timezone.utc)
    problems: list[str] = []
    conn = desk.conn
    with reading.snapshot(conn):
        verification = chain.verify(conn, desk.keys.audit_key, desk.practice_id,
                                    retired=desk.keys.retired_audit_keys)  # a re-keyed practice's epochs
        if not verification.ok:
            problems.append(f"The audit trail has been altered: {verification.problem}")
        patients = _patients(desk, problems)
        events = _events(desk, problems)
        _current_state(conn, events, problems)
        _chain_events(conn, problems)
    counts = {"audit": verification.rows, "patients": patients, "events": sum(len(v) for v in events.values())}
    return ServerCheck(not problems, at, time.perf_counter() - start, tuple(problems[:MAX_NAMED]), counts)


def _patients(desk: ops.Desk, problems: list[str]) -> int:
    conn, keys = desk.conn, desk.keys
    tokens: dict[int, set[bytes]] = {}
    for token, pid in conn.execute("SELECT token, patient_id FROM patient_tokens"):
        tokens.setdefault(pid, set()).add(bytes(token))
    n = 0
    for pid, blob, nhs_bidx in conn.execute("SELECT id, identity, nhs_bidx FROM patients ORDER BY id").fetchall():
        n += 1
        try:
            p = desk._patient(pid, blob)
        except RegisterCorrupt:
            problems.append(f"Patient row {pid}: its sealed details do not open under the practice key on that row "
                            "(altered, or moved from another row).")
            continue
        want = keys.nhs_index(p.nhs_number) if p.nhs_number else None
        if (bytes(nhs_bidx) if nhs_bidx is not None else None) != want:
            problems.append(f"Patient row {pid}: its NHS number index does not match its sealed details "
                            "(altered behind the program).")
        if tokens.get(pid, set()) != keys.search_tokens(p):
            problems.append(f"Patient row {pid}: its search indexes do not match its sealed details "
                            "(altered behind the program).")
    return n


def _events(desk: ops.Desk, problems: list[str]) -> dict[int, list]:
    """Every event by patient, in history order; a proxy's sealed name that does not open on
    its own row is named, and that event left out (the rest are still checked)."""
    bad = []
    for eid, blob in desk.conn.execute("SELECT id, proxy FROM events WHERE proxy_role IS NOT NULL ORDER BY id"
                                       ).fetchall():
        try:
            desk.keys.open(desk.practice_id, "events", eid, blob)
        except RegisterCorrupt:
            bad.append(eid)
            problems.append(f"Event row {eid}: its proxy's sealed name does not open on that row "
                            "(altered, or moved from another row).")
    by_patient: dict[int, list] = {}
    for pid, e in desk.events_where("NOT (e.id = ANY(%s)) ORDER BY e.effective, e.id", (bad,)):
        by_patient.setdefault(pid, []).append(e)
    return by_patient


def _current_state(conn, events: dict[int, list], problems: list[str]) -> None:
    stored = {(pid, kind): (bool(active), since, eid) for pid, kind, active, since, eid in
              conn.execute("SELECT patient_id, kind, active, since, event_id FROM current_state")}
    expected = {}
    for pid, history in events.items():
        for kind in EVENT_KINDS:
            status = current_status(history, kind)
            if status.event is not None:
                expected[(pid, kind)] = (status.active, status.since, status.event.event_id)
    for key in sorted(set(stored) | set(expected)):
        if stored.get(key) != expected.get(key):
            problems.append(f"Patient row {key[0]}: its current {key[1]} state is not the one its history gives "
                            "(altered behind the program).")


def _chain_events(conn, problems: list[str]) -> None:
    kinds = tuple(f"{kind}.%" for kind in EVENT_KINDS)
    found = {form: (kind, action) for form, kind, action in conn.execute("SELECT form_id, kind, action FROM events")}
    named = conn.execute("SELECT seq, action, detail FROM audit WHERE action LIKE ANY(%s) AND detail LIKE 'form=%%'"
                         " ORDER BY seq", (list(kinds),)).fetchall()
    for seq, action, detail in named:
        value = detail.split("=", 1)[1]
        if not value.isdigit():
            continue  # not an event's entry (an edited one is the chain's to name)
        form = int(value)
        kind, _, act = action.partition(".")
        if found.get(form) != (kind, act):
            problems.append(f"Audit entry {seq} records form {form} ({action}), but the register has no such event "
                            "(deleted or changed behind the program).")
