"""A server practice written into a new register file (issue 15 item 6: the practice's
encrypted export restores into either engine). The register-file half of
services/server_export.py; store/server/export.py reads the server half.

Rows keep their server ids (patients, events, letters, signposts, policy), so form ids,
letters and the events they refer to line up as on the server. The server's audit chain
cannot become the file's trail (its entries are MAC'd under the server practice's audit key,
the file's are signed per user), so it is ARCHIVED in the file's meta, with that key, in
parts of ``PART_ROWS`` entries; its verified head and the archive's SHA-256 are written in
the file's signed entry ``register.from_server``, so the archive cannot be changed without
breaking the file's own trail, and ``verify_archive`` re-checks every MAC of it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date, datetime, timezone

from ..domain import postcode
from . import audit as audit_mod
from . import events as events_store
from . import meta as meta_store
from .patients import surname_key

EPOCH_ACTION = "register.rekey_epoch"  # store/server/schema_rekey.py's (this module needs no psycopg)

PART_ROWS = 2000
ARCHIVE_PREFIX = "from_server.audit."
RECORD_KEY = "from_server"
FILE_TRAIL_KEY = "from_server.moved_from_file"
# The server's practice settings the file keeps (the file's own keys, heads and revision are its own).
CARRIED_META = ("idle_lock_minutes", "coding_target_working_days")
_AUDIT_FIELDS = audit_mod.FIELDS + ("prev", "mac")


def iso(at: datetime | None) -> str | None:
    """A server timestamptz as the register file keeps times: ISO text in UTC."""
    return at.astimezone(timezone.utc).isoformat() if at is not None else None


def day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def sent_day(at: datetime | None) -> str | None:
    """The server keeps a letter's sent date as midnight UTC; the file keeps the date."""
    return at.astimezone(timezone.utc).date().isoformat() if at is not None else None


def insert_patients(conn, rows) -> None:
    """[(Patient, created_at, created_by)], each under its server id."""
    conn.executemany(
        "INSERT INTO patients(id, nhs, title, surname, forenames, surname_key, dob, address, postcode, postcode_key,"
        " phone, email, created_at, created_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(p.patient_id, p.nhs_number, p.title, p.surname, p.forenames, surname_key(p.surname), p.dob.isoformat(),
          json.dumps(list(p.address), ensure_ascii=False), p.postcode, postcode.search_key(p.postcode), p.phone,
          p.email, iso(at), by) for p, at, by in rows])


