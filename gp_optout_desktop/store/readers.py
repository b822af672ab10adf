"""A second, read-only connection for the front desk's searches.

The register's own connection is shared behind one lock, so a backup, an import or a
letter run on a worker thread used to hold the desk's search (on the UI thread) for the
whole task: typing froze for up to 26 s at 1,000,000 patients. In WAL mode readers never
wait for a writer: this connection reads the last committed state while a task writes
or reads on the main connection. It is opened with the same key, refuses writes
(query_only), and is closed with the register (idle lock, Lock now, quit), so the key
does not outlive the session. It sees only committed data: reads that must see a write
in progress stay on the main connection (the services' transactions).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import sqlcipher3

from . import database
from .errors import RegisterCorrupt, StoreError

_OPEN_LOCK = threading.Lock()


class Reader:
    def __init__(self, db_path, data_key: bytes):
        conn = sqlcipher3.connect(str(db_path), isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA cipher_log_level = NONE")
            conn.execute(database._key_pragma(data_key))  # noqa: SLF001 - the same raw-key form
            conn.execute("PRAGMA busy_timeout = 5000")
            version = conn.execute("PRAGMA cipher_version").fetchone()
            if not version or not version[0]:
                raise StoreError("SQLCipher is not available: refusing to open the register.")
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except database.DatabaseError:
                raise RegisterCorrupt("The register file is damaged or has been tampered with. "
                                      "Nothing was changed. Restore the latest backup.") from None
            conn.execute("PRAGMA temp_store = MEMORY")  # sorts never spill plaintext to disk
            if conn.execute("PRAGMA temp_store").fetchone()[0] != 2:
                raise StoreError("Could not keep temporary data in memory: refusing to open.")
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA cache_size = -16384")  # 16 MiB: the search indexes' hot pages
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        self.data_key = data_key
        self._lock = threading.Lock()

    @contextmanager
    def reading(self):
        with self._lock:
            yield self.conn

    @contextmanager
    def snapshot(self):
        """One read transaction: every read inside sees the same committed register."""
        with self._lock:
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            finally:
                self.conn.execute("COMMIT")  # a read transaction: ends the snapshot, writes nothing

    def close(self) -> None:
        with self._lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None


def desk_reader(reg) -> Reader:
    """The register's read-only connection, opened on first use (and again after a re-key)."""
    if not reg.is_open:
        raise StoreError("The register is locked. Unlock it to continue.")
    with _OPEN_LOCK:
        reader = getattr(reg, "_desk_reader", None)
        if reader is not None and reader.data_key != reg.data_key:
            reader.close()
            reader = None
        if reader is None or reader.conn is None:
            reader = Reader(reg.db.path, reg.data_key)
            reg._desk_reader = reader  # noqa: SLF001 - lives and dies with the register's connection
        return reader


def close(reg) -> None:
    with _OPEN_LOCK:
        reader = getattr(reg, "_desk_reader", None)
        if reader is not None:
            reader.close()
            reg._desk_reader = None  # noqa: SLF001
