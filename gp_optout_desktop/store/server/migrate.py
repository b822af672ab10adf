"""Moving a register file into an empty server practice (issue 15 item 6).

``read_source`` takes everything the server store can hold from an unlocked register file;
``import_snapshot`` writes it through the server's one write path (``Desk.write()``) as ONE
transaction, in batches of statements, so a migration killed halfway leaves the server
practice exactly as it was (empty): PostgreSQL rolls back a transaction whose client died.
``verify_import`` then reads the server back and compares.

The source's audit chain cannot become the server's chain: its entries are signed with the
users' Ed25519 keys and hashed over fields (signer, perm, row digests) the server's audit
table does not have, and they name patients by NHS number, which the server must never see.
So it is ARCHIVED: its rows (and the user certificates that verify their signatures) are
sealed with the practice's field key (AES-256-GCM, bound to practice and part number) into
``meta`` rows ``migrated.audit.N``; the source's verified head (seq and hash) is written in
the server chain's FIRST entry (``register.migrate``), which every later server entry chains
from. The archive is re-checked on the desk (links and hashes up to that head) by
``verify_archive``. The user certificates, which the server has no home for, are sealed
beside it. The practice-wide opt-out's code rows and the reconciliation runs are copied into
their own tables (server schema V6), their policy and patient ids mapped, and counted.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import date, datetime

from ...domain.patient import Patient
from .. import audit as audit_mod
from .. import patients as patients_store
from ..errors import StoreError
from . import chain, ops

# Settings the server carries (meta keys of the register file); the register file's own
# bookkeeping (keys, heads, revision, register id) is the file's, never copied.
CARRIED_META = ("practice", "ods", "idle_lock_minutes", "coding_target_working_days")
ARCHIVE_PART_ROWS = 2000  # audit entries per sealed meta row
BATCH = 500  # rows per executemany
FROM_KEY = "migrated.from"

_AUDIT_COLS = ("seq", "at", "user", "role", "action", "patient", "outcome", "workstation", "detail",
               "prev", "mac", "signer", "perm", "rows", "sig")
# Source tables with their columns, read verbatim (ids are mapped on the server).
_SOURCE = {
    "users": "name, role, active, created_at, created_by",
    "policy": "id, state, effective, reason, recorded_by, recorded_at",
    "letters": "id, patient_id, form_id, kind, queued_at, due, sent_at, template_version, printed_count",
    "signposts": "id, patient_id, on_date, recorded_by, recorded_at",
    "letter_templates": "kind, version, text, saved_by, saved_at",
    "code_tables": "version, text, reason, saved_by, saved_at",
    "registration": "patient_id, status, since, died_on, reregistered_on, merged_into, updated_at, updated_by",
    "practice_codes": "id, patient_id, policy_id, op, effective, queued_at, confirmed_at, confirmed_by",
    "reconciliations": "*",
    "user_certs": "serial, name, body, sig",
}
# Tables with a server home, compared row for row by count after the import.
COUNTED = ("patients", "events", "current_state", "policy", "letters", "signposts", "letter_templates",
           "code_tables", "registration", "users", "practice_codes", "reconciliations")


@dataclass
class Signing:
    """The server's manager key (new), the file's exclusion signing seed (None: make one) and
    the (login, unwrap key) of each active manager, whose manager slot is written."""
    manager_key: bytes
    seed: bytes | None
    managers: list


class MigrationRefused(StoreError):
    """The migration was refused before anything was written to the server."""


@dataclass
class Snapshot:
    register_id: str
    head: audit_mod.Head
    meta: dict
    patients: list[Patient]
    events: list[tuple]
    marks: list[tuple]  # (source event id, mark, at, by)
    current_state: dict[int, dict[str, bool]]
    tables: dict[str, list[tuple]]
    audit: list[tuple]
    counts: dict[str, int] = field(default_factory=dict)


def read_source(conn) -> Snapshot:
    """Everything to carry, from one read transaction of the register file."""
    from .. import meta as meta_store

    meta = {k: meta_store.get(conn, k) for k in CARRIED_META if meta_store.get(conn, k) is not None}
    ids = [r[0] for r in conn.execute("SELECT id FROM patients ORDER BY id")]
    found = patients_store.get_many(conn, ids) if ids else {}
    patients = [found[i] for i in ids]
    events = conn.execute(
        "SELECT id, patient_id, kind, action, effective, received, via, proxy_role, proxy_name, proxy_evidence,"
        " proxy_verified_by, submitted_by, form_id, recorded_by, recorded_at FROM events ORDER BY id").fetchall()
    marks = [(eid, "coded", at, by) for eid, at, by in
             conn.execute("SELECT id, coded_at, coded_by FROM events WHERE coded_at IS NOT NULL ORDER BY id")]
    marks += [(eid, "confirmed", at, by) for eid, at, by in
              conn.execute("SELECT id, confirmed_at, confirmed_by FROM events WHERE confirmed_at IS NOT NULL"
                           " ORDER BY id")]
    state: dict[int, dict[str, bool]] = {}
    for pid, kind, active in conn.execute("SELECT patient_id, kind, active FROM current_state"):
        state.setdefault(pid, {})[kind] = bool(active)
    tables = {t: conn.execute(f"SELECT {cols} FROM {t}").fetchall() for t, cols in _SOURCE.items()}
    audit = conn.execute(f"SELECT {', '.join(_AUDIT_COLS)} FROM audit ORDER BY seq").fetchall()
    if not audit:
        raise MigrationRefused("The register file has no audit trail to carry; nothing was sent to the server.")
    snap = Snapshot(str(meta_store.get(conn, "register_id", "")), audit_mod.Head(audit[-1][0], audit[-1][10]),
                    meta, patients, events, marks, state, tables, audit)
    snap.counts = {"patients": len(patients), "events": len(events), "marks": len(marks),
                   "current_state": sum(len(v) for v in state.values()), "audit": len(audit),
                   **{t: len(rows) for t, rows in tables.items()}}
    return snap


# -- writing ------------------------------------------------------------------------------
def refuse_unless_empty(conn) -> None:
    """The target practice must never have been used: no chain, no rows of any kind."""
    seq = conn.execute("SELECT audit_seq FROM practices").fetchone()
    if seq is None:
        raise MigrationRefused("This login is not mapped to a practice on the server; nothing was changed.")
    used = [t for t in ("meta", "users", "key_slots", "patients", "events", "policy", "letters", "audit")
            if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").fetchone()[0]]
    if seq[0] or used:
        raise MigrationRefused(f"The server practice is not empty (it has {', '.join(used) or 'an audit trail'}): "
                               "a register can only be moved into a new, empty practice. Nothing was changed.")


def _ts(text):
    return datetime.fromisoformat(text) if text else None


def _d(text):
    return date.fromisoformat(text) if text else None


def _batches(rows):
    for i in range(0, len(rows), BATCH):
        yield rows[i:i + BATCH]


def _seal_json(desk: ops.Desk, part: int, payload) -> str:
    blob = desk.keys.seal(desk.practice_id, "audit_archive", part, {"rows": payload})
    return base64.b64encode(blob).decode("ascii")


def _open_json(desk: ops.Desk, part: int, text: str):
    return desk.keys.open(desk.practice_id, "audit_archive", part, base64.b64decode(text))["rows"]


def taken_logins(conn, logins) -> set[str]:
    """Which of these names are already roles on the cluster (logins are cluster-wide)."""
    return {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(logins),))}


def import_snapshot(desk: ops.Desk, snap: Snapshot, *, logins: dict[str, str],
                    key_slots: list[tuple[str, bytes, bytes]], on_batch=None,
                    signing: Signing | None = None) -> dict[int, int]:
    """Write the snapshot into the (empty) practice in ONE transaction; returns the patient id
    map (source id -> server id). ``logins`` maps each register-file user name to their server
    login, which names their users row and key slot (on the server a user's name IS their
    login); the mapping is written in the audit entry ``migrate.logins``, since the archived
    trail and the copied rows' recorded_by keep the file's names. ``key_slots`` = [(login,
    unwrap key, data key)]. ``on_batch`` is called after each batch (progress; tests inject a
    failure there)."""
    tick = on_batch or (lambda what: None)
    with desk.write() as tx:
        conn = tx.conn
        # Taken first, for once: nothing else may write to this practice while it is filled.
        conn.execute("SELECT 1 FROM practices WHERE id = %s FOR NO KEY UPDATE", (desk.practice_id,))
        refuse_unless_empty(conn)
        # Entry 1 of the server chain names the source chain's verified head.
        tx.audit("register.migrate", detail=json.dumps(
            {"register_id": snap.register_id, "source_head": {"seq": snap.head.seq, "mac": snap.head.mac},
             "counts": snap.counts}, sort_keys=True, separators=(",", ":")))
        cur = conn.cursor()
        cur.executemany("INSERT INTO meta(key, value) VALUES (%s, %s)",
                        [(k, json.dumps(v, ensure_ascii=False)) for k, v in snap.meta.items()])
        # The migrating manager's row first: once a practice has an active manager, only a
        # manager's login may add users rows (server schema V5).
        users = sorted(snap.tables["users"], key=lambda u: logins[u[0]] != desk.user)
        cur.executemany("INSERT INTO users(name, role, active, created_at, created_by) VALUES (%s,%s,%s,%s,%s)",
                        [(logins[n], r, bool(a), _ts(at), by) for n, r, a, at, by in users])
        tx.audit("migrate.users", detail=f"users={len(snap.tables['users'])}")
        # Old entries (archived trail, recorded_by columns) name users by their file names.
        tx.audit("migrate.logins", detail=json.dumps({"file_name_to_login": logins}, sort_keys=True,
                                                     separators=(",", ":")))
        for slot in key_slots:  # everyone's but the migrating manager's under a temporary password
            ops.put_key_slot(tx, *slot, must_change=slot[0] != desk.user)
        if signing is not None:
            _carry_signing_key(tx, signing)
        pid_map: dict[int, int] = {}
        for n, p in enumerate(snap.patients, 1):
            pid_map[p.patient_id] = ops.add_patient(tx, p)
            if n % BATCH == 0:
                tick("patients")
        tick("patients")
        _copy_events(tx, snap, pid_map, tick)
        _copy_rows(tx, snap, pid_map)
        _archive(tx, snap)
        # Derived on the server from the events as written there (the store's own rule), then
        # compared with the file's by verify_import.
        for pid in sorted({pid_map[e[1]] for e in snap.events}):
            ops._refresh_current_state(conn, pid, desk.history(pid))
        tick("current_state")
        # Form ids are kept (they are on the letters already sent); the server's sequence is
        # moved past them so a new form never reuses one.
        top = max((e[12] for e in snap.events), default=0)
        # (A desk may only call nextval on it: no setval, no reading it.)
        now = conn.execute("SELECT nextval('form_ids')").fetchone()[0]
        if now < top:
            conn.execute("SELECT max(nextval('form_ids')) FROM generate_series(1, %s)", (top - now,))
    return pid_map


def _carry_signing_key(tx, signing: Signing) -> None:
    """The exclusion file's signing key re-sealed under the server's manager key, which every
    active manager's own slot gets (ADR 0015 addendum): the consuming system's installed
    public key keeps verifying the server's files."""
    from ...exclusion import signing as ed
    from . import signing as server_signing

    key = ed.private_key_from_bytes(signing.seed) if signing.seed else ed.generate_private_key()
    for login, unwrap in signing.managers:
        server_signing.put_manager_slot(tx, login, unwrap, signing.manager_key)
    server_signing.store_seed(tx, signing.manager_key, ed.private_key_bytes(key), ed.key_id(key))
    tx.audit("migrate.signing_key", detail=f"key_id={ed.key_id(key)} managers={len(signing.managers)} "
                                           f"{'carried' if signing.seed else 'created'}")


