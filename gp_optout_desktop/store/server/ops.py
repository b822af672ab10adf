"""The desk's register operations on the server (issue 15): one practice, seen through its
desk login, with the practice's keys held on the desk only.

Every write runs in ``Desk.write()``: the operation's statements, then, as the transaction's
LAST step, the practice row locked ``FOR NO KEY UPDATE`` (the chain head and the revision), the
audit rows MAC'd and appended with contiguous seq, the head and ``revision = revision + 1``
written back, and a NOTIFY carrying only the revision and patient ids. The lock is therefore
held for the last three statements only (docs/adr/0005, ADR 0003 addendum).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import psycopg
from psycopg import errors as pg_errors

from ...domain import nhs_number as nhs_mod
from ...domain import postcode as postcode_mod
from ...domain.events import EVENT_KINDS, Event, Proxy, check_new_event, current_status
from ...domain.patient import Patient
from .. import audit as audit_mod
from .. import patients as patients_store
from ..errors import Conflict, NotFound, RegisterCorrupt, ServerUnreachable, StoreError
from . import epochs, schema
from .crypto import PracticeKeys, surname_key, unwrap_data_key, wrap_data_key

NOTIFY_LIMIT = 7900  # PostgreSQL refuses a payload of 8000 bytes or more
UNREACHABLE = "The register server could not be reached. Nothing was saved."
REKEYED = ("The register was re-keyed at another desk by a practice manager: sign in again (with the temporary "
           "password they gave you). Nothing was saved.")


def channel(practice_id: int) -> str:
    return f"gp_optout_practice_{practice_id}"


def canonical_time(at: datetime) -> str:
    """The one text form an audit time is stored and MAC'd in (as the register file's)."""
    return at.astimezone(timezone.utc).isoformat(timespec="microseconds")


@dataclass
class WriteTx:
    """Handed to an operation inside its transaction; its audit entries commit with it."""

    conn: psycopg.Connection
    desk: "Desk"
    pending: list = field(default_factory=list)
    patients: set = field(default_factory=set)
    revision: int = 0
    head: audit_mod.Head | None = None
    store: object = None  # the services' RegisterStore on this transaction (store/server/desk_store.py)

    def audit(self, action: str, patient: str = "", detail: str = "", outcome: str = "ok") -> None:
        self.pending.append(audit_mod.Pending(self.desk.user, self.desk.role, action, patient, outcome, detail))


@dataclass
class Desk:
    """One desk's view of its practice: the connection (a desk login) and the derived keys."""

    conn: psycopg.Connection
    keys: PracticeKeys
    practice_id: int
    user: str
    role: str
    workstation: str = field(default_factory=audit_mod.workstation)
    # Kept on the desk (never sent) to wrap key slots: one's own at a password change, a
    # new user's or a reset one's by a manager. Derived keys alone cannot re-wrap it.
    data_key: bytes | None = field(default=None, repr=False)
    # Which data key of the practice this desk holds (practices.key_epoch, schema V9): a re-key
    # at another desk moves the practice's, and this desk's next write is refused in words.
    key_epoch: int = 0
    # A re-keyed practice: what the trail's entries from before the re-key name each patient by
    # (an earlier key's blind index), made once on the first audit view that needs it.
    _earlier_refs: dict | None = field(default=None, init=False, repr=False)

    @classmethod
    def open(cls, conn: psycopg.Connection, data_key: bytes, *, user: str, role: str) -> "Desk":
        """The practice this login belongs to (row-level security shows it no other)."""
        # Autocommit: a read is its own statement (no transaction left open on an idle desk), and
        # write() then opens a real transaction, never a savepoint inside a reader's.
        conn.autocommit = True
        schema.check_version(conn)
        row = conn.execute("SELECT id, ref FROM practices").fetchone()
        if row is None:
            raise StoreError("This login is not mapped to a practice on the server.")
        practice_id, ref = row
        keys, epoch = epochs.with_retired(conn, PracticeKeys.derive(data_key, str(ref)), practice_id)
        return cls(conn, keys, practice_id, user, role, data_key=data_key, key_epoch=epoch)

    def earlier_refs(self) -> dict[str, str]:
        """{an earlier key's audit ref: the NHS number} for every patient with a number now."""
        if self._earlier_refs is None:
            self._earlier_refs = {ref: p.nhs_number for p in (
                self._patient(pid, blob) for pid, blob in
                self.conn.execute("SELECT id, identity FROM patients WHERE nhs_bidx IS NOT NULL"))
                for ref in self.keys.audit_refs(p.nhs_number)[1:]}
        return self._earlier_refs

    def rekeyed_elsewhere(self) -> bool:
        """The practice is under a newer data key than this desk holds."""
        return self.conn.execute("SELECT key_epoch FROM practices WHERE id = %s",
                                 (self.practice_id,)).fetchone()[0] != self.key_epoch

    @classmethod
    def unlock(cls, conn: psycopg.Connection, unwrap_key: bytes, *, user: str, role: str) -> "Desk":
        """Open with the user's key slot kept on the server: the desk unwraps the practice data
        key itself (the server never receives the unwrap key nor the data key)."""
        conn.autocommit = True
        schema.check_version(conn)
        row = conn.execute("SELECT p.ref, s.slot FROM practices p LEFT JOIN key_slots s"
                           " ON s.practice_id = p.id AND s.name = %s", (user,)).fetchone()
        if row is None:
            raise StoreError("This login is not mapped to a practice on the server.")
        if row[1] is None:
            raise StoreError(f"There is no key slot for {user} in this practice's register on the server.")
        return cls.open(conn, unwrap_data_key(unwrap_key, row[1], str(row[0]), user), user=user, role=role)

    # -- the one write path ------------------------------------------------------------
    @contextmanager
    def write(self, *, changes_register: bool = True):
        """One transaction: the operation, then the chain appended under the practice row lock.
        ``changes_register=False`` is an audited read (services.patients.view, a refusal): its
        audit rows are chained, but the revision stays and no change is announced, as in the
        register file's Session.write."""
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise AssertionError("a desk write runs in its own transaction, never inside another")
        try:
            with self.conn.transaction():
                tx = WriteTx(self.conn, self)
                yield tx
                if not tx.pending:
                    raise AssertionError("every write must leave an audit row")
                self._append_chain(tx, changes_register)
        except pg_errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "patients_nhs":
                raise Conflict("A patient with this NHS number is already in the register.") from None
            raise
        except psycopg.OperationalError:
            # Only a lost server is "unreachable"; a deadlock or serialisation failure (also
            # OperationalError in psycopg) is a bug to see, not an outage to word.
            if self.conn.broken or self.conn.closed:
                raise ServerUnreachable(UNREACHABLE) from None
            raise

    def _append_chain(self, tx: WriteTx, changes_register: bool = True) -> None:
        cur = self.conn.cursor()
        # NO KEY UPDATE, the row lock UPDATE itself takes: it serialises the practice's writers
        # but not the FOR KEY SHARE locks their earlier inserts hold on this row through the
        # foreign keys (plain FOR UPDATE waits for those, and two desks deadlock).
        seq, prev, epoch = cur.execute("SELECT audit_seq, audit_mac, key_epoch FROM practices WHERE id = %s"
                                       " FOR NO KEY UPDATE", (self.practice_id,)).fetchone()
        if epoch != self.key_epoch:  # never chain (nor commit rows sealed) under a retired key
            raise StoreError(REKEYED)
        # The time is read after the lock is held: times then follow seq across every desk.
        at = canonical_time(cur.execute("SELECT clock_timestamp()").fetchone()[0])
        rows = []
        for p in tx.pending:
            seq += 1
            entry = {"seq": seq, "at": at, "user": p.user, "role": p.role, "action": p.action,
                     "patient": p.patient, "outcome": p.outcome, "workstation": self.workstation,
                     "detail": p.detail}
            mac = audit_mod._mac(self.keys.audit_key, prev, entry)
            rows.append((self.practice_id, *[entry[f] for f in audit_mod.FIELDS], prev, mac))
            prev = mac
        cur.executemany(
            "INSERT INTO audit(practice_id, seq, at, actor, role, action, patient, outcome, workstation, detail,"
            " prev, mac) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", rows)
        tx.revision = cur.execute(
            "UPDATE practices SET audit_seq = %s, audit_mac = %s, revision = revision + %s WHERE id = %s"
            " RETURNING revision", (seq, prev, 1 if changes_register else 0, self.practice_id)).fetchone()[0]
        tx.head = audit_mod.Head(seq, prev)
        if not changes_register:
            if tx.patients:
                raise AssertionError("a write that changes patients must change the register's revision")
            return
        # What this revision changed, for a desk that missed the NOTIFY (store/server/listen.py).
        cur.executemany("INSERT INTO changes(revision, patient_id) VALUES (%s, %s)",
                        [(tx.revision, pid) for pid in sorted(tx.patients)])
        cur.execute("SELECT pg_notify(%s, %s)", (channel(self.practice_id), notify_payload(tx.revision, tx.patients)))

    # -- reads ---------------------------------------------------------------------------
    def revision(self) -> int:
        return self.conn.execute("SELECT revision FROM practices WHERE id = %s", (self.practice_id,)).fetchone()[0]

    def head(self) -> audit_mod.Head | None:
        row = self.conn.execute("SELECT audit_seq, audit_mac FROM practices WHERE id = %s",
                                (self.practice_id,)).fetchone()
        return audit_mod.Head(row[0], row[1]) if row[0] else None

    def _patient(self, row_id: int, blob) -> Patient:
        try:
            return self.keys.open_patient(self.practice_id, row_id, blob)
        except RegisterCorrupt:
            if self.rekeyed_elsewhere():  # not damage: this desk holds the retired key
                raise StoreError(REKEYED) from None
            raise

    def get_patient(self, patient_id: int, *, lock: bool = False) -> Patient:
        # The patient lock, like the practice's, is NO KEY UPDATE (see _append_chain).
        row = self.conn.execute("SELECT identity FROM patients WHERE id = %s" + (" FOR NO KEY UPDATE" if lock else ""),
                                (patient_id,)).fetchone()
        if row is None:
            raise NotFound("No such patient in the register.")
        return self._patient(patient_id, row[0])

    def search_ids(self, text: str, limit: int = 200) -> list[int]:
        """What store.patients.search_ids finds in a register file, in its order: the server
        returns the candidates under one blind index, the desk decrypts and filters them."""
        return self.search_query(patients_store.parse_query(text), limit)

    def search_query(self, query: patients_store.Query, limit: int = 200) -> list[int]:
        if query.kind == "empty":
            return []
        sql, arg = search_sql(self.keys, query)
        candidates = [self._patient(pid, blob) for pid, blob in self.conn.execute(sql, arg)]
        if not candidates and self.rekeyed_elsewhere():  # its old tokens match nothing now: say why
            raise StoreError(REKEYED)
        found = [p for p in candidates if matches(query, p)]
        found.sort(key=lambda p: order_key(query, p))
        return [p.patient_id for p in found[:limit]]

    def history(self, patient_id: int) -> list[Event]:
        return [e for _pid, e in self.events_where("e.patient_id = %s ORDER BY effective, e.id", (patient_id,))]

    def events_where(self, where: str, args: tuple) -> list[tuple[int, Event]]:
        """(patient id, Event) for the events ``where`` selects (a constant clause, never input)."""
        rows = self.conn.execute(
            "SELECT e.id, kind, action, effective, received, via, proxy_role, proxy, submitted_by, recorded_by,"
            " recorded_at, c.at, c.by, f.at, f.by, e.patient_id FROM events e"
            " LEFT JOIN event_marks c ON c.event_id = e.id AND c.mark = 'coded'"
            " LEFT JOIN event_marks f ON f.event_id = e.id AND f.mark = 'confirmed'"
            " WHERE " + where, args).fetchall()
        out = []
        for (eid, kind, action, effective, received, via, proxy_role, proxy_blob, submitted_by, recorded_by,
             recorded_at, coded_at, coded_by, confirmed_at, confirmed_by, patient_id) in rows:
            proxy = None
            if proxy_role:
                f = self.keys.open(self.practice_id, "events", eid, proxy_blob)
                proxy = Proxy(proxy_role, f["name"], f["evidence"], f["verified_by"])
            out.append((patient_id, Event(
                kind=kind, action=action, effective=effective, received=received, via=via,
                recorded_by=recorded_by, recorded_at=recorded_at, seq=eid, proxy=proxy,
                submitted_by=submitted_by, event_id=eid, coded_at=coded_at, coded_by=coded_by,
                confirmed_at=confirmed_at, confirmed_by=confirmed_by)))
        return out

    def current_state(self, patient_id: int) -> dict[str, bool]:
        rows = self.conn.execute("SELECT kind, active FROM current_state WHERE patient_id = %s",
                                 (patient_id,)).fetchall()
        return dict(rows)


