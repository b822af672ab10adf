"""Opening the SQLCipher register safely, and its one transaction helper.

Sharp edges handled here (see shared/design.md): plain sqlite3 accepts PRAGMA key and
writes plaintext, so cipher_version is checked; temp files would be unencrypted, so
temp_store=MEMORY is set and read back; a wrong key and a corrupt file give the same
error, but the key here comes from an authenticated unwrap, so a read failure after a
successful unwrap means the file itself is corrupt or tampered with.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import sqlcipher3

from . import atomic, schema
from .errors import NewerSchema, RegisterCorrupt, StoreError
from ..problem_log import log_problem

log = logging.getLogger(__name__)

DB_NAME = "register.db"
KEYS_NAME = "register.keys"

DatabaseError = sqlcipher3.DatabaseError
IntegrityError = sqlcipher3.IntegrityError


def _key_pragma(data_key: bytes) -> str:
    # A raw 256-bit key as hex (SQLCipher's x'' form): no passphrase ever reaches SQL,
    # and SQLCipher's own PBKDF2 is skipped (Argon2id already stretched the password).
    if len(data_key) != 32:
        raise StoreError("The register key has the wrong length.")
    return f"PRAGMA key = \"x'{data_key.hex()}'\""


def rekey_pragma(data_key: bytes) -> str:
    return _key_pragma(data_key).replace("PRAGMA key", "PRAGMA rekey", 1)


def connect(db_path: Path, data_key: bytes, *, create: bool = False) -> sqlcipher3.Connection:
    db_path = Path(db_path)
    if not create and not db_path.exists():
        raise StoreError(f"No register found at {db_path.parent}.")
    _make_private(db_path)
    conn = sqlcipher3.connect(str(db_path), isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(_key_pragma(data_key))
        version = conn.execute("PRAGMA cipher_version").fetchone()
        if not version or not version[0]:
            raise StoreError("SQLCipher is not available: refusing to write an unencrypted register.")
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except DatabaseError:
            raise RegisterCorrupt(
                "The register file is damaged or has been tampered with (it does not decrypt with its key). "
                "Nothing was changed. Restore the latest backup."
            ) from None
        conn.execute("PRAGMA temp_store = MEMORY")
        if conn.execute("PRAGMA temp_store").fetchone()[0] != 2:
            raise StoreError("Could not keep temporary data in memory: refusing to open.")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA cache_size = -65536")  # 64 MiB of page cache
    except BaseException:
        conn.close()
        raise
    return conn


def _make_private(db_path: Path) -> None:
    """register.db and its -wal/-shm are 0600 whatever the umask. SQLite gives the -wal and
    -shm files the database file's own mode, so the database file is created 0600 first
    (and any existing one, from before this rule, is tightened)."""
    if os.name == "nt":
        return
    if not db_path.exists():
        os.close(os.open(db_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    for name in (db_path.name, db_path.name + "-wal", db_path.name + "-shm"):
        atomic.secure_file(db_path.with_name(name))


REKEYED = ("The register can no longer be read with this window's key: it was re-keyed in another window or "
           "program (or the file was damaged). Nothing was saved. Lock, then unlock again with your password.")


BUSY = ("The register is busy: another window or program has been saving a change for several seconds. Nothing "
        "was saved; try again.")


def check_integrity(conn: sqlcipher3.Connection, full: bool = False) -> None:
    """SQLCipher's per-page HMAC check plus SQLite's structural check."""
    try:
        bad_pages = conn.execute("PRAGMA cipher_integrity_check").fetchall()
        rows = conn.execute("PRAGMA integrity_check" if full else "PRAGMA quick_check").fetchall()
    except DatabaseError as exc:
        raise RegisterCorrupt(
            "The register failed its integrity check: it is damaged or was tampered with "
            f"({exc}). Nothing was changed. Restore the latest backup."
        ) from None
    if bad_pages or rows != [("ok",)]:
        raise RegisterCorrupt(
            "The register failed its integrity check: it is damaged or was tampered with. "
            "Nothing was changed. Restore the latest backup."
        )


def schema_version(conn) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn, db_path: Path) -> int:
    """Bring the schema up to date; copy the file aside first. Returns the old version."""
    current = schema_version(conn)
    if current > schema.LATEST:
        raise NewerSchema(
            f"This register was written by a newer version of gp-optout-desktop (schema {current}; this "
            f"version knows {schema.LATEST}). Install the newer version; nothing was changed."
        )
    if current == schema.LATEST:
        return current
    if current > 0:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        copy = db_path.with_name(f"{db_path.name}.pre-v{schema.LATEST}.bak")
        shutil.copy2(db_path, copy)
        atomic.secure_file(copy)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for step in range(current, schema.LATEST):
            for statement in schema.MIGRATIONS[step].split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {int(schema.LATEST)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return current
TASK_BUSY = ("The register is busy with a long task in this window (a backup, an import or a reconciliation), so "
             "this was not done. Nothing was changed. Try again in a few seconds.")
IMPATIENT_WAIT_S = 0.2
_impatient = threading.local()


@contextmanager
def impatient(wait_s: float = IMPATIENT_WAIT_S):
    """Inside it, this thread's reads and writes on a register's connection refuse at once
    (StoreError, TASK_BUSY) when a task on another thread holds it, instead of waiting for the
    task: the desk's Open and Save on the UI thread, which would otherwise freeze the window
    for as long as an import or a backup's copy takes (hazard H-56)."""
    previous = getattr(_impatient, "wait", None)
    _impatient.wait = wait_s
    try:
        yield
    finally:
        _impatient.wait = previous