def _copy_events(tx, snap: Snapshot, pid_map: dict[int, int], tick) -> None:
    desk, conn, cur = tx.desk, tx.conn, tx.conn.cursor()
    eid_map: dict[int, int] = {}
    for batch in _batches(snap.events):
        ids = conn.execute("SELECT nextval(pg_get_serial_sequence('events', 'id')) FROM generate_series(1, %s)",
                           (len(batch),)).fetchall()
        rows = []
        for (sid, pid, kind, action, eff, rec, via, prole, pname, pevid, pver, sub, form, rby, rat), (eid,) in \
                zip(batch, ids):
            eid_map[sid] = eid
            blob = None
            if prole:  # the proxy's name is identifying: sealed to its own row, as record_event does
                blob = desk.keys.seal(desk.practice_id, "events", eid,
                                      {"name": pname, "evidence": pevid, "verified_by": pver})
            rows.append((eid, pid_map[pid], kind, action, _d(eff), _d(rec), via, prole, blob,
                         pid_map[sub] if sub is not None else None, form, rby, _ts(rat)))
            tx.patients.add(pid_map[pid])
        cur.executemany(
            "INSERT INTO events(id, patient_id, kind, action, effective, received, via, proxy_role, proxy,"
            " submitted_by, form_id, recorded_by, recorded_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", rows)
        tick("events")
    tx.audit("migrate.events", detail=f"events={len(snap.events)}")
    cur.executemany("INSERT INTO event_marks(event_id, mark, at, by) VALUES (%s,%s,%s,%s)",
                    [(eid_map[e], mark, _ts(at), by or "") for e, mark, at, by in snap.marks])
    tx.audit("migrate.marks", detail=f"marks={len(snap.marks)}")


