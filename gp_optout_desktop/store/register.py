"""Creating, unlocking and closing a register folder: register.db + register.keys.

``Register`` holds the one open connection, the audit chain and the key file. It knows
nothing of users' permissions (services/ does) or of windows (ui/ does).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Callable

from .. import child_task
from . import attest, certs, database, keyfile, location, meta, readers, retired, schema, seal
from . import users as users_store
from .audit import HEAD_META, AuditChain, Head, Signer, Verification, load_key
from .errors import RecordNotCertified, StoreError
from ..problem_log import log_problem

log = logging.getLogger(__name__)


def register_paths(folder: Path) -> tuple[Path, Path]:
    folder = Path(folder)
    return folder / database.DB_NAME, folder / database.KEYS_NAME


def exists(folder: Path) -> bool:
    db, keys = register_paths(folder)
    return db.exists() or keys.exists()


@dataclass
class Register:
    folder: Path
    db: database.Database
    keys: keyfile.KeyFile
    audit: AuditChain
    data_key: bytes
    # Above the data key (docs/adr/0006): the manager key (practice managers' and the
    # recovery slot only) and this user's audit signing seed, both from their own slot.
    manager_key: bytes | None = None
    audit_seed: bytes | None = None
    upgraded: bool = False  # this unlock created the manager key (see _upgrade)
    # This user's key entry wrapped again with the current parameters (keyfile.prepare_rewrap),
    # made before the register opened; services/session.unlock writes it on the one write path.
    rewrap: keyfile.Rewrap | None = None
    # Or, for an unlock that leaves it for later (the desktop app's: its second Argon2id run is
    # off the unlock's critical path), what makes it: services/session.rewrap_pending calls it
    # once the window is shown. It holds the password until then; dropped at close.
    rewrap_later: Callable[[], keyfile.Rewrap | None] | None = field(default=None, repr=False)

    @property
    def conn(self):
        return self.db.conn

    def transaction(self):
        return self.db.transaction()

    def reading(self):
        return self.db.reading()

    @property
    def is_open(self) -> bool:
        return self.db.conn is not None

    def remember_audit_head(self) -> None:
        """Keep the latest signed audit head outside the register (key file) and inside it
        (meta), to detect truncation later, and the revision, so a restored register never
        goes back to a revision already exported. A head never moves backwards nor onto
        another chain: after a truncation the earlier head stays as the evidence."""
        with self.reading() as conn:
            head = self.audit.signed_head(conn)
            revision = meta.revision(conn)
            try:
                kept = Head.from_dict(meta.get(conn, HEAD_META))
            except (TypeError, ValueError, KeyError, AttributeError):
                kept = Head(2**62, "malformed")  # never overwritten: audit verify reports it
        if head is not None and self._extends(head, kept) and head != kept:
            with self.transaction() as conn:
                meta.put(conn, HEAD_META, head.as_dict())
        manager_key = self.manager_key

        def record(fresh: keyfile.KeyFile) -> None:
            # Compared with the head on disk now (another window may have recorded a later one).
            if head is not None and self._extends(head, Head.from_dict(fresh.data.get("audit_head"))):
                fresh.data["audit_head"] = head.as_dict()
                if manager_key is not None:
                    fresh.data["manager_head"] = _manager_head(manager_key, head, fresh.register_id)
            fresh.data["revision_seen"] = max(revision, int(fresh.data.get("revision_seen") or 0))

        self.keys.update(record)

    def _extends(self, head: Head, earlier: Head | None) -> bool:
        if earlier is None:
            return True
        if head.seq < earlier.seq:
            return False
        with self.reading() as conn:
            row = conn.execute("SELECT mac FROM audit WHERE seq = ?", (earlier.seq,)).fetchone()
        return bool(row) and row[0] == earlier.mac

    def recorded_head(self) -> Head | None:
        return Head.from_dict(self.keys.data.get("audit_head"))

    def verify_audit(self) -> Verification:
        """Every entry's hash, signature and certificate, each signer's role against the
        permission used, the row digests against the tables, the user records against their
        certificates, and the heads kept in the key file and the register."""
        with self.reading() as conn:
            problems: list[str] = []
            try:
                anchor = certs.anchor_pub(conn, self.keys, self.manager_key)
            except RecordNotCertified as exc:
                problems.append(str(exc))
                anchor = self.manager_key and certs.manager_public_hex(self.manager_key)
            table: dict = {}
            if anchor:
                table, cert_problems = certs.load_all(conn, anchor, self.keys.register_id)
                problems += cert_problems + certs.record_problems(conn, table)
            heads = []
            try:
                heads.append(("kept in the register", Head.from_dict(meta.get(conn, HEAD_META))))
            except (TypeError, ValueError, KeyError, AttributeError):
                problems.append("the audit head kept in the register is malformed (edited outside the app).")
            mhead = self.keys.data.get("manager_head")
            if mhead and anchor:
                if _manager_head_ok(anchor, mhead, self.keys.register_id):
                    heads.append(("signed by a practice manager", Head.from_dict(mhead)))
                else:
                    problems.append("the manager's head in the key file is forged.")
            recorded = self.recorded_head()
            writer_heads = [("in the key file", recorded), *[h for h in heads if h[0] == "kept in the register"]]
            for label, head in writer_heads:
                if head is not None and head.sig and not _writer_head_ok(table, head, self.keys.register_id):
                    problems.append(f"the audit head {label} is not signed by a certified user (forged).")
            result = self.audit.verify(conn, recorded, certs=table, sealed_required=bool(anchor),
                                       extra_heads=tuple(heads))
        all_problems = tuple(problems) + result.problems
        if all_problems:
            return Verification(False, result.rows, result.head, all_problems[0], all_problems)
        return result

    def close(self) -> None:
        self.rewrap_later = None  # with the password it holds
        readers.close(self)  # the desk's read-only connection goes with this one
        if self.is_open:
            try:
                self.remember_audit_head()
            except (StoreError, OSError, database.DatabaseError) as exc:
                # why: closing must not fail because the key file (or a damaged register) could not be written;
                # the head is kept again at the next unlock or lock, and audit verify still checks the chain.
                log_problem(log, "The audit head could not be saved outside the register on close", exc)
            self.db.close()
        self.data_key = b""


def _open_db(folder: Path, data_key: bytes, create: bool) -> database.Database:
    db_path, _ = register_paths(folder)
    conn = database.connect(db_path, data_key, create=create)
    try:
        # No integrity check here: it grew with the register (seconds at 1,000,000 patients).
        # It runs after unlock in the background, before a backup and on demand (ADR 0011),
        # and here only before a migration rewrites the file. The seal check is cheap and
        # always runs: a register behind its seal is refused before anything else (ADR 0007).
        checked = None
        if not create:
            if database.schema_version(conn) < schema.LATEST:
                database.check_integrity(conn)
            checked = seal.check(conn, Path(folder))  # a register behind its seal is refused before anything else
        database.migrate(conn, db_path)
        if checked is None:
            checked = seal.first(conn, Path(folder))
    except BaseException:
        conn.close()
        raise
    return database.Database(conn, db_path, checked)


def create(folder: Path, *, first_user: str, password: str, ods: str, practice: dict, role: str) -> tuple[Register, str]:
    """A new register; returns it open, and the recovery key (shown once)."""
    folder = Path(folder)
    location.check_local(folder)
    if exists(folder):
        raise StoreError(f"A register already exists in {folder}; nothing was changed.")
    folder.mkdir(parents=True, exist_ok=True)
    if os.name != "nt":
        os.chmod(folder, 0o700)
    data_key = keyfile.new_data_key()
    recovery = keyfile.new_recovery_key()
    _, keys_path = register_paths(folder)
    keys = keyfile.KeyFile.create(keys_path, keyfile.new_register_id())
    manager_key = certs.new_manager_key()
    seed = certs.new_audit_seed()
    keys.data["manager_pub"] = certs.manager_public_hex(manager_key)
    keys.wrap(first_user, password, data_key, extra={certs.AUDIT_SECRET: seed, certs.MANAGER_SECRET: manager_key})
    keys.wrap_recovery(recovery, data_key, extra={certs.MANAGER_SECRET: manager_key})
    db = _open_db(folder, data_key, create=True)
    reg = Register(folder, db, keys, _chain(db, None, keys.register_id), data_key, manager_key, seed)
    now = datetime.now(timezone.utc).isoformat()
    with reg.transaction() as conn:
        meta.put(conn, "register_id", keys.register_id)
        meta.put(conn, "ods", ods)
        meta.put(conn, "practice", practice)
        meta.put(conn, "revision", 0)
        meta.put(conn, certs.MANAGER_PUB, keys.data["manager_pub"])
        conn.execute(
            "INSERT INTO users(name, role, active, created_at, created_by) VALUES (?,?,1,?,?)",
            (first_user, role, now, first_user),
        )
        cert = certs.issue(conn, manager_key, keys.register_id, name=first_user, role=role, active=True,
                           audit_pub=certs.raw_public(certs.audit_private(seed)), from_seq=1)
        reg.audit.signer = Signer(cert.serial, certs.audit_private(seed))
        _append_baseline(conn, reg, user=first_user, role=role, action="register.create", perm="create",
                         detail=f"ods={ods}")
    keys.save()  # only once the database exists, so a failed create leaves no key file behind
    reg.remember_audit_head()
    return reg, recovery


def _unwrap(keys: keyfile.KeyFile, user: str, password: str | None, recovery_key: str | None) -> keyfile.Slot:
    if recovery_key is not None:
        slot = keys.unlock_recovery_slot(recovery_key)
        keys.clear_throttle(keyfile.RECOVERY_USER)
    else:
        slot = keys.unlock_slot(user, password or "")
        keys.clear_throttle(user)
    return slot


def _prepared_rewrap(slot: keyfile.Slot, password: str) -> keyfile.Rewrap | None:
    """The re-wrapped entry, or None when its Argon2id child process died (out of memory, killed):
    the password was right and the old entry still unlocks, so the unlock stands and the next
    one tries again; refusing it would refuse every unlock for as long as the cause lasts."""
    try:
        return keyfile.prepare_rewrap(slot, password)
    except child_task.ChildTaskFailed as exc:
        log_problem(log, "The key entry was not re-wrapped with the new key-derivation parameters", exc)
        return None


def _prepared_rewrap_gated(slot: keyfile.Slot, password: str) -> keyfile.Rewrap | None:
    with keyfile.ARGON2_GATE.held():  # after the unlock: never beside another unlock's Argon2id
        return _prepared_rewrap(slot, password)


def _chain(db: database.Database, hmac_key: bytes | None, register_id: str) -> AuditChain:
    acc = attest.Accumulator()
    attest.install(db.conn, acc)
    return AuditChain(hmac_key, None, register_id, acc)


def _append_baseline(conn, reg: "Register", *, user: str, role: str, action: str, perm: str, detail: str) -> None:
    """The creation or upgrade entry: it signs the current digests of the attested tables
    as the baseline that later entries' changes add to."""
    from .audit import Pending

    reg.audit.acc.reset()
    reg.audit.append_batch(conn, [Pending(user, role, action, detail=detail)], perm=perm, rows=attest.baseline(conn))
    meta.put(conn, attest.ATTESTED_META, sorted(attest.TABLES))


