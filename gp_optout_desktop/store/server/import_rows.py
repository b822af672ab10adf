"""The server's bulk path for the CSV import (services/importer.py): many patients' rows in a few
statements per table instead of a dozen round trips per row (15,000 rows took minutes that way).

COPY FROM is refused on a table with row-level security, and desks may not make temporary
tables, so rows go as arrays: ``INSERT ... SELECT FROM unnest(...)``, one statement per table
per chunk, still under the desk's own login, its policies and the audit-row trigger. Ids come
from the tables' own sequences first (one statement), so each identity blob is sealed to its
row as ops.insert_patient does. A mixin of desk_store.ServerStore.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ...domain.events import EVENT_KINDS, Event, current_status
from ...domain.patient import Patient
from ..registration import Registration
from . import ops

CHUNK = 2000  # patients per round of statements


class ImportRows:
    def patients_by_numbers(self, numbers: list[str]) -> dict[str, Patient]:
        """NHS number -> patient, for those of ``numbers`` in the register (one blind-index query)."""
        if not numbers:
            return {}
        index = {self.desk.keys.nhs_index(n): n for n in numbers}
        rows = self.conn.execute("SELECT id, identity FROM patients WHERE nhs_bidx = ANY(%s)", (list(index),))
        found = {}
        for pid, blob in rows:
            p = self.desk._patient(pid, blob)
            found[p.nhs_number] = p
        return found

    def histories(self, patient_ids: list[int]) -> dict[int, list[Event]]:
        out: dict[int, list[Event]] = {pid: [] for pid in patient_ids}
        if patient_ids:
            for pid, event in self.desk.events_where("e.patient_id = ANY(%s) ORDER BY e.id", (list(patient_ids),)):
                out[pid].append(event)
        return out

    def _ids(self, sequence: str, n: int) -> list[int]:
        return [r[0] for r in self.conn.execute(f"SELECT nextval({sequence}) FROM generate_series(1, %s)", (n,))]

    def import_coded(self, items: list[tuple], *, by: str, at: datetime) -> list[tuple[int, list[int]]]:
        """items: (the known patient's id or None, the new Patient when it is None, [Event], that
        patient's history).
        Each new patient added, each event added coded (by ``by``) and confirmed (by "import"),
        current states refreshed. Returns (patient id, [event id]) per item, in order."""
        out: list[tuple[int, list[int]]] = []
        for start in range(0, len(items), CHUNK):
            out += self._import_chunk(items[start:start + CHUNK], by, at)
        return out

    def insert_patients(self, people: list[Patient], *, by: str = "", at: datetime | None = None) -> list[int]:
        """(``by``/``at``: the server stamps created_by with the desk's user and created_at itself.)
        Many new patients (ops.insert_patient's rows: the blob sealed to its row id, the NHS
        number's blind index, the search tokens) in three statements per chunk; their ids in order.
        Two with one NHS number, or one already in the practice, is the unique index's Conflict."""
        out: list[int] = []
        for start in range(0, len(people), CHUNK):
            out += self._insert_chunk(people[start:start + CHUNK])
        return out

    def _insert_chunk(self, people: list[Patient]) -> list[int]:
        tx, desk, cur = self._writing(), self.desk, self.conn.cursor()
        if not people:
            return []
        ids = self._ids("pg_get_serial_sequence('patients', 'id')", len(people))
        blobs, bidx, tokens = [], [], []
        for pid, p in zip(ids, people):
            blobs.append(desk.keys.seal_patient(desk.practice_id, p, pid))
            bidx.append(desk.keys.nhs_index(p.nhs_number) if p.nhs_number else None)
            tokens += [(t, pid) for t in sorted(desk.keys.search_tokens(p))]
        cur.execute("INSERT INTO patients(id, identity, nhs_bidx, created_by)"
                    " SELECT i, b, x, %s FROM unnest(%s::bigint[], %s::bytea[], %s::bytea[]) AS t(i, b, x)",
                    (desk.user, ids, blobs, bidx))
        cur.execute("INSERT INTO patient_tokens(token, patient_id) SELECT * FROM unnest(%s::bytea[], %s::bigint[])",
                    ([t for t, _ in tokens], [i for _, i in tokens]))
        tx.patients.update(ids)
        return ids

    def _import_chunk(self, items, by, at):
        tx, cur = self._writing(), self.conn.cursor()
        new = iter(self._insert_chunk([p for known_id, p, _events, _h in items if known_id is None]))
        who = [known_id if known_id is not None else next(new) for known_id, _p, _e, _h in items]
        count = sum(len(events) for _e, _p, events, _h in items)
        eids, forms = iter(self._ids("pg_get_serial_sequence('events', 'id')", count)), \
            iter(self._ids("'form_ids'", count))
        events, states, out = [], [], []
        for pid, (_known_id, _p, fresh, history) in zip(who, items):
            made = [replace(e, event_id=next(eids), seq=None) for e in fresh]
            made = [replace(e, seq=e.event_id) for e in made]
            events += [(e.event_id, pid, e.kind, e.action, e.effective, e.received, e.via, next(forms),
                        e.recorded_by, e.recorded_at) for e in made]
            everything = list(history) + made
            for kind in EVENT_KINDS:
                status = current_status(everything, kind)
                if status.event is not None:
                    states.append((pid, kind, status.active, status.since, status.event.event_id))
            out.append((pid, [e.event_id for e in made]))
            tx.patients.add(pid)
        if events:
            cols = list(zip(*events))
            cur.execute(
                "INSERT INTO events(id, patient_id, kind, action, effective, received, via, form_id, recorded_by,"
                " recorded_at) SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::date[],"
                " %s::date[], %s::text[], %s::bigint[], %s::text[], %s::timestamptz[])", [list(c) for c in cols])
            marked = [e[0] for e in events]
            cur.execute("INSERT INTO event_marks(event_id, mark, at, by) SELECT e, m.mark, %s, m.by"
                        " FROM unnest(%s::bigint[]) AS e, (VALUES ('coded', %s), ('confirmed', 'import')) AS m(mark, by)",
                        (at, marked, by))
        if states:
            cols = list(zip(*states))
            cur.execute(
                "INSERT INTO current_state(patient_id, kind, active, since, event_id)"
                " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::boolean[], %s::date[], %s::bigint[])"
                " ON CONFLICT (practice_id, patient_id, kind) DO UPDATE"
                " SET active = excluded.active, since = excluded.since, event_id = excluded.event_id",
                [list(c) for c in cols])
        return out

    # -- the practice list (services/practice_list.py) ----------------------------------------
    def all_patients_by_nhs(self) -> dict[str, Patient]:
        """Every patient with an NHS number, by number, decrypted on the desk."""
        rows = self.conn.execute("SELECT id, identity FROM patients WHERE nhs_bidx IS NOT NULL").fetchall()
        people = (self.desk._patient(pid, blob) for pid, blob in rows)
        return {p.nhs_number: p for p in people}

    def registration_states(self) -> dict[int, Registration]:
        return {r[0]: Registration(*r[1:]) for r in self.conn.execute(
            "SELECT patient_id, status, since, died_on, reregistered_on, merged_into FROM registration")}

    def put_registrations(self, regs: list[tuple[int, Registration]], *, by: str, at: datetime) -> None:
        """registration.put_many on the server: one statement, each row inserted or replaced."""
        tx = self._writing()
        if not regs:
            return
        cols = list(zip(*[(pid, r.status, r.since, r.died_on, r.reregistered_on, r.merged_into) for pid, r in regs]))
        self.conn.execute(
            "INSERT INTO registration(patient_id, status, since, died_on, reregistered_on, merged_into, updated_at,"
            " updated_by) SELECT *, %s, %s FROM unnest(%s::bigint[], %s::text[], %s::date[], %s::date[], %s::date[],"
            " %s::bigint[]) ON CONFLICT (practice_id, patient_id) DO UPDATE SET status = excluded.status,"
            " since = excluded.since, died_on = excluded.died_on, reregistered_on = excluded.reregistered_on,"
            " merged_into = excluded.merged_into, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            (at, by, *[list(c) for c in cols]))
        tx.patients.update(pid for pid, _r in regs)

    def move_history(self, from_id: int, to_id: int) -> int:
        """A merge (store/registration.py move_history): by the server's app_merge_history, the
        one way events move (a practice manager's login only); returns the events moved."""
        tx = self._writing()
        moved = self.conn.execute("SELECT app_merge_history(%s, %s)", (from_id, to_id)).fetchone()[0]
        ops._refresh_current_state(self.conn, to_id, self.desk.history(to_id))
        tx.patients.update((from_id, to_id))
        return moved