def _copy_rows(tx, snap: Snapshot, pid_map: dict[int, int]) -> None:
    cur, t = tx.conn.cursor(), snap.tables
    policy_map = {}  # the server's ids are its own: the practice-wide code rows name theirs
    for source_id, state, eff, reason, by, at in sorted(t["policy"]):
        policy_map[source_id] = cur.execute(
            "INSERT INTO policy(state, effective, reason, recorded_by, recorded_at) VALUES (%s,%s,%s,%s,%s)"
            " RETURNING id", (state, _d(eff), reason, by, _ts(at))).fetchone()[0]
    cur.executemany(
        "INSERT INTO practice_codes(patient_id, policy_id, op, effective, queued_at, confirmed_at, confirmed_by)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s)",
        [(pid_map[p], policy_map[pol], op, _d(eff), _ts(q), _ts(c), by)
         for _id, p, pol, op, eff, q, c, by in sorted(t["practice_codes"])])
    cur.executemany(
        "INSERT INTO reconciliations(id, at, run_by, source, encoding, delimiter, rows, not_coded, not_in_register,"
        " differ, agree, rows_not_in_register, rows_differ, rows_agree, confirmed, not_coded_oldest)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
        [(r[0], _ts(r[1]), *r[2:15], _d(r[15])) for r in sorted(t["reconciliations"])])
    cur.executemany(
        "INSERT INTO letters(patient_id, form_id, kind, queued_at, due, sent_at, template_version, printed_count)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
        [(pid_map[p], f, k, _ts(q), _d(due), _ts(s), tv, pc) for _id, p, f, k, q, due, s, tv, pc in sorted(t["letters"])])
    cur.executemany("INSERT INTO signposts(patient_id, on_date, recorded_by, recorded_at) VALUES (%s,%s,%s,%s)",
                    [(pid_map[p], _d(on), by, _ts(at)) for _id, p, on, by, at in sorted(t["signposts"])])
    cur.executemany("INSERT INTO letter_templates(kind, version, text, saved_by, saved_at) VALUES (%s,%s,%s,%s,%s)",
                    [(k, v, text, by, _ts(at)) for k, v, text, by, at in t["letter_templates"]])
    cur.executemany("INSERT INTO code_tables(version, text, reason, saved_by, saved_at) VALUES (%s,%s,%s,%s,%s)",
                    [(v, text, r, by, _ts(at)) for v, text, r, by, at in t["code_tables"]])
    cur.executemany(
        "INSERT INTO registration(patient_id, status, since, died_on, reregistered_on, merged_into, updated_at,"
        " updated_by) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
        [(pid_map[p], s, _d(since), _d(died), _d(rereg), pid_map.get(merged) if merged is not None else None,
          _ts(at), by) for p, s, since, died, rereg, merged, at, by in t["registration"]])
    tx.audit("migrate.rows", detail=" ".join(f"{n}={len(t[n])}" for n in
                                               ("policy", "letters", "signposts", "letter_templates",
                                                "code_tables", "registration", "practice_codes",
                                                "reconciliations")))


