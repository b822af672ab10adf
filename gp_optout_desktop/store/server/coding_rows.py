"""The server's side of coding in the clinical system (server schema V6, schema_coding.py): the
practice-wide opt-out's code rows, confirmations and the reconciliation runs, answering as the
register file's store/coding.py does (ISO text for dates and times, rows in the same order) so
services/coding.py, services/reconcile.py and services/exclusion.py run unchanged on either
engine. A mixin of desk_store.ServerStore: ``self.conn``, ``self.desk``, ``self._writing()``.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

from ...domain.practice_list import INACTIVE
from ..codes_repo import SavedTable
from ...domain.practice_policy import PolicyChange

_LATEST = "SELECT patient_id, max(id) AS id FROM practice_codes GROUP BY patient_id"
_OBJECTS = ("EXISTS (SELECT 1 FROM current_state c WHERE c.practice_id = {t}.practice_id"
            " AND c.patient_id = {t}.{p} AND c.kind = 'type1' AND c.active)")
_OPTED_IN = ("EXISTS (SELECT 1 FROM current_state c WHERE c.practice_id = {t}.practice_id"
             " AND c.patient_id = {t}.{p} AND c.kind = 'include' AND c.active)")
_STILL_HERE = ("NOT EXISTS (SELECT 1 FROM registration r WHERE r.practice_id = {t}.practice_id"
               " AND r.patient_id = {t}.{p} AND r.status = ANY(%(inactive)s))")
_INACTIVE = sorted(INACTIVE)
RUN_COLUMNS = ("id", "at", "run_by", "source", "encoding", "delimiter", "rows", "not_coded", "not_in_register",
               "differ", "agree", "rows_not_in_register", "rows_differ", "rows_agree", "confirmed",
               "not_coded_oldest")


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat()


def _who(t: str, p: str) -> dict[str, str]:
    return {"objects": _OBJECTS.format(t=t, p=p), "opted_in": _OPTED_IN.format(t=t, p=p),
            "here": _STILL_HERE.format(t=t, p=p)}


class CodingRows:
    # -- reads ---------------------------------------------------------------------------
    def _people(self, rows, with_patient: bool, at: int = 1) -> list[tuple]:
        """Rows with (nhs, title, forenames, surname, ISO dob) of the patient in column ``at``
        appended, decrypted on the desk (the server holds only the sealed identity)."""
        if not with_patient:
            return rows
        people = self.get_patients(sorted({r[at] for r in rows}))
        out = []
        for r in rows:
            p = people[r[at]]
            out.append((*r, p.nhs_number, p.title, p.forenames, p.surname, p.dob.isoformat()))
        return out

    def practice_latest(self, with_patient: bool = True) -> list[tuple]:
        """store/coding.py practice_latest: each patient's latest practice-wide row, in list order."""
        w = _who("pc", "patient_id")
        rows = self.conn.execute(
            f"SELECT pc.id, pc.patient_id, pc.op, pc.effective, pc.queued_at, pc.confirmed_at IS NOT NULL,"
            f" {w['opted_in']}, {w['objects']} FROM practice_codes pc JOIN ({_LATEST}) l ON l.id = pc.id"
            " ORDER BY pc.id").fetchall()
        rows = [(i, pid, op, eff.isoformat(), _iso(q), *rest) for i, pid, op, eff, q, *rest in rows]
        return self._people(rows, with_patient)

    def practice_newcomers(self, with_patient: bool = True) -> list[tuple]:
        """store/coding.py practice_newcomers: no practice-wide row, not opted in, not objecting,
        still with the practice; oldest first."""
        w = _who("p", "id")
        rows = self.conn.execute(
            "SELECT p.id, p.created_at FROM patients p WHERE NOT EXISTS (SELECT 1 FROM practice_codes pc"
            " WHERE pc.practice_id = p.practice_id AND pc.patient_id = p.id)"
            f" AND NOT {w['opted_in']} AND NOT {w['objects']} AND {w['here']} ORDER BY p.created_at, p.id",
            {"inactive": _INACTIVE}).fetchall()
        return self._people([(pid, _iso(at)) for pid, at in rows], with_patient, at=0)

    def practice_task_count(self, on: bool) -> int:
        """store/coding.py practice_task_count: domain.coding.practice_wide as one aggregate."""
        w = _who("pc", "patient_id")
        listed = self.conn.execute(
            f"SELECT count(*) FROM (SELECT pc.op, pc.confirmed_at IS NOT NULL AS done, {w['opted_in']} AS opted_in,"
            f" {w['objects']} AS objects FROM practice_codes pc JOIN ({_LATEST}) l ON l.id = pc.id) AS x"
            " WHERE NOT objects AND ((op = 'add' AND NOT done AND NOT opted_in) OR (op = 'add' AND done AND opted_in)"
            " OR (op = 'remove' AND NOT done))").fetchone()[0]
        return listed + (len(self.practice_newcomers(with_patient=False)) if on else 0)

    def last_reconciliation(self) -> dict | None:
        row = self.conn.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM reconciliations ORDER BY id DESC LIMIT 1"
                                ).fetchone()
        if row is None:
            return None
        run = dict(zip(RUN_COLUMNS, row))
        run["at"] = _iso(run["at"])
        run["not_coded_oldest"] = run["not_coded_oldest"].isoformat() if run["not_coded_oldest"] else None
        return run

    def coded_events(self) -> list[tuple]:
        """(patient id, event id, kind, action, ISO effective, ISO recorded_at, confirmed), by id."""
        rows = self.conn.execute(
            "SELECT e.patient_id, e.id, e.kind, e.action, e.effective, e.recorded_at, EXISTS (SELECT 1 FROM"
            " event_marks m WHERE m.practice_id = e.practice_id AND m.event_id = e.id AND m.mark = 'confirmed')"
            " FROM events e WHERE e.kind IN ('type1', 'type2') ORDER BY e.id").fetchall()
        return [(pid, eid, kind, action, eff.isoformat(), _iso(at), confirmed)
                for pid, eid, kind, action, eff, at, confirmed in rows]

    def current_objections(self) -> list[tuple]:
        return [tuple(r) for r in self.conn.execute(
            "SELECT patient_id, kind, active FROM current_state WHERE kind IN ('type1', 'type2')")]

    def patients_by_nhs(self) -> dict[str, tuple[int, str]]:
        """NHS number -> (patient id, ISO dob): every patient with a number, decrypted on the desk."""
        rows = self.conn.execute("SELECT id, identity FROM patients WHERE nhs_bidx IS NOT NULL").fetchall()
        out = {}
        for pid, blob in rows:
            p = self.desk._patient(pid, blob)
            out[p.nhs_number] = (pid, p.dob.isoformat())
        return out

    def patient_rows(self, patient_ids: list[int]) -> dict[int, tuple]:
        return {pid: (p.nhs_number, p.title, p.forenames, p.surname, p.dob.isoformat())
                for pid, p in self.get_patients(list(patient_ids)).items()}

    def inactive_patients(self) -> set[int]:
        return {r[0] for r in self.conn.execute("SELECT patient_id FROM registration WHERE status = ANY(%s)",
                                                (_INACTIVE,))}

    # -- writes --------------------------------------------------------------------------
    def hold_revision(self) -> int:
        """The revision, with the practice's row locked until commit: no other desk's write can
        commit between this check and this write (the register file's BEGIN IMMEDIATE)."""
        self._writing()
        return self.conn.execute("SELECT revision FROM practices WHERE id = %s FOR NO KEY UPDATE",
                                 (self.desk.practice_id,)).fetchone()[0]

    def next_run_id(self) -> int:
        return self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM reconciliations").fetchone()[0]

    def insert_run(self, run: dict) -> int:
        self._writing()
        values = dict(run, at=datetime.fromisoformat(run["at"]),
                      not_coded_oldest=date.fromisoformat(run["not_coded_oldest"]) if run["not_coded_oldest"] else None)
        values.setdefault("id", self.next_run_id())
        cols = list(RUN_COLUMNS)
        self.conn.execute(f"INSERT INTO reconciliations({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
                          [values[c] for c in cols])
        return values["id"]

    def confirm_events(self, event_ids: list[int], *, by: str, at: datetime) -> int:
        """A confirmed mark for each event not confirmed yet (events stay append-only)."""
        tx = self._writing()
        if not event_ids:
            return 0
        n, touched = self.conn.execute(
            "WITH m AS (INSERT INTO event_marks(event_id, mark, at, by) SELECT unnest(%s::bigint[]), 'confirmed',"
            " %s, %s ON CONFLICT DO NOTHING RETURNING event_id)"
            " SELECT count(*), coalesce(array_agg(DISTINCT e.patient_id), '{}') FROM m JOIN events e ON e.id = m.event_id",
            (list(event_ids), at, by)).fetchone()
        tx.patients.update(touched)
        return n

    def mark_confirmed(self, event_id: int, *, by: str, at: datetime) -> int:
        return self.confirm_events([event_id], by=by, at=at)

    def confirm_practice_codes(self, row_ids: list[int], *, by: str, at: datetime) -> int:
        tx = self._writing()
        if not row_ids:
            return 0
        touched = [r[0] for r in self.conn.execute(
            "UPDATE practice_codes SET confirmed_at = %s, confirmed_by = %s WHERE confirmed_at IS NULL"
            " AND id = ANY(%s) RETURNING patient_id", (at, by, list(row_ids)))]
        tx.patients.update(touched)
        return len(touched)

    def latest_policy_id(self) -> int:
        return self.conn.execute("SELECT coalesce(max(id), 0) FROM policy").fetchone()[0]

    def insert_practice_code(self, patient_id: int, policy_id: int, op: str, effective: date, queued_at: datetime,
                             confirmed_by: str | None = None) -> int:
        self._writing().patients.add(patient_id)
        return self.conn.execute(
            "INSERT INTO practice_codes(patient_id, policy_id, op, effective, queued_at, confirmed_at, confirmed_by)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s) RETURNING id",
            (patient_id, policy_id, op, effective, queued_at, queued_at if confirmed_by else None,
             confirmed_by)).fetchone()[0]

    def practice_codes_for(self, patient_id: int) -> list[tuple]:
        return [(i, pol, op, eff.isoformat(), _iso(q), _iso(c) if c else None, by) for i, pol, op, eff, q, c, by in
                self.conn.execute("SELECT id, policy_id, op, effective, queued_at, confirmed_at, confirmed_by"
                                  " FROM practice_codes WHERE patient_id = %s ORDER BY id", (patient_id,))]

    def set_coding_target(self, days: int) -> None:
        """store/settings.py on the server's meta (values kept as JSON, as the migration carries them)."""
        self._writing()
        self.conn.execute("INSERT INTO meta(key, value) VALUES ('coding_target_working_days', %s)"
                          " ON CONFLICT (practice_id, key) DO UPDATE SET value = excluded.value", (json.dumps(int(days)),))

    # -- the practice's corrections of the code table (services/codes.py) -------------------
    _TABLE = "SELECT version, text, reason, saved_by, saved_at FROM code_tables"

    def code_table_current(self):
        row = self.conn.execute(self._TABLE + " ORDER BY version DESC LIMIT 1").fetchone()
        return _saved_table(row) if row else None

    def code_table_versions(self):
        return [_saved_table(r) for r in self.conn.execute(self._TABLE + " ORDER BY version")]

    def insert_code_table(self, text: str | None, reason: str, by: str, at: datetime) -> int:
        """The next version of the practice's table. The practice's row is locked first, so two
        managers saving at once take turns instead of clashing on the version number."""
        self.hold_revision()
        return self.conn.execute(
            "INSERT INTO code_tables(version, text, reason, saved_by, saved_at)"
            " SELECT coalesce(max(version), 0) + 1, %s, %s, %s, %s FROM code_tables RETURNING version",
            (text, reason, by, at)).fetchone()[0]

    # -- the practice-wide opt-out turned on or off (services/exclusion.py) ----------------
    def insert_policy(self, change: PolicyChange) -> int:
        self._writing()
        return self.conn.execute(
            "INSERT INTO policy(state, effective, reason, recorded_by, recorded_at) VALUES (%s,%s,%s,%s,%s)"
            " RETURNING id", (change.state, change.effective, change.reason, change.recorded_by,
                              change.recorded_at)).fetchone()[0]

    def list_practice_adds(self, policy_id: int, effective: date, queued_at: datetime) -> int:
        """store/coding.py list_practice_adds: one INSERT ... SELECT on the server."""
        self._writing()
        w = _who("p", "id")
        return self.conn.execute(
            f"WITH latest AS (SELECT pc.patient_id, pc.op FROM practice_codes pc JOIN ({_LATEST}) l ON l.id = pc.id)"
            " INSERT INTO practice_codes(patient_id, policy_id, op, effective, queued_at)"
            " SELECT p.id, %(policy)s, 'add', %(effective)s, %(at)s FROM patients p"
            f" WHERE NOT {w['opted_in']} AND NOT {w['objects']} AND {w['here']}"
            " AND coalesce((SELECT op FROM latest WHERE latest.patient_id = p.id), '') <> 'add' ORDER BY p.id",
            {"policy": policy_id, "effective": effective, "at": queued_at, "inactive": _INACTIVE}).rowcount

    def list_practice_removals(self, policy_id: int, effective: date, queued_at: datetime,
                               unlisted: bool = False) -> int:
        """store/coding.py list_practice_removals on the server."""
        self._writing()
        args = {"policy": policy_id, "effective": effective, "at": queued_at}
        w = _who("pc", "patient_id")
        n = self.conn.execute(
            "INSERT INTO practice_codes(patient_id, policy_id, op, effective, queued_at)"
            " SELECT pc.patient_id, %(policy)s, 'remove', %(effective)s, %(at)s FROM practice_codes pc"
            f" JOIN ({_LATEST}) l ON l.id = pc.id WHERE pc.op = 'add' AND NOT {w['objects']} ORDER BY pc.patient_id",
            args).rowcount
        if unlisted:
            w = _who("p", "id")
            n += self.conn.execute(
                "INSERT INTO practice_codes(patient_id, policy_id, op, effective, queued_at)"
                " SELECT p.id, %(policy)s, 'remove', %(effective)s, %(at)s FROM patients p"
                " WHERE NOT EXISTS (SELECT 1 FROM practice_codes pc WHERE pc.practice_id = p.practice_id"
                f" AND pc.patient_id = p.id) AND NOT {w['opted_in']} AND NOT {w['objects']} ORDER BY p.id",
                args).rowcount
        return n

    def cancel_unsent(self, kind: str) -> int:
        self._writing()
        return self.conn.execute("DELETE FROM letters WHERE kind = %s AND sent_at IS NULL", (kind,)).rowcount


def _saved_table(row):
    """store/codes_repo.py SavedTable, its time as the register file keeps it (ISO text, UTC)."""
    return SavedTable(row[0], row[1], row[2], row[3], row[4].astimezone(timezone.utc).isoformat())
