"""RegisterStore (store/backend.py) on a practice on the PostgreSQL server (ADR 0015).

The same answers as the register file's ``FileStore``, from the server's own tables:
identifying fields are decrypted on the desk, searches go through the blind indexes of
``Desk.search_query``, and every row written names the patients it touched so the write's
NOTIFY and ``changes`` rows carry them. Writes need a ``WriteTx`` (``Desk.write()``); a store
made without one reads only.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timezone

from ...domain import roles
from ...domain.events import Event
from ...domain.practice_list import INACTIVE
from ...domain.patient import Patient
from ...domain.practice_policy import PolicyChange
from .. import audit, letters_repo
from .. import patients as patients_store
from .. import registration as registration_store
from .. import templates_repo
from ..errors import Conflict, NotFound
from . import ops
from .adapter import qmark_to_format
from .coding_rows import CodingRows
from .import_rows import ImportRows
from .settings_rows import SettingsRows

_LETTER_COLUMNS = "id, patient_id, form_id, kind, queued_at, due, sent_at, template_version, printed_count"


def _letter_row(r) -> letters_repo.LetterRow:
    """As the register file's letters_repo gives it: times in UTC."""
    return letters_repo.LetterRow(r[0], r[1], r[2], r[3], r[4].astimezone(timezone.utc), r[5],
                                  r[6].astimezone(timezone.utc).date() if r[6] else None, r[7], r[8])


def _iso(at: datetime) -> str:
    """A time as the register file keeps it: ISO text in UTC."""
    return at.astimezone(timezone.utc).isoformat()


def _sent_at(on: date | None) -> datetime | None:
    """A sent date kept in the server's timestamptz column: midnight UTC, read back as that date."""
    return datetime.combine(on, time(), tzinfo=timezone.utc) if on else None