def sign_baseline(reg: "Register", conn, *, user: str, action: str, detail: str) -> None:
    """A practice manager's baseline entry (permission 'create') over rows a register was filled
    with in one transaction, e.g. a server practice written into a new register file
    (services/server_export.py): it signs every attested table's digest as it now stands."""
    from ..domain import roles

    _append_baseline(conn, reg, user=user, role=roles.MANAGER, action=action, perm="create", detail=detail)


def _adopt_missing(reg: "Register", user: str) -> None:
    """Sign the digests of tables this register's trail does not attest yet (attest.ADOPTABLE:
    attested by a later version than made the register), as they stand, so a row deleted or
    changed directly from now on is reported. Once: audit verify refuses a second adoption."""
    from .audit import ADOPT_PERMISSION, Pending

    with reg.reading() as conn:
        if reg.audit.signer is None or retired.moved(conn):
            return  # not upgraded yet (its upgrade's baseline covers them), or kept read-only
        missing = sorted((attest.ADOPTABLE & set(attest.TABLES)) - set(meta.get(conn, attest.ATTESTED_META) or ()))
    if not missing:
        return
    with reg.transaction() as conn:
        role = users_store.role_of(conn, user) or ""
        reg.audit.begin()
        reg.audit.acc.reset()
        rows = {t: d for t, d in attest.baseline(conn).items() if t in missing}
        reg.audit.append_batch(conn, [Pending(user, role, "register.attest", detail=f"tables={','.join(missing)}")],
                               perm=ADOPT_PERMISSION, rows=rows)
        meta.put(conn, attest.ATTESTED_META, sorted(set(meta.get(conn, attest.ATTESTED_META) or ()) | set(missing)))


