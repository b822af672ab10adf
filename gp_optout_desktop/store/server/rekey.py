"""Re-keying a practice on the server (ADR 0015 addendum "re-keying a server practice"; schema V9).

ONE transaction on the re-keying manager's desk, the practice row locked first: every other
desk's write waits at its chain step and, once it gets the row, is refused on its desk (its
key epoch is behind). Inside it every sealed row is opened under the old keys and sealed under
the new ON THE DESK (the server never sees a key), written back in arrays; the key slots, the
manager slots and the signing key follow; the chain gets its epoch entry (under the old audit
key) and the ``register.rekey`` entry (under the new one). Killed anywhere before the commit,
the practice is exactly as it was, under the old key.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import psycopg
from psycopg import errors as pg_errors

from .. import audit as audit_mod
from ..errors import ServerUnreachable, StoreError
from . import epochs, ops
from . import signing as server_signing
from .crypto import PracticeKeys, wrap_data_key
from .schema_rekey import EPOCH_ACTION

CHUNK = 2000  # patients per statement (their tokens go in the same round)
ARCHIVE_KEYS = "key LIKE 'migrated.audit.%' OR key = 'migrated.tables'"  # store/server/migrate.py's sealed rows
BUSY = ("Another desk was saving a change to the same records, so the register was not re-keyed; nothing was "
        "changed. Try again.")
USERS_CHANGED = "The practice's users changed while the re-key was prepared; nothing was changed. Try again."


@dataclass
class Plan:
    """What the services worked out before the transaction (each Argon2id run is on the desk
    and outside the lock): the new data key, the re-keying manager's own unwrap key, and each
    other active user's unwrap key under their temporary password."""

    data_key: bytes = field(repr=False)
    own_unwrap: bytes = field(repr=False)
    others: dict[str, bytes] = field(repr=False)  # login -> unwrap key (temporary password)
    managers: frozenset[str] = frozenset()  # which of the others are practice managers
    # The new manager key and the old one (to open the signing key): None when the practice
    # has no signing key yet (then no manager key either).
    manager_key: bytes | None = field(default=None, repr=False)
    old_manager_key: bytes | None = field(default=None, repr=False)


@dataclass
class Result:
    keys: PracticeKeys
    epoch: int
    head: audit_mod.Head
    counts: dict[str, int]


def rekey(desk: ops.Desk, plan: Plan, *, detail: str, on_step=None) -> Result:
    """Run the re-key; on success the caller switches its desks to ``Result.keys``.
    ``on_step(name)`` after each part (tests inject a failure there)."""
    step = on_step or (lambda name: None)
    conn = desk.conn
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise AssertionError("a re-key runs in its own transaction")
    try:
        with conn.transaction():
            return _rekey(desk, plan, detail, step)
    except pg_errors.DeadlockDetected:
        raise StoreError(BUSY) from None
    except psycopg.OperationalError:
        if conn.broken or conn.closed:
            raise ServerUnreachable(ops.UNREACHABLE) from None
        raise


def _rekey(desk: ops.Desk, plan: Plan, detail: str, step) -> Result:
    cur, pid = desk.conn.cursor(), desk.practice_id
    # First: nothing else commits in this practice until this transaction ends.
    seq, prev, epoch, ref = cur.execute("SELECT audit_seq, audit_mac, key_epoch, ref FROM practices WHERE id = %s"
                                        " FOR NO KEY UPDATE", (pid,)).fetchone()
    if epoch != desk.key_epoch:
        raise StoreError(ops.REKEYED)
    _same_users(cur, desk.user, plan)
    old = desk.keys
    new = PracticeKeys.derive(plan.data_key, str(ref))
    cur.execute("SELECT app_rekey_begin(%s, %s, %s, %s)",
                (epoch + 1, seq + 1, new.key_id, epochs.seal_retired(new, pid, epoch + 1, old)))
    new = PracticeKeys(new.practice_ref, new.field_key, new.index_key, new.audit_key,
                       (*old.retired_audit_keys, old.audit_key), (*old.retired_index_keys, old.index_key))
    step("begun")
    counts = {"patients": _patients(cur, pid, old, new, step), "proxies": _proxies(cur, pid, old, new),
              "archive": _archive(cur, pid, old, new)}
    step("sealed rows")
    _slots(cur, desk, plan, new)
    given = _manager_key(cur, desk, plan, new)
    step("slots")
    head = _chain(cur, desk, new, seq, prev,
                  [(EPOCH_ACTION, f"epoch={epoch + 1} key={new.key_id} first_seq={seq + 2}"),
                   ("register.rekey", detail), *[("export.manager_key_given", f"name={n}") for n in given]])
    step("chained")
    return Result(new, epoch + 1, head, counts)


def users_to_reset(conn, me: str) -> dict[str, str]:
    """Every other active user with a key slot: name -> role."""
    return {name: role for name, role in conn.execute(
        "SELECT u.name, u.role FROM users u JOIN key_slots s ON s.name = u.name AND s.practice_id = u.practice_id"
        " WHERE u.active AND u.name <> %s ORDER BY u.name", (me,))}


def _same_users(cur, me: str, plan: Plan) -> None:
    """The users read before the lock are the practice's users now (one added meanwhile would
    otherwise lose their slot; one removed would get a new one)."""
    if set(users_to_reset(cur.connection, me)) != set(plan.others):
        raise StoreError(USERS_CHANGED)