def notify_payload(revision: int, patients) -> str:
    """Only the revision and patient ids (never a name or NHS number); too many ids for one
    notification and the list is dropped: the listening desk then re-reads by revision."""
    payload = json.dumps({"rev": revision, "patients": sorted(patients)}, separators=(",", ":"))
    if len(payload) > NOTIFY_LIMIT:
        payload = json.dumps({"rev": revision, "patients": None}, separators=(",", ":"))
    return payload


# -- search: one index per kind, the rest on the desk ----------------------------------------
_BY_TOKEN = ("SELECT p.id, p.identity FROM patient_tokens t JOIN patients p"
             " ON p.practice_id = t.practice_id AND p.id = t.patient_id WHERE t.token = %s")


def search_sql(keys: PracticeKeys, query: patients_store.Query) -> tuple[str, tuple]:
    if query.kind == "nhs":
        return "SELECT id, identity FROM patients WHERE nhs_bidx = %s", (keys.nhs_index(query.value),)
    if query.kind == "nhs_prefix":
        return _BY_TOKEN, (keys.nhs_prefix_token(query.value),)
    if query.kind == "dob":
        return _BY_TOKEN, (keys.dob_token(query.value),)
    if query.kind == "postcode":
        return _BY_TOKEN, (keys.postcode_token(query.value),)
    if not query.value:  # "Smith"-less ", J": every patient, as the register file's range does
        return "SELECT id, identity FROM patients", ()
    return _BY_TOKEN, (keys.surname_prefix_token(query.value),)


