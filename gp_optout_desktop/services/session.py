"""An unlocked register with its user: the context every service operation runs in."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Callable

from ..domain import codes as codes_mod
from ..domain import roles
from ..domain.errors import ValidationError
from ..paths import resource
from ..store import integrity, meta, readers, register as register_store, retired, \
    users as users_store
from ..store.audit import Pending
from ..store import database
from ..store.backend import FileStore
from ..store.database import DatabaseError
from ..store.errors import RegisterCorrupt, StoreError, WrongPassword
from ..domain.uk_time import uk_date
from ..problem_log import log_problem

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def shipped_code_table_text() -> str:
    return resource("codes.json").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def code_table() -> codes_mod.CodeTable:
    """The table shipped with the release (a practice may correct it in the register)."""
    return codes_mod.parse_code_table(shipped_code_table_text())


@lru_cache(maxsize=8)
def _parsed(text: str) -> codes_mod.CodeTable:
    return codes_mod.parse_code_table(text)


def table_in_force(saved_text: str | None) -> codes_mod.CodeTable:
    """The practice's newest saved correction, else (none, or one restoring it) the shipped table."""
    return code_table() if saved_text is None else _parsed(saved_text)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Locked(StoreError):
    """The register was locked (idle lock or Lock now) and must be unlocked again."""


@dataclass
class WriteContext:
    """Handed to an operation inside its transaction, so its audit rows commit with it."""

    conn: object
    session: "Session"
    audited: list = field(default_factory=list)
    revision: int = 0  # set when the transaction's changes are complete
    pending: list = field(default_factory=list)
    permission: str = ""

    @property
    def store(self) -> FileStore:
        """The register's rows for the services ported to both engines (store/backend.py)."""
        return FileStore(self.conn)

    def audit(self, action: str, patient: str = "", detail: str = "", outcome: str = "ok") -> None:
        """Recorded now, appended at the end of the transaction: the last entry then carries
        the digest of every row the transaction wrote, and one signature covers them all."""
        self.pending.append(Pending(self.session.user, self.session.role, action, patient, outcome, detail))
        self.audited.append(action)

    def flush(self) -> None:
        """Append (and sign) the entries recorded so far now, e.g. so a backup made inside this
        transaction carries the record of its own making."""
        if self.pending:
            self.session.register.audit.append_batch(self.conn, self.pending, perm=self.permission)
            self.pending = []


