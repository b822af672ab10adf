"""Reading a whole server practice for its per-practice encrypted export (issue 15 item 6).

``read_practice`` takes every row the practice has, in ONE read-only REPEATABLE READ
snapshot on the desk's connection, and verifies the practice's audit chain in that same
snapshot: the rows, the chain and its head are of one moment while other desks keep
writing. Identifying fields (the patients' and proxies' sealed blobs) are opened on the
desk; nothing is decrypted on the server. services/server_export.py writes the snapshot
into a register file and backs that up: the export IS a register backup, so it restores
into a register file (``gp-optout restore``) or into an empty server practice
(``gp-optout migrate-to-server --from-backup``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...domain.patient import Patient
from .. import audit as audit_mod
from . import chain, epochs, migrate, ops, reading

# The server's audit columns, in the register file's field order (``actor`` is the file's ``user``).
AUDIT_COLUMNS = "seq, at, actor, role, action, patient, outcome, workstation, detail, prev, mac"
# Server rows carried verbatim (ids kept), each in the column order the file's table has.
_TABLES = {
    "users": "SELECT name, role, active, created_at, created_by FROM users ORDER BY name",
    "policy": "SELECT id, state, effective, reason, recorded_by, recorded_at FROM policy ORDER BY id",
    "letters": "SELECT id, patient_id, form_id, kind, queued_at, due, sent_at, template_version, printed_count"
               " FROM letters ORDER BY id",
    "signposts": "SELECT id, patient_id, on_date, recorded_by, recorded_at FROM signposts ORDER BY id",
    "letter_templates": "SELECT kind, version, text, saved_by, saved_at FROM letter_templates ORDER BY kind",
    "code_tables": "SELECT version, text, reason, saved_by, saved_at FROM code_tables ORDER BY version",
    "registration": "SELECT patient_id, status, since, died_on, reregistered_on, merged_into, updated_at, updated_by"
                    " FROM registration ORDER BY patient_id",
    "practice_codes": "SELECT id, patient_id, policy_id, op, effective, queued_at, confirmed_at, confirmed_by"
                      " FROM practice_codes ORDER BY id",
    "reconciliations": "SELECT id, at, run_by, source, encoding, delimiter, rows, not_coded, not_in_register, differ,"
                       " agree, rows_not_in_register, rows_differ, rows_agree, confirmed, not_coded_oldest"
                       " FROM reconciliations ORDER BY id",
}
# Tables whose counts the export is checked against (the server's, table by table).
COUNTED = ("patients", "events", "current_state", "policy", "letters", "signposts", "letter_templates",
           "code_tables", "registration", "users", "practice_codes", "reconciliations")


@dataclass
class PracticeSnapshot:
    practice_id: int
    practice_ref: str
    revision: int
    head: audit_mod.Head | None
    verification: audit_mod.Verification
    meta: dict[str, str]  # key -> JSON text, as stored
    patients: list[tuple[Patient, object, str]]  # (patient opened on the desk, created_at, created_by)
    events: list[tuple]  # (id, patient id, form id, Event) with marks and the proxy opened
    current_state: list[tuple]  # (patient id, kind, active, since, event id)
    tables: dict[str, list[tuple]]
    audit: list[tuple]  # AUDIT_COLUMNS
    counts: dict[str, int] = field(default_factory=dict)
    # A practice moved from a register file: that file's trail and tables archived on the
    # server (store/server/migrate.py), opened on the desk and re-checked; None otherwise.
    moved_from_file: dict | None = None
    moved_problems: list[str] = field(default_factory=list)
    epoch_seqs: list[int] = field(default_factory=list)  # a re-keyed practice's epoch entries (schema V9)


def read_practice(desk: ops.Desk) -> PracticeSnapshot:
    conn = desk.conn
    with reading.snapshot(conn):
        revision, seq, mac, ref = conn.execute(
            "SELECT revision, audit_seq, audit_mac, ref FROM practices WHERE id = %s", (desk.practice_id,)).fetchone()
        verification = chain.verify(conn, desk.keys.audit_key, desk.practice_id,  # inside this snapshot
                                    retired=desk.keys.retired_audit_keys)
        epoch_seqs = [seq for _epoch, seq, _key_id in epochs.epochs(conn, desk.practice_id)]
        meta = dict(conn.execute("SELECT key, value FROM meta ORDER BY key").fetchall())
        patients = [(desk._patient(pid, blob), at, by) for pid, blob, at, by in
                    conn.execute("SELECT id, identity, created_at, created_by FROM patients ORDER BY id")]
        forms = dict(conn.execute("SELECT id, form_id FROM events").fetchall())
        events = [(e.event_id, pid, forms[e.event_id], e) for pid, e in desk.events_where("true ORDER BY e.id", ())]
        state = [tuple(r) for r in conn.execute(
            "SELECT patient_id, kind, active, since, event_id FROM current_state ORDER BY patient_id, kind")]
        tables = {t: [tuple(r) for r in conn.execute(sql)] for t, sql in _TABLES.items()}
        audit = [tuple(r) for r in conn.execute(f"SELECT {AUDIT_COLUMNS} FROM audit ORDER BY seq")]
        moved, moved_problems = None, []
        if migrate.FROM_KEY in meta:
            entries, record = migrate.archived_chain(desk)
            kept = migrate._open_json(desk, 0, meta["migrated.tables"]) if "migrated.tables" in meta else {}
            moved = {"record": record, "entries": entries, "tables": kept}
            moved_problems = migrate.verify_archive(desk)
    snap = PracticeSnapshot(desk.practice_id, str(ref), revision, audit_mod.Head(seq, mac) if seq else None,
                            verification, meta, patients, events, state, tables, audit)
    snap.moved_from_file, snap.moved_problems, snap.epoch_seqs = moved, moved_problems, epoch_seqs
    snap.counts = {"patients": len(patients), "events": len(events), "current_state": len(state),
                   "audit": len(audit), **{t: len(rows) for t, rows in tables.items()}}
    return snap