def _finish_interrupted_rekey(folder, keys, slot, pending: Path, user, password, recovery_key):
    """A re-key stopped part-way: keep whichever key file matches the database."""
    db_path, keys_path = register_paths(folder)
    with keys.locked():  # a re-key running in another window holds the lock: wait for it, then look again
        if not pending.exists():
            raise StoreError("The register was re-keyed in another window just now; nothing was changed. "
                             "Unlock again.")
        try:
            database.connect(db_path, slot.data_key).close()
            pending.unlink()  # the database still has the old key: the re-key never happened
            return keys, slot
        except StoreError:
            new_keys = keyfile.KeyFile.load(pending)
            new_slot = _unwrap(new_keys, user, password, recovery_key)
            database.connect(db_path, new_slot.data_key).close()  # raises if neither key opens it
            os.replace(pending, keys_path)
            new_keys.path = keys_path
            new_slot.keys = new_keys
            return new_keys, new_slot


def rekey(reg: Register, new_keys: keyfile.KeyFile, new_data_key: bytes) -> None:
    """Re-encrypt the register with a new data key. The new key file is written first (as
    register.keys.next), then the database is re-keyed, then the key file is swapped in;
    an interruption at any point is finished at the next unlock."""
    _, keys_path = register_paths(reg.folder)
    pending = keys_path.with_name(keys_path.name + ".next")
    with reg.keys.locked():  # no other window's key-file change lands between these steps
        # The heads, revision and failed unlocks as on disk now: another window may have moved them on.
        current = keyfile.KeyFile.load(keys_path)
        for carried in ("audit_head", "manager_head", "manager_pub", "revision_seen", "failed_unlocks"):
            if current.data.get(carried) is not None:
                new_keys.data[carried] = current.data[carried]
        new_keys.path = pending
        new_keys.save()
        with reg.db.reading() as conn:
            try:
                conn.execute(database.rekey_pragma(new_data_key))
            except database.DatabaseError as exc:
                _abandon_rekey(reg, pending, exc)
        os.replace(pending, keys_path)
        from .atomic import fsync_dir

        fsync_dir(reg.folder)
    new_keys.path = keys_path
    reg.keys = new_keys
    reg.data_key = new_data_key