@dataclass
class Session:
    register: register_store.Register
    user: str
    role: str
    must_change_password: bool = False
    clock: Callable[[], datetime] = utc_now

    @property
    def codes(self) -> codes_mod.CodeTable:
        """The table in force: the practice's newest saved correction (schema V6), else the shipped one.
        Read from the register each time (one indexed lookup), so a correction saved in another
        window is in force here at once."""
        if not self.register.is_open:
            return code_table()
        with self.register.reading() as conn:
            return self.codes_on(conn)

    @staticmethod
    def codes_on(conn) -> codes_mod.CodeTable:
        """The table in force as ``conn`` sees it (a read on a connection of its own: read_apart)."""
        return table_in_force(FileStore(conn).saved_code_table())

    @property
    def folder(self) -> Path:
        return self.register.folder

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        return uk_date(self.clock())

    def _check_open(self) -> None:
        if not self.register.is_open:
            raise Locked("The register is locked. Unlock it to continue.")

    def require(self, permission: str) -> None:
        """Refuse (and audit the refusal) unless this user's role allows ``permission``."""
        self._check_open()
        if roles.allowed(self.role, permission):
            return
        with self._transaction() as conn:
            self.register.audit.append(conn, user=self.user, role=self.role, action=f"denied.{permission}",
                                       outcome="denied", perm="denied")
        roles.require(self.role, permission)

    @contextmanager
    def _transaction(self):
        """A transaction whose row digest changes start from nothing and are forgotten if it rolls back."""
        audit = self.register.audit
        outermost = getattr(self.register.db, "_depth", 0) == 0
        try:
            with self.register.transaction() as conn:
                if outermost:
                    audit.begin()
                yield conn
        except BaseException:
            if outermost:
                audit.begin()
            raise

    @contextmanager
    def write(self, permission: str, *, changes_register: bool = True):
        """The one write path: permission, one transaction, revision bump, audit rows.

        ``changes_register=False`` is for audited reads: the audit row is written but the
        register revision (which tells whether the exclusion file is current) stays.
        Refused once an integrity check has found the register damaged (ADR 0011)."""
        self.require(permission)
        integrity.refuse_writes_if_damaged(self.register)
        with self._transaction() as conn:
            retired.refuse_if_moved(conn, permission, changes_register)  # moved to a server: read-only (H-79)
            ctx = WriteContext(conn, self, permission=permission)
            yield ctx
            if not ctx.audited:
                raise AssertionError("every write must leave an audit row")
            ctx.revision = meta.bump_revision(conn) if changes_register else meta.revision(conn)
            ctx.flush()

    @contextmanager
    def read(self, permission: str):
        self.require(permission)
        with self.register.reading() as conn:
            yield conn

    @contextmanager
    def read_committed(self, permission: str):
        """A read on the desk's own read-only connection: it never waits for a task writing or
        reading on the main connection (a backup, an import, a letter run), and sees what
        was last committed. For the front desk's searches."""
        self.require(permission)
        with readers.desk_reader(self.register).reading() as conn:
            yield conn

    @contextmanager
    def read_store(self, permission: str):
        """A read through the engine seam (store/backend.py), on the register's connection."""
        with self.read(permission) as conn:
            yield FileStore(conn)

    @contextmanager
    def search_store(self, permission: str):
        """read_committed through the engine seam: the front desk's searches."""
        with self.read_committed(permission) as conn:
            yield FileStore(conn)

    @contextmanager
    def read_apart(self, permission: str):
        """A long read (the overview's counts, the exclusion file's rows) on a read-only
        connection of its own, in one read transaction: one consistent snapshot, while the
        register's connection stays free for the desk to open a record or save (hazard H-56).
        It sees only what was committed."""
        self.require(permission)
        reader = readers.Reader(self.register.db.path, self.register.data_key)
        try:
            with reader.snapshot() as conn:
                yield conn
        finally:
            reader.close()

    @contextmanager
    def apart_store(self, permission: str):
        """read_apart through the engine seam (store/backend.py): the overview's counts."""
        with self.read_apart(permission) as conn:
            yield FileStore(conn)

    def at_once(self):
        """Around a call the person at the desk waits for (Open, Save): refused at once with a
        sentence (StoreError) when a task in this window holds the register, instead of
        freezing the window until it ends (hazard H-56)."""
        return database.impatient()

    def practice(self) -> dict:
        with self.register.reading() as conn:
            data = dict(meta.get(conn, "practice", {}))
            data["ods"] = meta.get(conn, "ods", "")
        return data

    def revision(self) -> int:
        self._check_open()
        with self.register.reading() as conn:
            return meta.revision(conn)

    def verify_audit(self):
        """The whole trail checked (services/audit.verify): hashes, signatures, certificates,
        row digests and heads. Refused, as a write is, once the register was found damaged."""
        self._check_open()
        integrity.refuse_writes_if_damaged(self.register)
        return self.register.verify_audit()

    def lock(self) -> None:
        """Close the connection and forget the key (idle lock, Lock now, quit)."""
        if self.register.is_open:
            try:
                with self._transaction() as conn:
                    self.register.audit.append(conn, user=self.user, role=self.role, action="session.lock",
                                               perm="session")
            except (DatabaseError, StoreError) as exc:  # why: locking must not fail; the key is forgotten regardless
                log_problem(log, "The lock was not written to the audit trail (register damaged, see ADR 0011, "
                                 "or re-keyed in another window)", exc)
        self.register.close()


