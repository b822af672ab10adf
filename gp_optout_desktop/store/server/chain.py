"""Verify one practice's audit chain on the server, by the register file's rules.

The rules are store/audit.py's for HMAC-chained entries: seq runs 1, 2, 3 ... without a gap;
each entry's prev is the entry before's MAC (GENESIS for the first); each MAC is
HMAC-SHA256(practice audit key, prev || canonical JSON of the fields), the very function the
register file uses (``audit._mac``), over the text exactly as stored. Added for the server: the
head kept in the practice row must be the last entry, and a head recorded earlier (e.g. in an
export) must still be in the chain. A re-keyed practice's chain is walked epoch by epoch, each
part under its own key (``_Epochs``). The key is on the desk only, so the server's
administrator can neither forge nor silently re-MAC an entry.
"""

from __future__ import annotations

import hmac
from typing import Sequence

from .. import audit as audit_mod
from . import epochs
from .crypto import key_id
from .schema_rekey import EPOCH_ACTION

_COLUMNS = "seq, at, actor, role, action, patient, outcome, workstation, detail, prev, mac"


def verify(conn, audit_key: bytes, practice_id: int, expected_head: audit_mod.Head | None = None,
           *, retired: Sequence[bytes] = ()) -> audit_mod.Verification:
    """Verify while desks keep writing: in one REPEATABLE READ snapshot, the rows and the
    practice row's head are of the same moment (inside a caller's transaction: theirs).
    ``retired``: a re-keyed practice's earlier audit keys, oldest first (PracticeKeys)."""
    from psycopg.pq import TransactionStatus

    if conn.info.transaction_status == TransactionStatus.IDLE:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return _verify(conn, [*retired, audit_key], practice_id, expected_head)
    return _verify(conn, [*retired, audit_key], practice_id, expected_head)


class _Epochs:
    """The keys in force along the chain (ADR 0015 addendum "re-keying a server practice"): the
    oldest first; at each epoch entry, checked under the key in force, the next key takes over,
    provided the server's key_epochs row for that epoch stands at that seq and names it."""

    def __init__(self, conn, keys: list[bytes], practice_id: int):
        self.keys, self.index = keys, 0
        self.rows = epochs.epochs(conn, practice_id)
        self.problem = None if len(self.rows) == len(keys) - 1 else (
            f"the practice has {len(self.rows)} key epoch(s) and this desk holds {len(keys) - 1} earlier key(s): "
            "its trail cannot be checked from here.")

    @property
    def key(self) -> bytes:
        return self.keys[self.index]

    def after(self, seq: int, action: str, detail: str) -> str | None:
        """A problem with the entry just verified, as an epoch; or None (the key moves on if it is one)."""
        due = self.rows[self.index] if self.index < len(self.rows) else None
        if action != EPOCH_ACTION:
            return f"entry {seq} should begin key epoch {due[0]}, and does not." if due and due[1] == seq else None
        if due is None or due[1] != seq:
            return f"entry {seq} claims a change of key that the practice never made."
        following = self.keys[self.index + 1]
        if due[2] != key_id(following) or f"key={due[2]}" not in detail.split():
            return f"entry {seq} names a key this practice's key holders do not hold."
        self.index += 1
        return None

    def unfinished(self) -> str | None:
        if self.index < len(self.rows):
            return f"key epoch {self.rows[self.index][0]} has no epoch entry in the trail."
        return None


def _verify(conn, keys: list[bytes], practice_id, expected_head) -> audit_mod.Verification:
    problems: list[str] = []
    prev, expected_seq, count, head = audit_mod.GENESIS, 1, 0, None
    walk = _Epochs(conn, keys, practice_id)
    if walk.problem:
        problems.append(walk.problem)
    # A server-side cursor: a chain of millions of entries is read in batches, not all at once.
    with conn.cursor(name="gp_optout_verify_chain") as cur:
        cur.itersize = 5000
        cur.execute(f"SELECT {_COLUMNS} FROM audit WHERE practice_id = %s ORDER BY seq", (practice_id,))
        for values in ([] if problems else cur):
            row = dict(zip(audit_mod.FIELDS, values[:9]))
            stored_prev, stored_mac = values[9], values[10]
            seq = row["seq"]
            if seq != expected_seq:
                problems.append(f"entry {expected_seq} is missing (found {seq} next).")
                break
            if stored_prev != prev:
                problems.append(f"entry {seq} does not follow the entry before it.")
                break
            if not hmac.compare_digest(audit_mod._mac(walk.key, prev, row), stored_mac):
                problems.append(f"entry {seq} was changed after it was written.")
                break
            epoch_problem = walk.after(seq, row["action"], row["detail"])
            if epoch_problem:
                problems.append(epoch_problem)
                break
            prev, head = stored_mac, audit_mod.Head(seq, stored_mac)
            expected_seq += 1
            count += 1
        stored = conn.execute("SELECT audit_seq, audit_mac FROM practices WHERE id = %s", (practice_id,)).fetchone()
    if not problems and walk.unfinished():
        problems.append(walk.unfinished())
    if not problems:
        if stored is None:
            problems.append("the practice is not on this server.")
        elif (stored[0], stored[1]) != ((head.seq, head.mac) if head else (0, audit_mod.GENESIS)):
            problems.append(f"the practice's chain head ({stored[0]}) is not the last entry "
                            f"({head.seq if head else 0}): entries were cut off or the head was moved.")
        if expected_head is not None:
            if head is None or head.seq < expected_head.seq:
                problems.append(f"entries after {head.seq if head else 0} are missing (the trail reached "
                                f"{expected_head.seq} before).")
            else:
                match = conn.execute("SELECT mac FROM audit WHERE practice_id = %s AND seq = %s",
                                     (practice_id, expected_head.seq)).fetchone()
                if not match or match[0] != expected_head.mac:
                    problems.append(f"entry {expected_head.seq} differs from the one recorded earlier.")
    if problems:
        return audit_mod.Verification(False, count, head, problems[0], tuple(problems))
    return audit_mod.Verification(True, count, head)