def _abandon_rekey(reg: Register, pending: Path, exc: Exception) -> None:
    """The re-key could not run (another window was writing, or the disk is full). If the
    database still opens with the old key nothing happened: drop the new key file. Otherwise
    leave it, and the next unlock finishes the re-key."""
    try:
        database.connect(reg.db.path, reg.data_key).close()
    except StoreError:
        raise StoreError("The re-key was interrupted; unlock again to finish it.") from None
    pending.unlink(missing_ok=True)
    busy = "locked" in str(exc).lower() or "busy" in str(exc).lower()
    raise StoreError(
        ("Another window or program was saving a change, so the register was not re-keyed" if busy else
         f"The register could not be re-keyed ({exc})") + "; nothing was changed. Try again.") from None


def unlock(folder: Path, user: str, password: str | None = None, *, recovery_key: str | None = None,
           rewrap: bool = False, rewrap_later: bool = False) -> tuple[Register, list[dict]]:
    """Open with a user's password (or the recovery key). Returns the register and the
    failed attempts (user, time) since the last success, for the audit trail.

    ``rewrap``: when this user's entry has superseded key-derivation parameters, wrap it
    again now (``Register.rewrap``), before the register opens, so the second Argon2 run's
    memory is released before the register's pages are read (issue 13). ``rewrap_later``:
    instead leave what makes it in ``Register.rewrap_later``, for after the unlock."""
    folder = Path(folder)
    location.check_local(folder)
    db_path, keys_path = register_paths(folder)
    if not db_path.exists():
        raise StoreError(f"No register found in {folder}.")
    keys = keyfile.KeyFile.load(keys_path)
    with keyfile.ARGON2_GATE.held():  # one span for both runs: nothing waiting on the gate starts between them
        slot = _unwrap(keys, user, password, recovery_key)
        pending = keys_path.with_name(keys_path.name + ".next")
        if pending.exists():
            keys, slot = _finish_interrupted_rekey(folder, keys, slot, pending, user, password, recovery_key)
        prepared = _prepared_rewrap(slot, password) if rewrap and recovery_key is None and password else None
    later = None
    if rewrap_later and recovery_key is None and password and slot.keys.superseded(slot.name):
        later = partial(_prepared_rewrap_gated, slot, password)
    data_key = slot.data_key
    db = _open_db(folder, data_key, create=False)
    try:
        with db.reading() as conn:
            chain_key = load_key(conn)
            if meta.get(conn, "register_id") != keys.register_id:
                raise StoreError("The key file belongs to a different register; nothing was changed.")
        reg = Register(folder, db, keys, _chain(db, chain_key, keys.register_id), data_key,
                       slot.get(certs.MANAGER_SECRET), rewrap=prepared, rewrap_later=later)
        _take_up_keys(reg, slot, user, recovery=recovery_key is not None)
        _adopt_missing(reg, user)
    except BaseException:
        db.close()
        raise
    failures: list[dict] = []

    def settle(fresh: keyfile.KeyFile) -> None:  # re-read under the lock: another window may have written since
        fresh.clear_throttle(keyfile.RECOVERY_USER if recovery_key is not None else user)
        failures.extend(fresh.drain_failed_unlocks())

    try:
        keys.update(settle)
    except OSError as exc:  # why: a full disk must not lock everyone out; the throttle reset is simply not kept
        log_problem(log, "The key file could not be updated after an unlock (wrong-password count not reset)", exc)
    return reg, failures


