"""A tamper-evident audit trail that no lower-role insider can rewrite.

Each entry is chained to the one before (``prev``: the previous entry's hash) and SIGNED
by its writer's own Ed25519 audit key, whose public half is certified by the manager key
(store/certs.py). A receptionist holds the data key but not another user's audit key nor
the manager key, so they can only append entries as themselves, with a permission their
certified role has; editing, deleting, inserting or reordering anyone else's entries breaks a
hash or a signature. Within one transaction only the last entry is signed: its hash covers
the ones before it, so a bulk import of 100,000 rows costs one signature.

Each entry also carries the change it made to the attested tables' digests (``rows``, see
store/attest.py), so ``verify`` finds rows changed directly in the database.

Cutting entries off the end is caught by the HEAD: (seq, hash) signed by the writer, kept
outside the register (key file, backups, exports) and inside it (meta 'audit_head'), and
never moved backwards or onto a different chain.

Entries written before the upgrade to schema 4 were chained by an HMAC whose key is in
the register (so within a receptionist's reach); they stay verified by it, and are sealed
by the manager-signed 'register.upgrade' entry that follows them (its ``prev`` fixes them).
Rows hold identifiers only (user, role, action, NHS number or patient id), never clinical content.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

GENESIS = "0" * 64
FIELDS = ("seq", "at", "user", "role", "action", "patient", "outcome", "workstation", "detail")
SIGNED_FIELDS = FIELDS + ("signer", "perm", "rows")
HEAD_META = "audit_head"  # meta key: the highest signed head seen, kept inside the register too
# Permissions that are not in domain/roles.py: what any user may do for themselves, and the
# manager-only acts that set the row digests' baseline.
SELF_PERMISSIONS = frozenset({"login", "session", "denied"})
BASELINE_PERMISSIONS = frozenset({"create", "upgrade"})
# Signs, once, the digests of tables attested later than the register was made (attest.ADOPTABLE),
# as they stand: any user's first unlock on the new version does it.
ADOPT_PERMISSION = "adopt"


def load_key(conn) -> bytes | None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'audit_key'").fetchone()
    return bytes.fromhex(json.loads(row[0])) if row else None


def workstation() -> str:
    return socket.gethostname()[:64]


@dataclass(frozen=True)
class Head:
    seq: int
    mac: str
    serial: str = ""
    sig: str = ""

    def as_dict(self) -> dict:
        out = {"seq": self.seq, "mac": self.mac}
        if self.sig:
            out.update(serial=self.serial, sig=self.sig)
        return out

    @classmethod
    def from_dict(cls, data: dict | None) -> "Head | None":
        if not data:
            return None
        return cls(int(data["seq"]), str(data["mac"]), str(data.get("serial", "")), str(data.get("sig", "")))

    def signed_bytes(self, register_id: str) -> bytes:
        return f"gp-optout audit head|{register_id}|{self.seq}|{self.mac}".encode("utf-8")


@dataclass(frozen=True)
class Verification:
    ok: bool
    rows: int
    head: Head | None
    problem: str | None = None
    problems: tuple = ()

    def describe(self) -> str:
        if self.ok:
            return f"The audit trail is intact: {self.rows} entries, each linked to the one before and signed."
        more = f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
        return f"The audit trail has been altered: {self.problem}{more}"


@dataclass
class Signer:
    """This session's audit key and the serial of its certificate."""

    serial: int
    key: Ed25519PrivateKey


def _mac(key: bytes, prev: str, row: dict) -> str:
    body = json.dumps([row[f] for f in FIELDS], ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, (prev + body).encode("utf-8"), hashlib.sha256).hexdigest()


def _sign(key: Ed25519PrivateKey, mac: str, covers: int) -> str:
    """The signature of a transaction's last entry, over its hash and the number of unsigned
    entries of the same transaction before it: a later writer's signature never vouches for
    entries someone slipped in before theirs."""
    return f"{covers}:" + key.sign(bytes.fromhex(mac) + covers.to_bytes(4, "big")).hex()


