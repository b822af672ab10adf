"""A tamper-evident audit trail: each row carries an HMAC over its fields and the
previous row's MAC, keyed by a key derived from the register's data key.

Editing, deleting, inserting or reordering a row breaks the chain. Cutting rows off
the end does not, on its own; so the latest head (sequence number and MAC) is also
kept outside the register (key file, backups, exports) and checked against.
Rows hold identifiers only (user, role, action, NHS number or patient id), never
clinical content.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from dataclasses import dataclass
from datetime import datetime, timezone

GENESIS = "0" * 64
FIELDS = ("seq", "at", "user", "role", "action", "patient", "outcome", "workstation", "detail")


def new_audit_key() -> bytes:
    """A random chain key, kept inside the encrypted register (meta 'audit_key') so that
    re-keying the register does not invalidate the MACs already written."""
    import secrets

    return secrets.token_bytes(32)


def load_key(conn) -> bytes:
    row = conn.execute("SELECT value FROM meta WHERE key = 'audit_key'").fetchone()
    if row is None:
        from .errors import RegisterCorrupt

        raise RegisterCorrupt("The register has no audit key: it is damaged or was tampered with.")
    return bytes.fromhex(json.loads(row[0]))


def workstation() -> str:
    return socket.gethostname()[:64]


@dataclass(frozen=True)
class Head:
    seq: int
    mac: str

    def as_dict(self) -> dict:
        return {"seq": self.seq, "mac": self.mac}

    @classmethod
    def from_dict(cls, data: dict | None) -> "Head | None":
        if not data:
            return None
        return cls(int(data["seq"]), str(data["mac"]))


@dataclass(frozen=True)
class Verification:
    ok: bool
    rows: int
    head: Head | None
    problem: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"The audit trail is intact: {self.rows} entries, each linked to the one before."
        return f"The audit trail has been altered: {self.problem}"


def _mac(key: bytes, prev: str, row: dict) -> str:
    body = json.dumps([row[f] for f in FIELDS], ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, (prev + body).encode("utf-8"), hashlib.sha256).hexdigest()


class AuditChain:
    def __init__(self, key: bytes):
        self._key = key

    def head(self, conn) -> Head | None:
        row = conn.execute("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return Head(row[0], row[1]) if row else None

    def append(self, conn, *, user: str, role: str, action: str, patient: str = "", outcome: str = "ok",
               detail: str = "", at: datetime | None = None) -> Head:
        """Append one row; call inside the transaction that makes the change it records."""
        last = self.head(conn)
        seq = (last.seq + 1) if last else 1
        prev = last.mac if last else GENESIS
        row = {
            "seq": seq,
            "at": (at or datetime.now(timezone.utc)).isoformat(timespec="microseconds"),
            "user": user,
            "role": role,
            "action": action,
            "patient": patient,
            "outcome": outcome,
            "workstation": workstation(),
            "detail": detail,
        }
        mac = _mac(self._key, prev, row)
        conn.execute(
            "INSERT INTO audit(seq, at, user, role, action, patient, outcome, workstation, detail, prev, mac) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (*[row[f] for f in FIELDS], prev, mac),
        )
        return Head(seq, mac)

    def verify(self, conn, expected_head: Head | None = None) -> Verification:
        prev = GENESIS
        expected_seq = 1
        count = 0
        head = None
        cursor = conn.execute(f"SELECT {', '.join(FIELDS)}, prev, mac FROM audit ORDER BY seq")
        for values in cursor:
            row = dict(zip(FIELDS, values[: len(FIELDS)]))
            stored_prev, stored_mac = values[len(FIELDS)], values[len(FIELDS) + 1]
            if row["seq"] != expected_seq:
                return Verification(False, count, head, f"entry {expected_seq} is missing (found {row['seq']} next).")
            if stored_prev != prev:
                return Verification(False, count, head, f"entry {row['seq']} does not follow the entry before it.")
            if not hmac.compare_digest(_mac(self._key, prev, row), stored_mac):
                return Verification(False, count, head, f"entry {row['seq']} was changed after it was written.")
            prev = stored_mac
            head = Head(row["seq"], stored_mac)
            expected_seq += 1
            count += 1
        if expected_head is not None:
            if head is None or head.seq < expected_head.seq:
                return Verification(
                    False, count, head,
                    f"entries after {head.seq if head else 0} are missing (the trail reached {expected_head.seq} before).",
                )
            match = conn.execute("SELECT mac FROM audit WHERE seq = ?", (expected_head.seq,)).fetchone()
            if not match or match[0] != expected_head.mac:
                return Verification(False, count, head, f"entry {expected_head.seq} differs from the one recorded earlier.")
        return Verification(True, count, head)


def select(conn, *, since: str | None = None, until: str | None = None, user: str | None = None,
           action_prefix: str | None = None, patient: str | None = None, limit: int = 5000) -> list[tuple]:
    """Rows newest first, filtered; timestamps are ISO strings in UTC."""
    clauses, args = [], []
    for clause, value in (("at >= ?", since), ("at <= ?", until), ("user = ?", user), ("patient = ?", patient)):
        if value:
            clauses.append(clause)
            args.append(value)
    if action_prefix:
        clauses.append("action LIKE ? ESCAPE '\\'")
        args.append(action_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return conn.execute(
        f"SELECT seq, at, user, role, action, patient, outcome, workstation, detail FROM audit {where}"
        " ORDER BY seq DESC LIMIT ?", [*args, limit],
    ).fetchall()