def _manager_head(manager_key: bytes, head: Head, register_id: str) -> dict:
    sig = certs.cert_signing_key(manager_key).sign(head.signed_bytes(register_id)).hex()
    return {"seq": head.seq, "mac": head.mac, "sig": sig}


def _writer_head_ok(table: dict, head: Head, register_id: str) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        cert = table[int(head.serial)]
        cert.public_key().verify(bytes.fromhex(head.sig), head.signed_bytes(register_id))
        return True
    except (InvalidSignature, KeyError, ValueError):
        return False


def _manager_head_ok(anchor_hex: str, data: dict, register_id: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        head = Head(int(data["seq"]), str(data["mac"]))
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(anchor_hex)).verify(
            bytes.fromhex(data["sig"]), head.signed_bytes(register_id))
        return True
    except (InvalidSignature, KeyError, TypeError, ValueError):
        return False


def _take_up_keys(reg: Register, slot: keyfile.Slot, user: str, *, recovery: bool) -> None:
    """Check this user's record against its certificate and load their audit key; or, on a
    register from before the key hierarchy, upgrade it (a practice manager only)."""
    with reg.reading() as conn:
        role = users_store.role_of(conn, user)
        upgraded_before = meta.get(conn, certs.MANAGER_PUB) is not None
    if role is None:
        from .errors import WrongPassword

        raise WrongPassword("The user name or password is wrong.")
    if not upgraded_before:
        from ..domain import roles

        with reg.reading() as conn:
            traces = (conn.execute("SELECT EXISTS (SELECT 1 FROM user_certs)").fetchone()[0]
                      or conn.execute("SELECT EXISTS (SELECT 1 FROM audit WHERE signer != '')").fetchone()[0])
        if traces or reg.manager_key is not None or reg.keys.data.get("manager_pub"):
            # Upgraded before, and the manager public key since removed: upgrading again would
            # certify whatever the users table now says (a role raised by hand).
            raise RecordNotCertified(
                "The register's manager public key was removed although it holds signed records: it was tampered "
                "with. Nothing was changed. Restore the latest backup.")
        if role != roles.MANAGER:
            raise RecordNotCertified(
                "This register was upgraded to signed user records and audit: a practice manager must unlock it "
                "once before anyone else can (that creates the manager key). Nothing was changed.")
        _upgrade(reg, slot, user, role, recovery=recovery)
        return
    seed = None if recovery else slot.get(certs.AUDIT_SECRET)
    with reg.reading() as conn:
        anchor = certs.anchor_pub(conn, reg.keys, reg.manager_key)
        table, _problems = certs.load_all(conn, anchor, reg.keys.register_id)
        if seed is None and not recovery:
            seed = _claim_pending_seed(reg, conn, slot, user)
    if seed is None and recovery:
        # The recovery key opens the register for a named manager whose password (so whose
        # audit key) is lost: a new audit key, certified with the manager key from the
        # recovery slot, wrapped into their slot when they choose a new password.
        if reg.manager_key is None:
            raise RecordNotCertified(
                "This recovery key was made before the register's upgrade and does not hold the manager key. "
                "Another practice manager can reset your password.")
        seed = certs.new_audit_seed()
        with reg.transaction() as conn:
            certs.check_user(conn, table, user, role, None)
            reg.audit.begin()
            head = reg.audit.head(conn)
            certs.issue(conn, reg.manager_key, reg.keys.register_id, name=user, role=role, active=True,
                        audit_pub=certs.raw_public(certs.audit_private(seed)), from_seq=(head.seq if head else 0) + 1)
        with reg.reading() as conn:
            table, _problems = certs.load_all(conn, anchor, reg.keys.register_id)
    if seed is None:
        raise RecordNotCertified(f"The key slot of {user} holds no audit key. Ask a practice manager to reset your "
                                 "password.")
    private = certs.audit_private(seed)
    pub = certs.raw_public(private)
    latest = certs.latest(table, user)
    if (reg.manager_key is not None and latest is not None and latest.audit_pub != pub.hex()
            and any(c.name == user and c.audit_pub == pub.hex() for c in table.values())):
        # A recovery-key session certified a new audit key but ended before its new password
        # was chosen: this manager's slot still holds the key certified before; certify it again.
        with reg.transaction() as conn:
            reg.audit.begin()
            head = reg.audit.head(conn)
            certs.issue(conn, reg.manager_key, reg.keys.register_id, name=user, role=latest.role,
                        active=latest.active, audit_pub=pub, from_seq=(head.seq if head else 0) + 1)
        with reg.reading() as conn:
            table, _problems = certs.load_all(conn, anchor, reg.keys.register_id)
    with reg.reading() as conn:
        cert = certs.check_user(conn, table, user, role, pub)
    reg.audit_seed = seed
    reg.audit.signer = Signer(cert.serial, private)