def _like_prefix(text: str, pattern: str) -> bool:
    """SQLite's ``text LIKE 'pattern%'``: ASCII letters match either case, others exactly."""
    if len(text) < len(pattern):
        return False
    for a, b in zip(text, pattern):
        if a != b and not (a.isascii() and b.isascii() and a.lower() == b.lower()):
            return False
    return True


def matches(query: patients_store.Query, p: Patient) -> bool:
    if query.kind == "nhs":
        return p.nhs_number == query.value
    if query.kind == "nhs_prefix":
        return bool(p.nhs_number) and p.nhs_number.startswith(query.value)
    if query.kind == "dob":
        return p.dob.isoformat() == query.value
    if query.kind == "postcode":
        return postcode_mod.search_key(p.postcode).startswith(query.value)
    if not surname_key(p.surname).startswith(query.value):
        return False
    forename = query.forename.replace("%", "").replace("_", "")
    return not forename or _like_prefix(p.forenames, forename)


def order_key(query: patients_store.Query, p: Patient) -> tuple:
    """The register file's ORDER BY for each kind; ties by row id, as its index scans give."""
    if query.kind in ("nhs", "nhs_prefix"):
        return (p.nhs_number or "", p.patient_id)
    if query.kind == "dob":
        return (p.dob.isoformat(), surname_key(p.surname), p.forenames, p.patient_id)
    if query.kind == "postcode":
        return (postcode_mod.search_key(p.postcode), surname_key(p.surname), p.forenames, p.patient_id)
    return (surname_key(p.surname), p.forenames, p.patient_id)