def _patients(cur, pid: int, old: PracticeKeys, new: PracticeKeys, step) -> int:
    rows = cur.execute("SELECT id, identity FROM patients ORDER BY id").fetchall()
    cur.execute("DELETE FROM patient_tokens")  # every token is re-made under the new index key
    for start in range(0, len(rows), CHUNK):
        ids, blobs, bidx, tokens, owners = [], [], [], [], []
        for row_id, blob in rows[start:start + CHUNK]:
            p = old.open_patient(pid, row_id, blob)
            ids.append(row_id)
            blobs.append(new.seal_patient(pid, p, row_id))
            bidx.append(new.nhs_index(p.nhs_number) if p.nhs_number else None)
            for t in sorted(new.search_tokens(p)):
                tokens.append(t)
                owners.append(row_id)
        cur.execute("UPDATE patients p SET identity = t.b, nhs_bidx = t.x"
                    " FROM unnest(%s::bigint[], %s::bytea[], %s::bytea[]) AS t(i, b, x) WHERE p.id = t.i",
                    (ids, blobs, bidx))
        cur.execute("INSERT INTO patient_tokens(token, patient_id) SELECT * FROM unnest(%s::bytea[], %s::bigint[])",
                    (tokens, owners))
        step("patients")
    return len(rows)


def _proxies(cur, pid: int, old: PracticeKeys, new: PracticeKeys) -> int:
    rows = cur.execute("SELECT id, proxy FROM events WHERE proxy IS NOT NULL ORDER BY id").fetchall()
    ids = [r[0] for r in rows]
    blobs = [new.seal(pid, "events", eid, old.open(pid, "events", eid, blob)) for eid, blob in rows]
    for start in range(0, len(ids), CHUNK):
        cur.execute("SELECT app_rekey_proxies(%s::bigint[], %s::bytea[])",
                    (ids[start:start + CHUNK], blobs[start:start + CHUNK]))
    return len(ids)


def _archive(cur, pid: int, old: PracticeKeys, new: PracticeKeys) -> int:
    """A practice moved from a register file: its archived trail and certificates (migrate.py)."""
    rows = cur.execute(f"SELECT key, value FROM meta WHERE {ARCHIVE_KEYS}").fetchall()
    out = []
    for key, text in rows:
        part = 0 if key == "migrated.tables" else int(key.rsplit(".", 1)[1])
        fields = old.open(pid, "audit_archive", part, base64.b64decode(text))
        out.append((base64.b64encode(new.seal(pid, "audit_archive", part, fields)).decode("ascii"), key))
    cur.executemany("UPDATE meta SET value = %s WHERE key = %s", out)
    return len(out)


def _slots(cur, desk: ops.Desk, plan: Plan, new: PracticeKeys) -> None:
    """The manager's own slot under their own password, every other user's under a temporary
    one; every other slot (the recovery key's, a leftover) deleted: it would open the old key."""
    ref = new.practice_ref
    cur.execute("UPDATE key_slots SET slot = %s WHERE name = %s",
                (wrap_data_key(plan.own_unwrap, plan.data_key, ref, desk.user), desk.user))
    for name, unwrap in sorted(plan.others.items()):
        cur.execute("UPDATE key_slots SET slot = %s, must_change = true WHERE name = %s",
                    (wrap_data_key(unwrap, plan.data_key, ref, name), name))
    cur.execute("DELETE FROM key_slots WHERE name <> ALL(%s)", ([desk.user, *plan.others],))


def _manager_key(cur, desk: ops.Desk, plan: Plan, new: PracticeKeys) -> list[str]:
    """The signing seed (unchanged: the installed public key keeps verifying) re-sealed under
    the new manager key, which every manager's slot then holds; returns the others given it."""
    if plan.manager_key is None:
        return []
    ref = new.practice_ref
    seed = server_signing.signing_seed(cur.connection, plan.old_manager_key, ref)
    cur.execute("UPDATE signing_keys SET sealed = %s, saved_by = %s, saved_at = now()",
                (server_signing.seal_seed(plan.manager_key, ref, seed), desk.user))
    cur.execute("DELETE FROM manager_slots")
    holders = {desk.user: plan.own_unwrap, **{n: plan.others[n] for n in plan.managers}}
    for name, unwrap in sorted(holders.items()):
        cur.execute("INSERT INTO manager_slots(name, slot) VALUES (%s, %s)",
                    (name, server_signing.wrap_manager_key(unwrap, plan.manager_key, ref, name)))
    return sorted(plan.managers)


def _chain(cur, desk: ops.Desk, new: PracticeKeys, seq: int, prev: str, entries) -> audit_mod.Head:
    """The epoch entry under the old audit key, then the rest under the new one, chained on."""
    at = ops.canonical_time(cur.execute("SELECT clock_timestamp()").fetchone()[0])
    rows = []
    for n, (action, detail) in enumerate(entries):
        seq += 1
        entry = {"seq": seq, "at": at, "user": desk.user, "role": desk.role, "action": action, "patient": "",
                 "outcome": "ok", "workstation": desk.workstation, "detail": detail}
        mac = audit_mod._mac(desk.keys.audit_key if n == 0 else new.audit_key, prev, entry)
        rows.append((desk.practice_id, *[entry[f] for f in audit_mod.FIELDS], prev, mac))
        prev = mac
    cur.executemany(
        "INSERT INTO audit(practice_id, seq, at, actor, role, action, patient, outcome, workstation, detail,"
        " prev, mac) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", rows)
    # The revision stays (as the file's re-key): no record changed, only how it is sealed.
    cur.execute("UPDATE practices SET audit_seq = %s, audit_mac = %s WHERE id = %s", (seq, prev, desk.practice_id))
    return audit_mod.Head(seq, prev)