class Database:
    """One open connection. Writes go through ``transaction()``; one lock serialises threads.

    With a ``seal`` (store/seal.py), every outermost transaction bumps the commit counter
    and rewrites register.seal after its COMMIT, before returning: a change is acknowledged
    only once the seal records it."""

    def __init__(self, conn, db_path: Path, seal=None):
        self.conn = conn
        self.path = Path(db_path)
        self.seal = seal
        self._lock = threading.RLock()
        self._depth = 0

    @contextmanager
    def _held(self):
        wait = getattr(_impatient, "wait", None)
        if wait is None:
            self._lock.acquire()
        elif not self._lock.acquire(timeout=wait):  # held by a task on another thread: say so, do not wait
            raise StoreError(TASK_BUSY)
        try:
            yield
        finally:
            self._lock.release()

    @contextmanager
    def transaction(self):
        with self._held():
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            if self.conn is None:
                raise StoreError("The register is locked. Unlock it to continue.")
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except DatabaseError as exc:
                if "locked" in str(exc).lower() or "busy" in str(exc).lower():
                    raise StoreError(BUSY) from None
                _raise_readable(exc)
                raise
            self._depth = 1
            committed = False
            try:
                yield self.conn
                if self.seal is not None:
                    sealed = self.seal.bump(self.conn)
                    with self.seal.lock():  # seals from two windows are written in commit order
                        self.conn.execute("COMMIT")
                        committed = True
                        self.seal.write(*sealed)
                else:
                    self.conn.execute("COMMIT")
            except BaseException as exc:
                if committed:
                    if isinstance(exc, OSError):
                        raise StoreError(
                            "The change was written, but the record that guards it against loss (register.seal) "
                            f"could not be ({exc.strerror or exc}): the disk may be full. Free some space, then check "
                            "the change is there.") from None
                    raise
                try:
                    self.conn.execute("ROLLBACK")
                except DatabaseError as rollback_exc:  # why: the failure being rolled back is the one raised
                    log_problem(log, "A failed change could not be rolled back (SQLite may have done so itself)",
                                rollback_exc)
                if isinstance(exc, sqlcipher3.OperationalError) and "full" in str(exc).lower():
                    raise StoreError("The disk is full: nothing was saved. Free some space and try again.") from None
                if isinstance(exc, DatabaseError):
                    _raise_readable(exc)
                raise
            finally:
                self._depth = 0

    @contextmanager
    def reading(self):
        with self._held():
            yield self.conn

    def close(self) -> None:
        with self._lock:
            if self.conn is not None:
                try:
                    self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except DatabaseError as exc:  # why: closing must not fail; the next open replays the write-ahead log
                    log_problem(log, "The write-ahead log could not be checkpointed on close", exc)
                self.conn.close()
                self.conn = None


def _raise_readable(exc: Exception) -> None:
    """A page that no longer decrypts mid-session: another window re-keyed the register."""
    text = str(exc).lower()
    if "not a database" in text or "encrypted" in text:
        raise StoreError(REKEYED) from None
    if "readonly" in text:  # what SQLCipher says after another connection re-keyed the file
        raise StoreError(REKEYED.replace("(or the file was damaged)", "(or its files became read-only)")) from None