def _claim_pending_seed(reg: Register, conn, slot: keyfile.Slot, user: str) -> bytes | None:
    """A user who existed before the upgrade: move the audit key the upgrading manager made
    for them into their own slot, and delete it from the register."""
    pending = meta.get(conn, certs.PENDING_AUDIT, {})
    pending = dict(pending) if isinstance(pending, dict) else {}
    raw = pending.pop(user, None)
    if raw is None:
        return None
    try:
        seed = bytes.fromhex(raw)
        certs.audit_private(seed)
    except (TypeError, ValueError):
        raise RecordNotCertified(f"The audit key kept for {user} since the upgrade is damaged. Ask a practice manager "
                                 "to reset your password.") from None
    reg.keys.update(lambda fresh: slot.on(fresh).put(certs.AUDIT_SECRET, seed))
    with reg.transaction() as wconn:
        meta.put(wconn, certs.PENDING_AUDIT, pending)
    return seed


def _upgrade(reg: Register, slot: keyfile.Slot, user: str, role: str, *, recovery: bool) -> None:
    """The first unlock by a practice manager after schema 4: create the manager key, wrap
    it (and this manager's new audit key) in their slot, move the exclusion signing seed
    under it, certify every user, and seal the old HMAC chain with a signed upgrade entry
    that also signs the attested tables' digests as they are."""
    from . import exclusion_repo

    manager_key = certs.new_manager_key()
    own_seed = certs.new_audit_seed()
    pub = certs.manager_public_hex(manager_key)
    with reg.transaction() as conn:
        if meta.get(conn, certs.MANAGER_PUB) is not None:
            # Another window upgraded it between this unlock's look and this write: a second
            # manager key would replace the first's, and every record certified with it.
            raise StoreError("Another window upgraded this register just now; nothing was changed. Unlock again.")
        reg.audit.begin()
        old_head = reg.audit.head(conn)
        from_seq = (old_head.seq if old_head else 0) + 1
        pending = {}
        own = None
        for name, urole, active in conn.execute("SELECT name, role, active FROM users ORDER BY name").fetchall():
            seed = own_seed if name == user else certs.new_audit_seed()
            cert = certs.issue(conn, manager_key, reg.keys.register_id, name=name, role=urole, active=bool(active),
                               audit_pub=certs.raw_public(certs.audit_private(seed)), from_seq=from_seq)
            if name == user:
                own = cert
            elif active:
                pending[name] = seed.hex()
        meta.put(conn, certs.PENDING_AUDIT, pending)
        meta.put(conn, certs.MANAGER_PUB, pub)
        exclusion_repo.seal_plain_seed(conn, manager_key, reg.keys.register_id)
        reg.manager_key, reg.audit_seed, reg.upgraded = manager_key, own_seed, True
        reg.audit.signer = Signer(own.serial, certs.audit_private(own_seed))
        sealed = f"{old_head.seq}:{old_head.mac}" if old_head else "0:genesis"
        _append_baseline(conn, reg, user=user, role=role, action="register.upgrade", perm="upgrade",
                         detail=f"schema=4 sealed_head={sealed} users={len(pending) + 1}"
                                + (" via=recovery" if recovery else ""))

        def take_up(fresh: keyfile.KeyFile) -> None:
            mine = slot.on(fresh)
            if not recovery:
                mine.put(certs.AUDIT_SECRET, own_seed)
            mine.put(certs.MANAGER_SECRET, manager_key)
            fresh.data["manager_pub"] = pub

        reg.keys.update(take_up)  # inside the transaction: if the key file cannot be written, nothing is upgraded
