"""Creating, unlocking and closing a register folder: register.db + register.keys.

``Register`` holds the one open connection, the audit chain and the key file. It knows
nothing of users' permissions (services/ does) or of windows (ui/ does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import database, keyfile, location, meta, seal
from .audit import AuditChain, Head, load_key, new_audit_key
from .errors import StoreError


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
        """Keep the latest audit head outside the register, to detect truncation later, and
        the revision, so a restored register never goes back to a revision already exported."""
        with self.reading() as conn:
            head = self.audit.head(conn)
            revision = meta.revision(conn)

        def record(fresh: keyfile.KeyFile) -> None:
            fresh.data["audit_head"] = head.as_dict() if head else None
            fresh.data["revision_seen"] = max(revision, int(fresh.data.get("revision_seen") or 0))

        self.keys.update(record)

    def recorded_head(self) -> Head | None:
        return Head.from_dict(self.keys.data.get("audit_head"))

    def close(self) -> None:
        if self.is_open:
            try:
                self.remember_audit_head()
            except (StoreError, OSError, database.DatabaseError):
                pass  # closing must not fail because the key file could not be rewritten
            self.db.close()
        self.data_key = b""


def _open_db(folder: Path, data_key: bytes, create: bool) -> database.Database:
    db_path, _ = register_paths(folder)
    conn = database.connect(db_path, data_key, create=create)
    try:
        checked = None
        if not create:
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
    keys.wrap(first_user, password, data_key)
    keys.wrap_recovery(recovery, data_key)
    db = _open_db(folder, data_key, create=True)
    chain_key = new_audit_key()
    reg = Register(folder, db, keys, AuditChain(chain_key), data_key)
    now = datetime.now(timezone.utc).isoformat()
    with reg.transaction() as conn:
        meta.put(conn, "audit_key", chain_key.hex())
        meta.put(conn, "register_id", keys.register_id)
        meta.put(conn, "ods", ods)
        meta.put(conn, "practice", practice)
        meta.put(conn, "revision", 0)
        conn.execute(
            "INSERT INTO users(name, role, active, created_at, created_by) VALUES (?,?,1,?,?)",
            (first_user, role, now, first_user),
        )
        reg.audit.append(conn, user=first_user, role=role, action="register.create", detail=f"ods={ods}")
    keys.save()  # only once the database exists, so a failed create leaves no key file behind
    reg.remember_audit_head()
    return reg, recovery


def _unwrap(keys: keyfile.KeyFile, user: str, password: str | None, recovery_key: str | None) -> bytes:
    if recovery_key is not None:
        data_key = keys.unlock_with_recovery(recovery_key)
        keys.clear_throttle(keyfile.RECOVERY_USER)
    else:
        data_key = keys.unlock(user, password or "")
        keys.clear_throttle(user)
    return data_key


def _finish_interrupted_rekey(folder, keys, data_key, pending: Path, user, password, recovery_key):
    """A re-key stopped part-way: keep whichever key file matches the database."""
    db_path, keys_path = register_paths(folder)
    try:
        database.connect(db_path, data_key).close()
        pending.unlink()  # the database still has the old key: the re-key never happened
        return keys, data_key
    except StoreError:
        new_keys = keyfile.KeyFile.load(pending)
        new_key = _unwrap(new_keys, user, password, recovery_key)
        database.connect(db_path, new_key).close()  # raises if neither key opens it
        os.replace(pending, keys_path)
        new_keys.path = keys_path
        return new_keys, new_key


def rekey(reg: Register, new_keys: keyfile.KeyFile, new_data_key: bytes) -> None:
    """Re-encrypt the register with a new data key. The new key file is written first (as
    register.keys.next), then the database is re-keyed, then the key file is swapped in;
    an interruption at any point is finished at the next unlock."""
    _, keys_path = register_paths(reg.folder)
    pending = keys_path.with_name(keys_path.name + ".next")
    with reg.keys.locked():  # no other window's key-file change lands between these steps
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


def unlock(folder: Path, user: str, password: str | None = None, *, recovery_key: str | None = None) -> tuple[Register, list[dict]]:
    """Open with a user's password (or the recovery key). Returns the register and the
    failed attempts (user, time) since the last success, for the audit trail."""
    folder = Path(folder)
    location.check_local(folder)
    db_path, keys_path = register_paths(folder)
    if not db_path.exists():
        raise StoreError(f"No register found in {folder}.")
    keys = keyfile.KeyFile.load(keys_path)
    data_key = _unwrap(keys, user, password, recovery_key)
    pending = keys_path.with_name(keys_path.name + ".next")
    if pending.exists():
        keys, data_key = _finish_interrupted_rekey(folder, keys, data_key, pending, user, password, recovery_key)
    db = _open_db(folder, data_key, create=False)
    with db.reading() as conn:
        chain_key = load_key(conn)
    reg = Register(folder, db, keys, AuditChain(chain_key), data_key)
    with reg.reading() as conn:
        if meta.get(conn, "register_id") != keys.register_id:
            reg.db.close()
            raise StoreError("The key file belongs to a different register; nothing was changed.")
    failures: list[dict] = []

    def settle(fresh: keyfile.KeyFile) -> None:  # re-read under the lock: another window may have written since
        fresh.clear_throttle(keyfile.RECOVERY_USER if recovery_key is not None else user)
        failures.extend(fresh.drain_failed_unlocks())

    try:
        keys.update(settle)
    except OSError:
        pass  # a full disk must not lock everyone out; the throttle reset is simply not kept
    return reg, failures