# -- writes ---------------------------------------------------------------------------------
def start_register(tx: WriteTx, practice: dict) -> None:
    """The practice's first entry (seq 1): its details, written by its first manager's desk."""
    tx.conn.execute("INSERT INTO meta(key, value) VALUES ('practice', %s)"
                    " ON CONFLICT (practice_id, key) DO UPDATE SET value = excluded.value",
                    (json.dumps(practice, ensure_ascii=False),))
    tx.audit("register.create")


def put_key_slot(tx: WriteTx, user: str, unwrap_key: bytes, data_key: bytes, *, must_change: bool = False) -> None:
    """Store (or replace) ``user``'s key slot: the practice data key wrapped on this desk.
    ``must_change``: wrapped under a temporary password, to be changed at sign-in."""
    ref = tx.desk.keys.practice_ref
    tx.conn.execute("INSERT INTO key_slots(name, slot, must_change) VALUES (%s, %s, %s) ON CONFLICT (practice_id, name)"
                    " DO UPDATE SET slot = excluded.slot, must_change = excluded.must_change",
                    (user, wrap_data_key(unwrap_key, data_key, ref, user), must_change))
    tx.audit("user.key_slot", detail=f"user={user}")


def add_patient(tx: WriteTx, p: Patient) -> int:
    """Insert one patient: the identity blob bound to its practice and row id, the NHS
    number's unique blind index, and the search tokens. A second patient with the same NHS
    number in the practice is a Conflict (the unique index decides, not a racy pre-check)."""
    row_id = insert_patient(tx, p)
    tx.audit("patient.create", tx.desk.keys.audit_ref(p.nhs_number, row_id))
    return row_id