def _start(reg: register_store.Register, user: str, failures: list[dict], via: str) -> Session:
    with reg.reading() as conn:
        role = users_store.role_of(conn, user)
    if role is None:
        reg.db.close()
        raise WrongPassword("The user name or password is wrong.")
    session = Session(reg, user, role, must_change_password=reg.keys.must_change(user))
    with session._transaction() as conn:
        entries = [Pending(failure["user"], "", "login", outcome="failed", at=datetime.fromisoformat(failure["at"]))
                   for failure in failures]
        entries.append(Pending(user, role, "login", detail=via))
        reg.audit.append_batch(conn, entries, perm="login")
    return session


@contextmanager
def _damage_in_words():
    """Unlock reads only the pages it needs (no integrity check on the way, ADR 0011); a
    damaged one among them fails SQLCipher's page HMAC and is refused here, in words."""
    try:
        yield
    except DatabaseError:
        raise RegisterCorrupt(
            "The register file is damaged or has been tampered with (a page failed its check when read). "
            "Nothing was changed. Restore the latest backup."
        ) from None


def unlock(folder: Path, user: str, password: str, *, rewrap_later: bool = False) -> Session:
    """``rewrap_later``: a key entry with superseded Argon2id parameters is wrapped again by
    rewrap_pending() after this returns (the desktop app: once the window is shown), instead of
    before the register opens; the command line and scripts re-wrap within the unlock."""
    if not user or not user.strip():
        raise ValidationError("Enter your user name.", "user")
    with _damage_in_words():
        reg, failures = register_store.unlock(Path(folder), user.strip(), password, rewrap=not rewrap_later,
                                              rewrap_later=rewrap_later)
        session = _start(reg, user.strip(), failures, "password")
    _take_up_rewrap(session)
    return session


def unlock_for_window(folder: Path, user: str, password: str) -> Session:
    """The desktop app's unlock: the re-wrap's second Argon2id run (about as long as the unlock's
    own) is left to rewrap_pending(), run on a worker once the window is shown (issue 13)."""
    return unlock(folder, user, password, rewrap_later=True)


def rewrap_pending(session: Session) -> None:
    """The re-wrap an unlock_for_window() left: Argon2id with the current parameters (in a
    process of its own, under the memory gate), then the new entry written and audited as an
    unlock writes it (_take_up_rewrap). Nothing to do for an entry that is current; if the
    window was locked meanwhile, nothing is written (the next unlock tries again)."""
    reg = session.register
    prepare, reg.rewrap_later = reg.rewrap_later, None
    if prepare is None:
        return
    prepared = prepare()
    if not reg.is_open:  # locked while Argon2id ran
        return
    reg.rewrap = prepared
    _take_up_rewrap(session)


def _take_up_rewrap(session: Session) -> None:
    """Put this user's re-wrapped key entry (made at unlock: earlier Argon2 parameters) into
    the key file, audited, on the one write path. The key file is replaced atomically, so a
    crash leaves the old entry or the new one, and either unlocks. If it cannot be written
    the unlock stands and the next one tries again."""
    prepared, session.register.rewrap = session.register.rewrap, None
    if prepared is None:
        return
    try:
        with session.write("change_own_password", changes_register=False) as ctx:
            ctx.audit("user.key_rewrapped", detail=prepared.detail)
            session.register.keys.update(prepared.apply)  # inside the transaction: not written, not audited
    except (DatabaseError, StoreError, OSError) as exc:  # why: the old entry still unlocks; re-wrapped next time
        log_problem(log, "The key entry was not re-wrapped with the new key-derivation parameters", exc)


def unlock_with_recovery(folder: Path, user: str, recovery_key: str) -> Session:
    """The recovery key opens the register as a named practice manager whose password is lost:
    they must choose a new password before anything else (must_change_password)."""
    with _damage_in_words():
        reg, failures = register_store.unlock(Path(folder), user, recovery_key=recovery_key)
        session = _start(reg, user, failures, "recovery key")
    if session.role != roles.MANAGER:
        session.lock()
        raise WrongPassword("The recovery key may only be used by a practice manager.")
    session.must_change_password = True
    return session