def _check_signature(public_key, mac: str, sig: str) -> int | None:
    """How many entries before it the signature covers, or None if it does not verify."""
    try:
        count, hexsig = sig.split(":", 1)
        covers = int(count)
        if not 0 <= covers < 2**31:
            return None
        public_key.verify(bytes.fromhex(hexsig), bytes.fromhex(mac) + covers.to_bytes(4, "big"))
        return covers
    except (InvalidSignature, ValueError):
        return None


def entry_hash(prev: str, row: dict) -> str:
    body = json.dumps([row[f] for f in SIGNED_FIELDS], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev + body).encode("utf-8")).hexdigest()


@dataclass
class Pending:
    user: str
    role: str
    action: str
    patient: str = ""
    outcome: str = "ok"
    detail: str = ""
    at: datetime | None = None


class AuditChain:
    def __init__(self, key: bytes | None, signer: Signer | None = None, register_id: str = "", acc=None):
        self._key = key
        self.signer = signer
        self.register_id = register_id
        self.acc = acc  # store.attest.Accumulator fed by this connection's triggers

    def head(self, conn) -> Head | None:
        row = conn.execute("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return Head(row[0], row[1]) if row else None

    def begin(self) -> None:
        """At the start of a transaction: forget digest changes of a transaction rolled back."""
        if self.acc is not None:
            self.acc.reset()

    def append(self, conn, *, user: str, role: str, action: str, patient: str = "", outcome: str = "ok",
               detail: str = "", at: datetime | None = None, perm: str = "") -> Head:
        """Append one signed entry; call inside the transaction that makes the change it records."""
        return self.append_batch(conn, [Pending(user, role, action, patient, outcome, detail, at)], perm=perm,
                                 rows=None)

    def append_batch(self, conn, entries: list[Pending], *, perm: str, rows: dict | None = None) -> Head:
        """Append entries made under one permission in one transaction; the last one carries
        the transaction's row digest changes and the signature covering them all."""
        last = self.head(conn)
        seq = (last.seq + 1) if last else 1
        prev = last.mac if last else GENESIS
        if rows is None:
            rows = self.acc.take() if self.acc is not None else {}
        head = last
        for i, p in enumerate(entries):
            final = i == len(entries) - 1
            row = {
                "seq": seq, "at": (p.at or datetime.now(timezone.utc)).isoformat(timespec="microseconds"),
                "user": p.user, "role": p.role, "action": p.action, "patient": p.patient, "outcome": p.outcome,
                "workstation": workstation(), "detail": p.detail,
            }
            if self.signer is None:  # a register from before schema 4 that no manager has upgraded yet
                mac, sig = _mac(self._key, prev, row), ""
                extra = ("", "", "")
            else:
                row.update(signer=str(self.signer.serial), perm=perm,
                           rows=json.dumps(rows, sort_keys=True, separators=(",", ":")) if final and rows else "")
                mac = entry_hash(prev, row)
                sig = _sign(self.signer.key, mac, len(entries) - 1) if final else ""
                extra = (row["signer"], row["perm"], row["rows"])
            conn.execute(
                "INSERT INTO audit(seq, at, user, role, action, patient, outcome, workstation, detail, prev, mac,"
                " signer, perm, rows, sig) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (*[row[f] for f in FIELDS], prev, mac, *extra, sig),
            )
            head = Head(seq, mac)
            prev, seq = mac, seq + 1
        return head

    def signed_head(self, conn) -> Head | None:
        head = self.head(conn)
        if head is None or self.signer is None:
            return head
        sig = self.signer.key.sign(head.signed_bytes(self.register_id)).hex()
        return Head(head.seq, head.mac, str(self.signer.serial), sig)

    def verify(self, conn, expected_head: Head | None = None, *, certs: dict | None = None,
               sealed_required: bool = False, extra_heads: tuple = ()) -> Verification:
        from ..domain import roles
        from . import attest
        from .certs import in_force

        problems: list[str] = []
        if certs is None:  # e.g. a backup copy being checked: trust the manager key it names
            certs, sealed_required, cert_problems = _certs_in(conn, self.register_id)
            problems += cert_problems
        prev, expected_seq, count, head = GENESIS, 1, 0, None
        sealed = False
        unsigned: list[tuple[int, str]] = []  # (seq, signer) awaiting the signature that covers them
        digests: dict[str, int] = {}
        attested: set[str] = set()  # tables a baseline or an adoption entry signed
        cols = ", ".join(SIGNED_FIELDS)
        for values in conn.execute(f"SELECT {cols}, prev, mac, sig FROM audit ORDER BY seq"):
            row = dict(zip(SIGNED_FIELDS, values[: len(SIGNED_FIELDS)]))
            stored_prev, stored_mac, sig = values[len(SIGNED_FIELDS):]
            seq = row["seq"]
            if seq != expected_seq:
                problems.append(f"entry {expected_seq} is missing (found {seq} next).")
                break
            if stored_prev != prev:
                problems.append(f"entry {seq} does not follow the entry before it.")
                break
            if not row["signer"]:
                if sealed:
                    problems.append(f"entry {seq} is not signed (written or altered outside the app).")
                    break
                if self._key is None or not hmac.compare_digest(_mac(self._key, prev, row), stored_mac):
                    problems.append(f"entry {seq} was changed after it was written.")
                    break
            else:
                if entry_hash(prev, row) != stored_mac:
                    problems.append(f"entry {seq} was changed after it was written.")
                    break
                problem = self._check_signed(row, certs, sealed, roles, in_force, attest, digests, attested)
                if problem:
                    problems.append(problem)
                    break
                sealed = True
                if sig:
                    cert = certs[int(row["signer"])]
                    covers = _check_signature(cert.public_key(), stored_mac, sig)
                    if covers is None:
                        problems.append(f"entry {seq}'s signature does not verify: it was forged or altered.")
                        break
                    if covers != len(unsigned) or any(s != row["signer"] for _q, s in unsigned):
                        first = unsigned[0][0] if unsigned else seq
                        problems.append(f"entries {first} to {seq - 1} are not covered by their writer's signature "
                                        "(inserted outside the app)." if unsigned else
                                        f"entry {seq}'s signature claims entries before it that are not there.")
                        break
                    unsigned = []
                else:
                    unsigned.append((seq, row["signer"]))
            prev = stored_mac
            head = Head(seq, stored_mac)
            expected_seq += 1
            count += 1
        chain_ok = not problems
        if chain_ok:
            if unsigned:
                problems.append(f"entries from {unsigned[0][0]} on are not covered by a signature.")
            if sealed_required and not sealed:
                problems.append("the trail has no entry signed since the upgrade: it was rewritten with the old key.")
        for label, expected in (("recorded earlier", expected_head), *extra_heads):
            if expected is None or not chain_ok:  # a broken chain is the report; its heads add nothing
                continue
            if head is None or head.seq < expected.seq:
                problems.append(f"entries after {head.seq if head else 0} are missing (the trail reached "
                                f"{expected.seq} before, {label}).")
                continue
            match = conn.execute("SELECT mac FROM audit WHERE seq = ?", (expected.seq,)).fetchone()
            if not match or match[0] != expected.mac:
                problems.append(f"entry {expected.seq} differs from the one {label}.")
        if chain_ok and sealed:
            now = attest.table_digests(conn)
            for table in sorted(set(now) | set(digests)):
                if table in attest.ADOPTABLE and table not in attested:
                    continue  # an older register (or backup) not yet unlocked by this version
                if table not in now:  # signed entries attest it, so the schema had it: dropped by hand
                    problems.append(f"the {table} table is missing (signed audit entries attest its rows).")
                elif now[table] != digests.get(table, 0):
                    problems.append(f"the {table} table was changed outside the app (its rows do not match the "
                                    "signed audit entries).")
        if problems:
            return Verification(False, count, head, problems[0], tuple(problems))
        return Verification(True, count, head)

    @staticmethod
    def _check_signed(row, certs, sealed, roles, in_force, attest, digests, attested) -> str | None:
        seq, perm = row["seq"], row["perm"]
        try:
            cert = certs[int(row["signer"])]
        except (KeyError, ValueError):
            return f"entry {seq} is signed by an unknown or forged certificate."
        current = in_force(certs, cert.name, seq)
        if current is None or current.audit_pub != cert.audit_pub or not current.active:
            return f"entry {seq} is signed with a key {cert.name} did not hold at that point."
        if row["user"] != cert.name and not (row["action"] == "login" and row["outcome"] == "failed"):
            return f"entry {seq} names {row['user']} but was signed by {cert.name}."
        role = current.role
        if perm in BASELINE_PERMISSIONS:
            if role != roles.MANAGER:
                return f"entry {seq} ({perm}) was not made by a practice manager."
        elif not sealed:
            return f"entry {seq} is the first signed entry but is not the register's creation or upgrade."
        elif perm not in SELF_PERMISSIONS and perm != ADOPT_PERMISSION and not roles.allowed(role, perm):
            return f"entry {seq} ({row['action']}) needs '{perm}', which a {role} may not do."
        if row["rows"]:
            try:
                changes = json.loads(row["rows"])
                changes = {k: int(v, 16) for k, v in changes.items()}
            except (ValueError, TypeError, AttributeError):
                return f"entry {seq}'s row digests are malformed."
            if perm in BASELINE_PERMISSIONS:
                digests.clear()
                digests.update(changes)
                attested.clear()
                attested.update(changes)
                return None
            if perm == ADOPT_PERMISSION:
                for table, value in changes.items():
                    if table not in attest.ADOPTABLE or table in attested:
                        return (f"entry {seq} adopts the {table} table, which the trail already attests: "
                                "it was written outside the app.")
                    digests[table] = value % attest.MOD
                    attested.add(table)
                return None
            for table, delta in changes.items():
                allowed = attest.TABLE_PERMISSIONS.get(table, frozenset())
                if allowed is not None and perm not in allowed:
                    return f"entry {seq} changed the {table} table under '{perm}', which may not change it."
                digests[table] = (digests.get(table, 0) + delta) % attest.MOD
        elif perm in BASELINE_PERMISSIONS or perm == ADOPT_PERMISSION:
            return f"entry {seq} ({perm}) carries no baseline."
        return None


def _certs_in(conn, register_id: str) -> tuple[dict, bool, list[str]]:
    from . import certs, meta

    anchor = meta.get(conn, certs.MANAGER_PUB)
    if not anchor:
        return {}, False, []
    register_id = register_id or meta.get(conn, "register_id", "")
    table, problems = certs.load_all(conn, anchor, register_id)
    return table, True, problems


def filter_clause(user_column: str, *, since: str | None, until: str | None, user: str | None,
                  action_prefix: str | None, patient: str | None) -> tuple[str, list]:
    """The audit search's WHERE (``?`` placeholders) and its arguments, for both engines: the
    register file's column is ``user``, the server's ``actor`` (a reserved word there)."""
    clauses, args = [], []
    for clause, value in (("at >= ?", since), ("at <= ?", until), (f"{user_column} = ?", user),
                          ("patient = ?", patient)):
        if value:
            clauses.append(clause)
            args.append(value)
    if action_prefix:
        clauses.append("action LIKE ? ESCAPE '\\'")
        args.append(action_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), args


def select(conn, *, since: str | None = None, until: str | None = None, user: str | None = None,
           action_prefix: str | None = None, patient: str | None = None, limit: int = 5000) -> list[tuple]:
    """Rows newest first, filtered; timestamps are ISO strings in UTC."""
    where, args = filter_clause("user", since=since, until=until, user=user, action_prefix=action_prefix,
                                patient=patient)
    return conn.execute(
        f"SELECT seq, at, user, role, action, patient, outcome, workstation, detail FROM audit {where}"
        " ORDER BY seq DESC LIMIT ?", [*args, limit],
    ).fetchall()