class ServerStore(CodingRows, ImportRows, SettingsRows):
    """Coding's rows (practice-wide codes, confirmations, reconciliation runs): coding_rows.py;
    the CSV import's bulk path: import_rows.py; practice settings: settings_rows.py."""

    def __init__(self, desk: ops.Desk, tx: ops.WriteTx | None = None, *, announce: bool = True):
        self.desk, self.tx = desk, tx
        self.conn = desk.conn
        # False inside an audited read (changes_register=False, e.g. a letter printed): its
        # writes name no patient, so the revision stays and no NOTIFY goes, as in the file.
        self.announce = announce

    def _writing(self) -> ops.WriteTx:
        if self.tx is None:
            raise AssertionError("a write on the server runs inside Desk.write()")
        return self.tx

    # -- patients ------------------------------------------------------------------------
    def get_patient(self, patient_id: int) -> Patient:
        return self.desk.get_patient(patient_id)

    def get_patients(self, ids: list[int]) -> dict[int, Patient]:
        if not ids:
            return {}
        rows = self.conn.execute("SELECT id, identity FROM patients WHERE id = ANY(%s)", (list(ids),))
        return {pid: self.desk._patient(pid, blob) for pid, blob in rows}

    def by_nhs(self, nhs: str) -> Patient:
        row = self.conn.execute("SELECT id, identity FROM patients WHERE nhs_bidx = %s",
                                (self.desk.keys.nhs_index(nhs),)).fetchone()
        if row is None:
            raise NotFound("No patient with this NHS number is in the register.")
        return self.desk._patient(*row)

    def _nhs_taken(self, nhs: str | None, other_than: int | None = None) -> bool:
        """The register file's friendly pre-check (the unique index stays the guard against a
        race); checked before an id is drawn, so a refused patient leaves no gap in the ids."""
        if not nhs:
            return False
        row = self.conn.execute("SELECT id FROM patients WHERE nhs_bidx = %s",
                                (self.desk.keys.nhs_index(nhs),)).fetchone()
        return row is not None and row[0] != other_than

    def insert_patient(self, patient: Patient, *, by: str, at: datetime) -> int:
        # ``by`` and ``at``: the server stamps created_by with the desk's user and created_at itself.
        if self._nhs_taken(patient.nhs_number):
            raise Conflict("A patient with this NHS number is already in the register.")
        return ops.insert_patient(self._writing(), patient)

    def update_patient(self, patient: Patient) -> None:
        if self._nhs_taken(patient.nhs_number, patient.patient_id):
            raise Conflict("Another patient in the register already has this NHS number.")
        ops.reseal_patient(self._writing(), patient)

    def search_ids(self, query: patients_store.Query, limit: int) -> list[int]:
        return self.desk.search_query(query, limit)

    def result_rows(self, ids: list[int]) -> list[patients_store.ResultRow]:
        found = self.get_patients(ids)
        active = {(pid, kind): on for pid, kind, on in self.conn.execute(
            "SELECT patient_id, kind, active FROM current_state WHERE patient_id = ANY(%s)", (list(found),))}
        return [patients_store.ResultRow(
            pid, p.nhs_number, f"{p.surname.upper()}, {p.forenames}" + (f" ({p.title})" if p.title else ""),
            p.dob, p.postcode, bool(active.get((pid, "type1"))), bool(active.get((pid, "type2"))))
            for pid, p in ((i, found[i]) for i in ids if i in found)]

    def audit_ref(self, patient: Patient) -> str:
        """The server's audit names a patient by the NHS number's blind index, never the number."""
        return self.desk.keys.audit_ref(patient.nhs_number, patient.patient_id)

    # -- events --------------------------------------------------------------------------
    def lock_patient(self, patient_id: int) -> None:
        """Two desks recording for one patient are taken one after the other: the second
        validates against a history that holds the first's event."""
        self._writing()
        self.desk.get_patient(patient_id, lock=True)

    def history(self, patient_id: int) -> list[Event]:
        return self.desk.history(patient_id)

    def next_form_id(self) -> int:
        self._writing()
        return self.conn.execute("SELECT nextval('form_ids')").fetchone()[0]

    def insert_event(self, patient_id: int, e: Event, form_id: int) -> int:
        tx, desk = self._writing(), self.desk
        # The id first, so a proxy's sealed name is bound to its own row (events are insert-only).
        event_id = self.conn.execute("SELECT nextval(pg_get_serial_sequence('events', 'id'))").fetchone()[0]
        proxy_blob = None
        if e.proxy is not None:
            proxy_blob = desk.keys.seal(desk.practice_id, "events", event_id, {
                "name": e.proxy.name, "evidence": e.proxy.evidence, "verified_by": e.proxy.verified_by})
        self.conn.execute(
            "INSERT INTO events(id, patient_id, kind, action, effective, received, via, proxy_role, proxy,"
            " submitted_by, form_id, recorded_by, recorded_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (event_id, patient_id, e.kind, e.action, e.effective, e.received, e.via,
             e.proxy.role if e.proxy else None, proxy_blob, e.submitted_by, form_id, e.recorded_by, e.recorded_at))
        tx.patients.add(patient_id)
        return event_id

    def refresh_current_state(self, patient_id: int) -> None:
        self._writing().patients.add(patient_id)
        ops._refresh_current_state(self.conn, patient_id, self.desk.history(patient_id))

    def patient_of_event(self, event_id: int) -> int | None:
        row = self.conn.execute("SELECT patient_id FROM events WHERE id = %s", (event_id,)).fetchone()
        return row[0] if row else None

    def mark_coded(self, event_id: int, *, by: str, at: datetime) -> int:
        """Appended as an event mark (desks may not update events); 0 when already coded."""
        tx = self._writing()
        added = self.conn.execute("INSERT INTO event_marks(event_id, mark, at, by) VALUES (%s, 'coded', %s, %s)"
                                  " ON CONFLICT DO NOTHING", (event_id, at, by)).rowcount
        if added:
            tx.patients.add(self.patient_of_event(event_id))
        return added

    def add_signpost(self, patient_id: int, on: date, *, by: str, at: datetime) -> None:
        self._writing().patients.add(patient_id)
        self.conn.execute("INSERT INTO signposts(patient_id, on_date, recorded_by, recorded_at) VALUES (%s,%s,%s,%s)",
                          (patient_id, on, by, at))

    def signposts(self, patient_id: int) -> list[date]:
        return [r[0] for r in self.conn.execute(
            "SELECT on_date FROM signposts WHERE patient_id = %s ORDER BY on_date", (patient_id,))]

    # -- letters -------------------------------------------------------------------------
    def queue_letter(self, patient_id: int, form_id: int | None, kind: str, at: datetime, due: date) -> int:
        self._touch(patient_id)
        return self.conn.execute("INSERT INTO letters(patient_id, form_id, kind, queued_at, due)"
                                 " VALUES (%s,%s,%s,%s,%s) RETURNING id",
                                 (patient_id, form_id, kind, at, due)).fetchone()[0]

    def letters_for(self, patient_id: int) -> list[dict]:
        """As the register file's events.letters_for gives them: times and dates as ISO text."""
        rows = self.conn.execute(
            "SELECT id, kind, queued_at, due, sent_at, template_version, printed_count FROM letters"
            " WHERE patient_id = %s ORDER BY queued_at, id", (patient_id,))
        keys = ("letter_id", "kind", "queued_at", "due", "sent_at", "template_version", "printed_count")
        return [dict(zip(keys, (lid, kind, _iso(queued), due.isoformat(), sent.date().isoformat() if sent else None,
                                version, printed)))
                for lid, kind, queued, due, sent, version, printed in rows]

    def pending_letters(self) -> list[letters_repo.LetterRow]:
        """letters_repo.pending: unsent letters, nearest deadline first, then queue order; a
        deducted, deceased or merged patient's held back, except the letter saying their
        objection travels with them."""
        rows = self.conn.execute(
            f"SELECT {_LETTER_COLUMNS} FROM letters WHERE sent_at IS NULL AND (kind = 'transferred' OR patient_id"
            " NOT IN (SELECT patient_id FROM registration WHERE status = ANY(%s))) ORDER BY due, queued_at, id",
            (sorted(INACTIVE),))
        return [_letter_row(r) for r in rows]

    def letter(self, letter_id: int) -> letters_repo.LetterRow:
        r = self.conn.execute(f"SELECT {_LETTER_COLUMNS} FROM letters WHERE id = %s", (letter_id,)).fetchone()
        if r is None:
            raise NotFound("No such letter in the register.")
        return _letter_row(r)

    def form_facts(self, form_ids) -> tuple[dict[int, list], set[int], set[tuple[int, str]]]:
        """letters_repo.form_facts on the server: (form id -> [(patient id, Event)] in entry
        order, the ids of their events that still decide a state, acknowledgements printed)."""
        ids = sorted(set(form_ids))
        by_form: dict[int, list] = {}
        form_of = dict(self.conn.execute("SELECT id, form_id FROM events WHERE form_id = ANY(%s)", (ids,)))
        for patient_id, event in self.desk.events_where("e.form_id = ANY(%s) ORDER BY e.id", (ids,)):
            by_form.setdefault(form_of[event.event_id], []).append((patient_id, event))
        current = {r[0] for r in self.conn.execute(
            "SELECT c.event_id FROM current_state c JOIN events e"
            " ON e.practice_id = c.practice_id AND e.id = c.event_id WHERE e.form_id = ANY(%s)", (ids,))}
        acked = {(r[0], r[1]) for r in self.conn.execute(
            "SELECT DISTINCT form_id, kind FROM letters WHERE form_id = ANY(%s) AND kind = ANY(%s)",
            (ids, sorted(letters_repo.RECEIVED_KINDS.values())))}
        return by_form, current, acked

    # -- the code table in force ---------------------------------------------------------
    def saved_code_table(self) -> str | None:
        row = self.conn.execute("SELECT text FROM code_tables ORDER BY version DESC LIMIT 1").fetchone()
        return None if row is None else row[0]

    # -- letters: printing, sending, reprints (services/letters.py) ------------------------
    def _touch(self, patient_id: int) -> None:
        tx = self._writing()
        if self.announce:
            tx.patients.add(patient_id)

    def letters_by_id(self, letter_ids: list[int]) -> list[letters_repo.LetterRow]:
        """In the order asked, in one round trip; NotFound if any is not in the register."""
        ids = list(letter_ids)
        if not ids:
            return []
        found = {r[0]: _letter_row(r) for r in self.conn.execute(
            f"SELECT {_LETTER_COLUMNS} FROM letters WHERE id = ANY(%s)", (ids,))}
        if any(i not in found for i in ids):
            raise NotFound("No such letter in the register.")
        return [found[i] for i in ids]

    def patient_letters(self, patient_id: int) -> list[letters_repo.LetterRow]:
        return [_letter_row(r) for r in self.conn.execute(
            f"SELECT {_LETTER_COLUMNS} FROM letters WHERE patient_id = %s ORDER BY queued_at, id", (patient_id,))]

    def mark_printed(self, letter_id: int, *, template_version: str, sent_on: date | None) -> None:
        """letters_repo.mark_printed: a reprint never moves the first print's version or sent date."""
        self._writing()
        self.conn.execute("UPDATE letters SET printed_count = printed_count + 1,"
                          " template_version = coalesce(template_version, %s),"
                          " sent_at = coalesce(sent_at, %s) WHERE id = %s",
                          (template_version, _sent_at(sent_on), letter_id))

    def mark_letter_sent(self, letter_id: int, on: date) -> int:
        self._writing()
        return self.conn.execute("UPDATE letters SET sent_at = %s WHERE id = %s AND sent_at IS NULL",
                                 (_sent_at(on), letter_id)).rowcount

    def became_acknowledgement(self, letter_id: int, kind: str, *, queued_at: datetime | None,
                               due: date | None) -> int | None:
        """letters_repo.became_acknowledgement: renamed to its acknowledgement kind, and the
        confirmation it promises queued unless ``queued_at`` is None."""
        row = self.letter(letter_id)
        self._writing()
        self.conn.execute("UPDATE letters SET kind = %s WHERE id = %s", (letters_repo.RECEIVED_KINDS[kind], letter_id))
        if queued_at is None or due is None:
            return None
        self._touch(row.patient_id)
        return self.conn.execute("INSERT INTO letters(patient_id, form_id, kind, queued_at, due)"
                                 " VALUES (%s,%s,%s,%s,%s) RETURNING id",
                                 (row.patient_id, row.form_id, kind, queued_at, due)).fetchone()[0]

    def mark_printed_many(self, printed: list[tuple[int, str]], *, sent_on: date) -> None:
        """mark_printed for a whole print run in one statement (arrays, not a round trip a letter)."""
        self._writing()
        if not printed:
            return
        ids, versions = zip(*printed)
        self.conn.execute("UPDATE letters l SET printed_count = l.printed_count + 1,"
                          " template_version = coalesce(l.template_version, v.version),"
                          " sent_at = coalesce(l.sent_at, %s)"
                          " FROM unnest(%s::bigint[], %s::text[]) AS v(id, version) WHERE l.id = v.id",
                          (_sent_at(sent_on), list(ids), list(versions)))

    def became_acknowledgements(self, letters: list[tuple[letters_repo.LetterRow, bool]], *, queued_at: datetime,
                                due: date) -> list[int | None]:
        """became_acknowledgement for a print run: every letter renamed in one statement, and the
        confirmations promised (``True`` beside a row) queued in one more; their new ids in the
        rows' order. The ids come from the letters' identity, drawn in the order the rows are
        inserted (ORDER BY ord), so sorted they follow that order, whatever other desks insert."""
        self._writing()
        if not letters:
            return []
        self.conn.execute("UPDATE letters l SET kind = v.kind FROM unnest(%s::bigint[], %s::text[]) AS v(id, kind)"
                          " WHERE l.id = v.id",
                          ([row.letter_id for row, _ in letters],
                           [letters_repo.RECEIVED_KINDS[row.kind] for row, _ in letters]))
        promised = [row for row, promise in letters if promise]
        new_ids: list[int] = []
        if promised:
            for row in promised:
                self._touch(row.patient_id)
            new_ids = sorted(r[0] for r in self.conn.execute(
                "WITH src AS (SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) WITH ORDINALITY"
                " AS s(patient_id, form_id, kind, ord)),"
                " made AS (INSERT INTO letters(patient_id, form_id, kind, queued_at, due)"
                " SELECT patient_id, form_id, kind, %s, %s FROM src ORDER BY ord RETURNING id)"
                " SELECT id FROM made",
                ([r.patient_id for r in promised], [r.form_id for r in promised], [r.kind for r in promised],
                 queued_at, due)))
        it = iter(new_ids)
        return [next(it) if promise else None for _row, promise in letters]

    def cancel_letter(self, letter_id: int) -> int:
        """Drop a letter never sent (a server policy refuses a desk deleting a sent one)."""
        self._writing()
        return self.conn.execute("DELETE FROM letters WHERE id = %s AND sent_at IS NULL", (letter_id,)).rowcount

    _IN_FORCE_TYPE1 = ("SELECT c.patient_id FROM current_state c JOIN event_marks m"
                       " ON m.practice_id = c.practice_id AND m.event_id = c.event_id AND m.mark = 'confirmed'"
                       " WHERE c.kind = 'type1' AND c.active")

    def in_force_type1_count(self) -> int:
        return self.conn.execute(f"SELECT count(*) FROM ({self._IN_FORCE_TYPE1}) AS f").fetchone()[0]

    def queue_for_in_force_objectors(self, kind: str, *, queued_at: datetime, due: date) -> int:
        """letters_repo.queue_for_in_force_objectors: set-based, nobody queued twice."""
        rows = self.conn.execute(
            f"INSERT INTO letters(patient_id, form_id, kind, queued_at, due)"
            f" SELECT patient_id, NULL, %s, %s, %s FROM ({self._IN_FORCE_TYPE1}) AS f"
            f" WHERE patient_id NOT IN (SELECT patient_id FROM letters WHERE kind = %s AND sent_at IS NULL)"
            f" ORDER BY patient_id RETURNING patient_id", (kind, queued_at, due, kind)).fetchall()
        for (pid,) in rows:
            self._touch(pid)
        return len(rows)

    def queue_patient_notices(self, kind: str, *, since: datetime, queued_at: datetime, due: date,
                              born_on_or_before: date) -> int:
        """letters_repo.queue_patient_notices on the server: the date of birth is ciphertext,
        so the server narrows to patients still with the practice and not yet sent one, and
        the desk decrypts those and keeps the ones aged 16 or over (in id order, as the file)."""
        rows = self.conn.execute(
            "SELECT p.id, p.identity FROM patients p WHERE NOT EXISTS (SELECT 1 FROM registration r"
            " WHERE r.patient_id = p.id AND r.status = ANY(%s)) AND NOT EXISTS (SELECT 1 FROM letters l"
            " WHERE l.patient_id = p.id AND l.kind = %s AND l.queued_at >= %s) ORDER BY p.id",
            (sorted(INACTIVE), kind, since)).fetchall()
        ids = [pid for pid, blob in rows if self.desk._patient(pid, blob).dob <= born_on_or_before]
        self._writing()
        self.conn.cursor().executemany("INSERT INTO letters(patient_id, form_id, kind, queued_at, due)"
                                       " VALUES (%s, NULL, %s, %s, %s)", [(pid, kind, queued_at, due) for pid in ids])
        for pid in ids:
            self._touch(pid)
        return len(ids)

    def registration(self, patient_id: int) -> registration_store.Registration:
        row = self.conn.execute("SELECT status, since, died_on, reregistered_on, merged_into FROM registration"
                                " WHERE patient_id = %s", (patient_id,)).fetchone()
        return registration_store.Registration(*row) if row else registration_store._NONE

    def type1_active(self, patient_id: int) -> bool:
        row = self.conn.execute("SELECT active FROM current_state WHERE patient_id = %s AND kind = 'type1'",
                                (patient_id,)).fetchone()
        return bool(row and row[0])

    def practice_details(self) -> dict:
        """As the register file's: the letterhead's fields, and the ODS code (its own meta row
        after a migration, else within the practice row written at set-up)."""
        values = {k: json.loads(v) for k, v in self.conn.execute(
            "SELECT key, value FROM meta WHERE key IN ('practice', 'ods')")}
        data = dict(values.get("practice") or {})
        data["ods"] = values.get("ods", data.get("ods", ""))
        return data

    def policy_history(self) -> list[PolicyChange]:
        return [PolicyChange(state=r[1], effective=r[2], reason=r[3], recorded_by=r[4],
                             recorded_at=r[5].astimezone(timezone.utc), seq=r[0])
                for r in self.conn.execute("SELECT id, state, effective, reason, recorded_by, recorded_at"
                                           " FROM policy ORDER BY id")]

    # -- the practice's own letter wording (services/templates.py) -------------------------
    def saved_template(self, kind: str) -> templates_repo.SavedTemplate | None:
        row = self.conn.execute("SELECT kind, version, text, saved_by, saved_at FROM letter_templates"
                                " WHERE kind = %s", (kind,)).fetchone()
        return templates_repo.SavedTemplate(*row[:4], _iso(row[4])) if row else None

    def put_template(self, kind: str, version: int, text: str, saved_by: str, saved_at: datetime) -> None:
        self._writing()
        self.conn.execute("INSERT INTO letter_templates(kind, version, text, saved_by, saved_at)"
                          " VALUES (%s,%s,%s,%s,%s) ON CONFLICT (practice_id, kind) DO UPDATE SET"
                          " version = excluded.version, text = excluded.text, saved_by = excluded.saved_by,"
                          " saved_at = excluded.saved_at", (kind, version, text, saved_by, saved_at))

    # overview, coding, exclusion (serverreads)
    # The register file's aggregates (store/overview.py, store/coding.py) on the server's tables:
    # coded/confirmed are event marks there, dates are dates, booleans are booleans.
    _CONFIRMED = ("EXISTS (SELECT 1 FROM event_marks m WHERE m.practice_id = {e}.practice_id"
                  " AND m.event_id = {e}.id AND m.mark = 'confirmed')")
    _STILL_HERE = ("NOT EXISTS (SELECT 1 FROM registration r WHERE r.practice_id = {e}.practice_id"
                   " AND r.patient_id = {e}.patient_id AND r.status = ANY(%s))")

    def patient_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM patients").fetchone()[0]

    def current_counts(self) -> dict[tuple[str, bool], int]:
        rows = self.conn.execute("SELECT kind, active, count(*) FROM current_state GROUP BY kind, active")
        return {(kind, bool(active)): n for kind, active, n in rows}

    def objecting_without_nhs_number(self) -> int:
        """No NHS number: no blind index (store/server/ops.py insert_patient)."""
        return self.conn.execute(
            "SELECT count(DISTINCT c.patient_id) FROM current_state c JOIN patients p"
            " ON p.practice_id = c.practice_id AND p.id = c.patient_id"
            " WHERE c.active AND c.kind IN ('type1', 'type2') AND p.nhs_bidx IS NULL").fetchone()[0]

    def letter_counts(self, today: date, soon: date) -> dict[str, int]:
        """store/overview.py letter_counts: a confirmation is held while its acknowledgement went
        and an event of its form that decides a state is not confirmed (letters_repo.HELD_SQL)."""
        held = ("(l.kind IN ('objection', 'withdrawal', 'include') AND l.form_id IS NOT NULL"
                " AND EXISTS (SELECT 1 FROM letters a WHERE a.form_id = l.form_id AND a.kind = l.kind || '_received')"
                " AND EXISTS (SELECT 1 FROM events e JOIN current_state c"
                " ON c.practice_id = e.practice_id AND c.event_id = e.id"
                f" WHERE e.form_id = l.form_id AND NOT {self._CONFIRMED.format(e='e')}))")
        row = self.conn.execute(
            "SELECT count(*) FILTER (WHERE NOT held), count(*) FILTER (WHERE NOT held AND due < %s),"
            " count(*) FILTER (WHERE NOT held AND due >= %s AND due <= %s), count(*) FILTER (WHERE held)"
            f" FROM (SELECT l.due, {held} AS held FROM letters l WHERE l.sent_at IS NULL) AS w",
            (today, today, soon)).fetchone()
        return {"pending": row[0], "overdue": row[1], "due_soon": row[2], "held": row[3]}

    def monthly_events(self, kinds: tuple[str, ...]) -> list[tuple[str, str, int]]:
        rows = self.conn.execute(
            "SELECT to_char(effective, 'YYYY-MM') AS month, action, count(*) FROM events WHERE kind = ANY(%s)"
            " GROUP BY month, action ORDER BY month", (list(kinds),))
        return [tuple(r) for r in rows]

    def type1_coding_counts(self) -> dict[tuple[bool, str], int]:
        rows = self.conn.execute(
            f"SELECT c.active, CASE WHEN {self._CONFIRMED.format(e='e')} THEN 'confirmed'"
            " WHEN EXISTS (SELECT 1 FROM event_marks m WHERE m.practice_id = e.practice_id AND m.event_id = e.id"
            " AND m.mark = 'coded') THEN 'marked' ELSE 'pending' END AS state, count(*)"
            " FROM current_state c JOIN events e ON e.practice_id = c.practice_id AND e.id = c.event_id"
            " WHERE c.kind = 'type1' GROUP BY c.active, state")
        return {(bool(active), state): n for active, state, n in rows}

    def unconfirmed_count(self) -> int:
        return self.conn.execute(
            f"SELECT count(*) FROM events e WHERE e.kind IN ('type1', 'type2') AND NOT {self._CONFIRMED.format(e='e')}"
            f" AND {self._STILL_HERE.format(e='e')}", (sorted(INACTIVE),)).fetchone()[0]

    def unconfirmed_events(self) -> list[tuple]:
        """store/coding.py unconfirmed_events: (event id, patient id, kind, action, effective,
        recorded_at, coded_by, nhs, title, forenames, surname, dob), oldest recorded first, of
        patients still with the practice; the names decrypted here, times as the file's ISO text."""
        rows = self.conn.execute(
            "SELECT e.id, e.patient_id, e.kind, e.action, e.effective, e.recorded_at, m.by FROM events e"
            " LEFT JOIN event_marks m ON m.practice_id = e.practice_id AND m.event_id = e.id AND m.mark = 'coded'"
            f" WHERE e.kind IN ('type1', 'type2') AND NOT {self._CONFIRMED.format(e='e')}"
            f" AND {self._STILL_HERE.format(e='e')} ORDER BY e.recorded_at, e.id", (sorted(INACTIVE),)).fetchall()
        people = self.get_patients(sorted({r[1] for r in rows}))
        out = []
        for event_id, pid, kind, action, effective, recorded_at, coded_by in rows:
            p = people[pid]
            out.append((event_id, pid, kind, action, effective.isoformat(), _iso(recorded_at), coded_by,
                        p.nhs_number, p.title, p.forenames, p.surname, p.dob.isoformat()))
        return out

    def revision(self) -> int:
        return self.desk.revision()

    def audit_head(self) -> tuple[int, str] | None:
        head = self.desk.head()
        return (head.seq, head.mac) if head else None

    def _with_nhs(self, rows) -> list[tuple]:
        """(patient id, NHS number or None, *rest) with the number decrypted on the desk."""
        people = self.get_patients(sorted({r[0] for r in rows}))
        return [(r[0], people[r[0]].nhs_number, *r[1:]) for r in rows]

    def exclusion_objectors(self) -> list[tuple]:
        """exclusion_repo.objector_rows: (patient id, nhs or None, kind, since ISO date)."""
        rows = self.conn.execute("SELECT patient_id, kind, since FROM current_state"
                                 " WHERE kind = 'type1' AND active ORDER BY patient_id").fetchall()
        return self._with_nhs([(pid, kind, since.isoformat()) for pid, kind, since in rows])

    _INCLUDERS = ("SELECT s.patient_id, s.since FROM current_state s WHERE s.kind = 'include' AND s.active"
                  " AND NOT EXISTS (SELECT 1 FROM current_state o WHERE o.practice_id = s.practice_id"
                  " AND o.patient_id = s.patient_id AND o.kind = 'type1' AND o.active)")

    def exclusion_includers(self) -> list[tuple]:
        rows = self.conn.execute(self._INCLUDERS + " ORDER BY s.patient_id").fetchall()
        return self._with_nhs([(pid, since.isoformat()) for pid, since in rows])

    def count_type1_objectors(self) -> int:
        """The independent count the export is reconciled against: no join, no decryption."""
        return self.conn.execute("SELECT count(DISTINCT patient_id) FROM current_state"
                                 " WHERE kind = 'type1' AND active").fetchone()[0]

    def count_includers(self) -> int:
        return self.conn.execute(f"SELECT count(*) FROM ({self._INCLUDERS}) AS i").fetchone()[0]

    def coding_target(self) -> int | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'coding_target_working_days'").fetchone()
        return int(json.loads(row[0])) if row else None

    def remove_template(self, kind: str) -> int:
        self._writing()
        return self.conn.execute("DELETE FROM letter_templates WHERE kind = %s", (kind,)).rowcount

    # -- the audit trail (services/audit.py) ------------------------------------------------
    def audit_rows(self, *, since: str | None, until: str | None, user: str | None, action_prefix: str | None,
                   patient: str | None, limit: int) -> list[tuple]:
        """audit.select on the practice's chain, newest first. The trail names a patient by the
        NHS number's blind index: an NHS number asked for is looked up by its index, and each
        index shown is turned back into the number of the patient who has it now (decrypted on
        the desk); one no patient has any more (a number since corrected) is shown as stored. In a
        re-keyed practice an entry from before the re-key names the patient by an earlier key's
        index: asked for by number, every key's index is looked for; shown, it is turned back too."""
        earlier = {}  # a re-keyed practice: the trail names the number by each key's index in turn
        if patient and patient.isdigit():
            number, refs = patient, self.desk.keys.audit_refs(patient)
            patient, earlier = refs[0], {ref: number for ref in refs[1:]}
        where, args = audit.filter_clause("actor", since=since, until=until, user=user,
                                          action_prefix=action_prefix, patient=patient)
        where = qmark_to_format(where)
        if earlier:
            where = where.replace("patient = %s", "patient = ANY(%s)")
            args = [[patient, *earlier] if a == patient else a for a in args]
        rows = self.conn.execute(
            f"SELECT seq, at, actor, role, action, patient, outcome, workstation, detail FROM audit {where}"
            " ORDER BY seq DESC LIMIT %s", (*args, limit)).fetchall()
        refs = sorted({r[5] for r in rows if r[5].startswith("nhs:")})
        shown = {}
        if refs:
            for pid, blob in self.conn.execute("SELECT id, identity FROM patients WHERE nhs_bidx = ANY(%s)",
                                               ([bytes.fromhex(r[4:]) for r in refs],)):
                p = self.desk._patient(pid, blob)
                shown[self.desk.keys.audit_ref(p.nhs_number, pid)] = p.nhs_number
        shown.update(earlier)
        if self.desk.keys.retired_index_keys and any(r not in shown for r in refs):  # written before a re-key
            shown.update((r, n) for r, n in self.desk.earlier_refs().items() if r in refs)
        return [(*r[:5], shown.get(r[5], r[5]), *r[6:]) for r in rows]

    # -- users (services/users.py) ----------------------------------------------------------
    # A user's name is their database login; schema V4 lets only an active manager's login
    # change a users row or delete a key slot, whatever a desk sends.
    def active_users(self) -> list[tuple[str, str]]:
        return [tuple(r) for r in self.conn.execute(
            'SELECT name, role FROM users WHERE active ORDER BY name COLLATE "C"')]

    def user_role(self, name: str) -> str | None:
        row = self.conn.execute("SELECT role FROM users WHERE name = %s AND active", (name,)).fetchone()
        return row[0] if row else None

    def count_role(self, role: str) -> int:
        return self.conn.execute("SELECT count(*) FROM users WHERE active AND role = %s", (role,)).fetchone()[0]

    def set_role(self, name: str, role: str) -> None:
        self._writing()
        if self.conn.execute("UPDATE users SET role = %s WHERE name = %s AND active", (role, name)).rowcount == 0:
            raise NotFound(f"There is no user called {name}.")
        if role != roles.MANAGER:  # no longer a manager: no longer the key that signs the exclusion file
            self.conn.execute("DELETE FROM manager_slots WHERE name = %s", (name,))

    def deactivate_user(self, name: str) -> None:
        """The users row kept, inactive (the trail names them); their key slot deleted, so the
        practice key can no longer be unwrapped for them even if the row were switched back."""
        self._writing()
        if self.conn.execute("UPDATE users SET active = false WHERE name = %s AND active", (name,)).rowcount == 0:
            raise NotFound(f"There is no user called {name}.")
        self.conn.execute("DELETE FROM key_slots WHERE name = %s", (name,))
        self.conn.execute("DELETE FROM manager_slots WHERE name = %s", (name,))