def insert_events(conn, events) -> None:
    """[(event id, patient id, form id, Event)] with their coded/confirmed marks; then each patient's
    current state is derived by the file's own rule (events_store.refresh_current_state)."""
    rows = []
    for eid, pid, form_id, e in events:
        x = e.proxy
        rows.append((eid, pid, e.kind, e.action, e.effective.isoformat(), e.received.isoformat(), e.via,
                     x.role if x else None, x.name if x else None, x.evidence if x else None,
                     x.verified_by if x else None, e.submitted_by, form_id,
                     e.recorded_by, iso(e.recorded_at), iso(e.coded_at), e.coded_by, iso(e.confirmed_at),
                     e.confirmed_by))
    conn.executemany(
        "INSERT INTO events(id, patient_id, kind, action, effective, received, via, proxy_role, proxy_name,"
        " proxy_evidence, proxy_verified_by, submitted_by, form_id, recorded_by, recorded_at, coded_at, coded_by,"
        " confirmed_at, confirmed_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    for pid in sorted({pid for _eid, pid, _form, _e in events}):
        events_store.refresh_current_state(conn, pid)


def insert_letters(conn, letters, signposts) -> None:
    conn.executemany(
        "INSERT INTO letters(id, patient_id, form_id, kind, queued_at, due, sent_at, template_version, printed_count)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        [(i, p, f, k, iso(q), day(due), sent_day(s), tv, pc) for i, p, f, k, q, due, s, tv, pc in letters])
    conn.executemany("INSERT INTO signposts(id, patient_id, on_date, recorded_by, recorded_at) VALUES (?,?,?,?,?)",
                     [(i, p, day(on), by, iso(at)) for i, p, on, by, at in signposts])


def insert_policy(conn, rows) -> None:
    conn.executemany("INSERT INTO policy(id, state, effective, reason, recorded_by, recorded_at) VALUES (?,?,?,?,?,?)",
                     [(i, s, day(e), r, by, iso(at)) for i, s, e, r, by, at in rows])


def insert_templates(conn, rows) -> None:
    conn.executemany("INSERT INTO letter_templates(kind, version, text, saved_by, saved_at) VALUES (?,?,?,?,?)",
                     [(k, v, text, by, iso(at)) for k, v, text, by, at in rows])


def insert_code_tables(conn, rows) -> None:
    conn.executemany("INSERT INTO code_tables(version, text, reason, saved_by, saved_at) VALUES (?,?,?,?,?)",
                     [(v, text, r, by, iso(at)) for v, text, r, by, at in rows])


def insert_registration(conn, rows) -> None:
    conn.executemany(
        "INSERT INTO registration(patient_id, status, since, died_on, reregistered_on, merged_into, updated_at,"
        " updated_by) VALUES (?,?,?,?,?,?,?,?)",
        [(p, s, day(since), day(died), day(rereg), merged, iso(at), by)
         for p, s, since, died, rereg, merged, at, by in rows])


def insert_practice_codes(conn, rows) -> None:
    """The practice-wide code rows (their policy and patient ids are kept, as the rows they name)."""
    conn.executemany(
        "INSERT INTO practice_codes(id, patient_id, policy_id, op, effective, queued_at, confirmed_at, confirmed_by)"
        " VALUES (?,?,?,?,?,?,?,?)",
        [(i, p, pol, op, day(eff), iso(q), iso(c), by) for i, p, pol, op, eff, q, c, by in rows])


def insert_reconciliations(conn, rows) -> None:
    conn.executemany(
        "INSERT INTO reconciliations(id, at, run_by, source, encoding, delimiter, rows, not_coded, not_in_register,"
        " differ, agree, rows_not_in_register, rows_differ, rows_agree, confirmed, not_coded_oldest)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(r[0], iso(r[1]), *r[2:15], day(r[15])) for r in rows])


def put_settings(conn, server_meta: dict[str, str]) -> list[str]:
    """The server practice's carried settings (JSON text as stored there); the keys written."""
    done = []
    for key in CARRIED_META:
        if key in server_meta:
            meta_store.put(conn, key, json.loads(server_meta[key]))
            done.append(key)
    return done


def raise_revision(conn, at_least: int) -> None:
    """Carry on above the server's revision: the clinical system refuses an exclusion file
    whose revision goes backwards (as a restore does, services/backup.py)."""
    if meta_store.revision(conn) < at_least:
        meta_store.put(conn, "revision", at_least)


# -- the server's chain, archived -----------------------------------------------------------
def _archive_text(audit_rows) -> list[str]:
    parts = [audit_rows[i:i + PART_ROWS] for i in range(0, len(audit_rows), PART_ROWS)]
    return [json.dumps([list(r) for r in part], ensure_ascii=False, separators=(",", ":")) for part in parts]


def archive_digest(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    return digest.hexdigest()


def archive_chain(conn, audit_rows, audit_key: bytes, record: dict, moved_from_file: dict | None = None, *,
                  retired=(), epoch_seqs=()) -> dict:
    """Write the server chain's rows and its MAC key into meta; returns the record (head,
    parts, digest) that the caller writes in the file's signed entry ``register.from_server``.
    A practice once moved from a register file carries that file's archived trail and tables
    too (``FILE_TRAIL_KEY``), so the export holds the practice's whole history. A re-keyed
    practice's chain is under one key per epoch: ``retired`` (the earlier keys, oldest first)
    and ``epoch_seqs`` (each epoch entry's seq, after which the next key is in force)."""
    texts = _archive_text(audit_rows)
    for n, text in enumerate(texts, 1):
        conn.execute("INSERT INTO meta(key, value) VALUES (?, ?)", (f"{ARCHIVE_PREFIX}{n}", text))
    full = {**record, "parts": len(texts), "digest": archive_digest(texts), "audit_key": audit_key.hex()}
    if epoch_seqs:
        full.update(retired_audit_keys=[k.hex() for k in retired], epoch_seqs=list(epoch_seqs))
    if moved_from_file is not None:
        text = json.dumps(moved_from_file, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        conn.execute("INSERT INTO meta(key, value) VALUES (?, ?)", (FILE_TRAIL_KEY, text))
        full["file_trail_digest"] = archive_digest([text])
    meta_store.put(conn, RECORD_KEY, full)
    return {k: v for k, v in full.items() if k not in ("audit_key", "retired_audit_keys")}


def verify_archive(conn, signed_record: dict | None) -> list[str]:
    """The archived server chain re-checked in the file: every part present, their digest the
    one in the file's signed entry, seq 1, 2, 3 ..., each entry linked to the one before and
    its MAC recomputed, the last entry the head the signed entry names. [] when intact."""
    record = meta_store.get(conn, RECORD_KEY)
    if record is None or signed_record is None:
        return ["this register was not exported from a server: there is no archived server trail."]
    texts = []
    for n in range(1, record["parts"] + 1):
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (f"{ARCHIVE_PREFIX}{n}",)).fetchone()
        if row is None:
            return [f"part {n} of the archived server trail is missing."]
        texts.append(row[0])
    if archive_digest(texts) != signed_record.get("digest"):
        return ["the archived server trail differs from the one recorded when it was exported."]
    keys = [bytes.fromhex(k) for k in (*record.get("retired_audit_keys", ()), record["audit_key"])]
    epoch_seqs, prev, seq = record.get("epoch_seqs", []), audit_mod.GENESIS, 0
    if len(epoch_seqs) != len(keys) - 1:
        return ["the archived server trail's keys do not match its key epochs."]
    for text in texts:
        for values in json.loads(text):
            e = dict(zip(_AUDIT_FIELDS, values))
            seq += 1
            if e["seq"] != seq:
                return [f"archived server entry {seq} is missing."]
            if e["prev"] != prev:
                return [f"archived server entry {seq} does not follow the entry before it."]
            fields = {f: e[f] for f in audit_mod.FIELDS}
            if not hmac.compare_digest(audit_mod._mac(keys[0], prev, fields), e["mac"]):
                return [f"archived server entry {seq} was changed after it was written."]
            if epoch_seqs and seq == epoch_seqs[0]:  # a re-key: the next key from the next entry on
                if e["action"] != EPOCH_ACTION:
                    return [f"archived server entry {seq} should begin a key epoch, and does not."]
                keys, epoch_seqs = keys[1:], epoch_seqs[1:]
            prev = e["mac"]
    head = signed_record.get("server_head")
    if (head or {}).get("seq", 0) != seq or (head and head["mac"] != prev):
        return ["the archived server trail does not end at the head recorded when it was exported."]
    if "file_trail_digest" in signed_record:
        return _verify_file_trail(conn, signed_record["file_trail_digest"])
    return []


def _verify_file_trail(conn, digest: str) -> list[str]:
    """The trail of the register file the practice was once moved from: unchanged since the
    export, each entry linked to the one before, each signed entry's hash recomputed, ending at
    the head the server's first entry named (as store/server/migrate.py verify_archive)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (FILE_TRAIL_KEY,)).fetchone()
    if row is None or archive_digest([row[0]]) != digest:
        return ["the archived register-file trail differs from the one recorded when it was exported."]
    moved = json.loads(row[0])
    prev = audit_mod.GENESIS
    for i, e in enumerate(moved["entries"], 1):
        if e["seq"] != i or e["prev"] != prev:
            return [f"archived register-file entry {i} is missing or does not follow the entry before it."]
        if e["signer"] and audit_mod.entry_hash(prev, e) != e["mac"]:
            return [f"archived register-file entry {i} was changed after it was written."]
        prev = e["mac"]
    last = moved["entries"][-1] if moved["entries"] else None
    if last is None or {"seq": last["seq"], "mac": last["mac"]} != moved["record"]["source_head"]:
        return ["the archived register-file trail does not end at the head recorded when it was moved."]
    return []


def signed_record(conn) -> dict | None:
    """The detail of the file's entry ``register.from_server`` (signed by the exporting manager)."""
    row = conn.execute("SELECT detail FROM audit WHERE action = 'register.from_server' ORDER BY seq LIMIT 1"
                       ).fetchone()
    return json.loads(row[0]) if row else None


COUNTED = ("patients", "events", "current_state", "policy", "letters", "signposts", "letter_templates",
           "code_tables", "registration", "users", "practice_codes", "reconciliations")


def current_states(conn) -> list[tuple]:
    """(patient id, kind, active, since, event id), in the server snapshot's order."""
    return [(pid, kind, bool(active), since, eid) for pid, kind, active, since, eid in conn.execute(
        "SELECT patient_id, kind, active, since, event_id FROM current_state ORDER BY patient_id, kind")]


def counts(conn) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}