def insert_patient(tx: WriteTx, p: Patient) -> int:
    """add_patient's rows without its audit entry (the services write theirs)."""
    desk, conn = tx.desk, tx.conn
    if p.nhs_number and nhs_mod.normalise(p.nhs_number) != p.nhs_number:
        raise ValueError("the NHS number must be validated (domain.patient.validate_patient) first")
    row_id = conn.execute("SELECT nextval(pg_get_serial_sequence('patients', 'id'))").fetchone()[0]
    blob = desk.keys.seal_patient(desk.practice_id, p, row_id)
    nhs_bidx = desk.keys.nhs_index(p.nhs_number) if p.nhs_number else None
    conn.execute("INSERT INTO patients(id, identity, nhs_bidx, created_by) VALUES (%s, %s, %s, %s)",
                 (row_id, blob, nhs_bidx, desk.user))
    conn.cursor().executemany("INSERT INTO patient_tokens(token, patient_id) VALUES (%s, %s)",
                              [(t, row_id) for t in sorted(desk.keys.search_tokens(p))])
    tx.patients.add(row_id)
    return row_id


def update_patient(tx: WriteTx, p: Patient) -> None:
    """Re-seal one patient's identity under the same row, with new blind indexes and tokens.
    Another patient with the new NHS number is a Conflict, and nothing changes."""
    reseal_patient(tx, p)
    tx.audit("patient.update", tx.desk.keys.audit_ref(p.nhs_number, p.patient_id))


def reseal_patient(tx: WriteTx, p: Patient) -> None:
    """update_patient's rows without its audit entry (the services write theirs)."""
    desk, conn = tx.desk, tx.conn
    desk.get_patient(p.patient_id, lock=True)  # NotFound for another practice's or no row
    conn.execute("UPDATE patients SET identity = %s, nhs_bidx = %s WHERE id = %s",
                 (desk.keys.seal_patient(desk.practice_id, p, p.patient_id),
                  desk.keys.nhs_index(p.nhs_number) if p.nhs_number else None, p.patient_id))
    conn.execute("DELETE FROM patient_tokens WHERE patient_id = %s", (p.patient_id,))
    conn.cursor().executemany("INSERT INTO patient_tokens(token, patient_id) VALUES (%s, %s)",
                              [(t, p.patient_id) for t in sorted(desk.keys.search_tokens(p))])
    tx.patients.add(p.patient_id)