def _archive(tx, snap: Snapshot) -> None:
    """The source chain and its certificates (which have no server home), sealed."""
    desk, rows = tx.desk, []
    parts = [snap.audit[i:i + ARCHIVE_PART_ROWS] for i in range(0, len(snap.audit), ARCHIVE_PART_ROWS)]
    for n, part in enumerate(parts, 1):
        rows.append((f"migrated.audit.{n}", _seal_json(desk, n, [list(r) for r in part])))
    extra = {"user_certs": snap.tables["user_certs"]}
    rows.append(("migrated.tables", _seal_json(desk, 0, {k: [list(r) for r in v] for k, v in extra.items()})))
    rows.append((FROM_KEY, json.dumps({"register_id": snap.register_id, "audit_parts": len(parts),
                                       "source_head": {"seq": snap.head.seq, "mac": snap.head.mac},
                                       "counts": snap.counts}, sort_keys=True)))
    tx.conn.cursor().executemany("INSERT INTO meta(key, value) VALUES (%s, %s)", rows)
    tx.audit("migrate.archive", detail=f"entries={len(snap.audit)} parts={len(parts)}")


# -- checking -----------------------------------------------------------------------------
def archived_chain(desk: ops.Desk) -> tuple[list[dict], dict]:
    """The archived source entries (as dicts) and the migration record."""
    row = desk.conn.execute("SELECT value FROM meta WHERE key = %s", (FROM_KEY,)).fetchone()
    if row is None:
        raise StoreError("This practice was not moved from a register file: there is no archived trail.")
    record = json.loads(row[0])
    entries = []
    for n in range(1, record["audit_parts"] + 1):
        text = desk.conn.execute("SELECT value FROM meta WHERE key = %s", (f"migrated.audit.{n}",)).fetchone()
        if text is None:
            raise StoreError(f"Part {n} of the archived audit trail is missing from the server.")
        entries += [dict(zip(_AUDIT_COLS, r)) for r in _open_json(desk, n, text[0])]
    return entries, record


def verify_archive(desk: ops.Desk) -> list[str]:
    """The archived chain, re-checked: contiguous, each entry linked to the one before, each
    signed entry's hash recomputed, its last entry equal to the head the server's first
    entry names (so nothing was cut from the end or changed since the migration).
    Problems found, in words; [] when intact. (Entries from before schema 4 carry an HMAC
    under the old register's key, which stays in the file: their links are checked.)"""
    entries, record = archived_chain(desk)
    problems, prev = [], audit_mod.GENESIS
    for i, e in enumerate(entries, 1):
        if e["seq"] != i:
            problems.append(f"archived entry {i} is missing.")
            break
        if e["prev"] != prev:
            problems.append(f"archived entry {i} does not follow the entry before it.")
            break
        if e["signer"] and audit_mod.entry_hash(prev, e) != e["mac"]:
            problems.append(f"archived entry {i} was changed after it was written.")
            break
        prev = e["mac"]
    first = desk.conn.execute("SELECT action, detail FROM audit WHERE seq = 1").fetchone()
    named = json.loads(first[1])["source_head"] if first and first[0] == "register.migrate" else None
    last = {"seq": entries[-1]["seq"], "mac": entries[-1]["mac"]} if entries else None
    if named is None:
        problems.append("the server's first audit entry does not record a migration.")
    elif last != named or record["source_head"] != named:
        problems.append("the archived trail does not end at the head recorded in the server's first entry.")
    return problems


def server_counts(conn) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}


def verify_import(desk: ops.Desk, snap: Snapshot, pid_map: dict[int, int]) -> list[str]:
    """The server read back against the snapshot: counts per table, every patient's identity
    and current state, the archived trail, and the server's own chain. [] when all agree."""
    problems = []
    counts = server_counts(desk.conn)
    for table in COUNTED:
        if counts[table] != snap.counts[table]:
            problems.append(f"{table}: {snap.counts[table]} in the register file, {counts[table]} on the server.")
    marks = desk.conn.execute("SELECT count(*) FROM event_marks").fetchone()[0]
    if marks != snap.counts["marks"]:
        problems.append(f"coded/confirmed marks: {snap.counts['marks']} in the file, {marks} on the server.")
    for p in snap.patients:
        sid = pid_map.get(p.patient_id)
        if sid is None:
            problems.append("a patient was not carried to the server.")
            break
        moved = desk.get_patient(sid)
        if (moved.nhs_number, moved.surname, moved.forenames, moved.dob, tuple(moved.address), moved.postcode,
                moved.title, moved.phone, moved.email) != (p.nhs_number, p.surname, p.forenames, p.dob,
                                                           tuple(p.address), p.postcode, p.title, p.phone, p.email):
            problems.append("a patient's details differ on the server.")
            break
        if desk.current_state(sid) != snap.current_state.get(p.patient_id, {}):
            problems.append("a patient's current state differs on the server.")
            break
    problems += verify_archive(desk)
    result = chain.verify(desk.conn, desk.keys.audit_key, desk.practice_id, retired=desk.keys.retired_audit_keys)
    if not result.ok:
        problems.append(f"the server's audit trail does not verify: {result.problem}")
    return problems