def mark_event(tx: WriteTx, event_id: int, mark: str, *, at: datetime) -> int:
    """Coded (someone ticked it) or confirmed (found in the clinical system's export): appended
    as an event mark, since desks may not update events. Returns 0 when it was already marked."""
    row = tx.conn.execute("SELECT patient_id FROM events WHERE id = %s", (event_id,)).fetchone()
    if row is None:
        raise NotFound("No such event in the register.")
    added = tx.conn.execute("INSERT INTO event_marks(event_id, mark, at, by) VALUES (%s, %s, %s, %s)"
                            " ON CONFLICT DO NOTHING", (event_id, mark, at, tx.desk.user)).rowcount
    if added:
        patient = tx.desk.get_patient(row[0])
        tx.patients.add(row[0])
        tx.audit(f"event.{mark}", tx.desk.keys.audit_ref(patient.nhs_number, row[0]), detail=f"event={event_id}")
    return added


def record_event(tx: WriteTx, patient_id: int, kind: str, action: str, *, effective: date, received: date,
                 via: str, today: date, type2_cutoff: date, recorded_at: datetime,
                 proxy: Proxy | None = None, letter: tuple[str, date] | None = None) -> tuple[int, int]:
    """One event for one patient, validated against their history with the patient row
    locked first: two desks recording for one patient at once are taken one after the other,
    so the second sees the first's event. Returns (event id, form id)."""
    desk, conn = tx.desk, tx.conn
    patient = desk.get_patient(patient_id, lock=True)
    existing = desk.history(patient_id)
    check_new_event(kind, action, effective, received, via, today, existing, type2_cutoff)
    form_id = conn.execute("SELECT nextval('form_ids')").fetchone()[0]
    # The id first, so a proxy's sealed name is bound to its own row (events are insert-only).
    event_id = conn.execute("SELECT nextval(pg_get_serial_sequence('events', 'id'))").fetchone()[0]
    proxy_blob = None
    if proxy is not None:  # the proxy's name is identifying too
        proxy_blob = desk.keys.seal(desk.practice_id, "events", event_id,
                                    {"name": proxy.name, "evidence": proxy.evidence, "verified_by": proxy.verified_by})
    conn.execute(
        "INSERT INTO events(id, patient_id, kind, action, effective, received, via, proxy_role, proxy, form_id,"
        " recorded_by, recorded_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
        (event_id, patient_id, kind, action, effective, received, via, proxy.role if proxy else None, proxy_blob,
         form_id, desk.user, recorded_at))
    _refresh_current_state(conn, patient_id, desk.history(patient_id))
    if letter is not None:  # (kind, due): the confirmation letter queued with the form
        letter_id = conn.execute("INSERT INTO letters(patient_id, form_id, kind, queued_at, due)"
                                 " VALUES (%s,%s,%s,%s,%s) RETURNING id",
                                 (patient_id, form_id, letter[0], recorded_at, letter[1])).fetchone()[0]
        tx.audit("letter.queue", desk.keys.audit_ref(patient.nhs_number, patient_id), detail=f"letter={letter_id}")
    tx.patients.add(patient_id)
    tx.audit(f"{kind}.{action}", desk.keys.audit_ref(patient.nhs_number, patient_id), detail=f"form={form_id}")
    return event_id, form_id


def _refresh_current_state(conn, patient_id: int, events: list[Event]) -> None:
    for kind in EVENT_KINDS:
        status = current_status(events, kind)
        if status.event is None:
            conn.execute("DELETE FROM current_state WHERE patient_id = %s AND kind = %s", (patient_id, kind))
            continue
        conn.execute(
            "INSERT INTO current_state(patient_id, kind, active, since, event_id) VALUES (%s,%s,%s,%s,%s)"
            " ON CONFLICT (practice_id, patient_id, kind) DO UPDATE"
            " SET active = excluded.active, since = excluded.since, event_id = excluded.event_id",
            (patient_id, kind, status.active, status.since, status.event.event_id))
