"""A desk's session on a practice on the PostgreSQL server (ADR 0015): the same surface as
services.session.Session for the services ported to both engines (services/patients.py and
services/objections.py): ``require`` (a refusal is audited), ``write`` (the one write path,
Desk.write(): the chain and revision under the practice row lock), ``read_store`` and
``search_store``, ``codes``, ``now``/``today``, ``revision`` and ``lock``.

``sign_in`` is how a desk opens one: the user name is the database login, the password
gives (one Argon2id run) the login and the key that unwraps the user's key slot, and the
role and key slot are read from the server. ``ServerSession.open`` (the tests' and the
migration's) takes a data key and a role as given.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable

from ..domain import codes as codes_mod
from ..domain import roles
from ..domain.errors import ValidationError
from ..domain.uk_time import uk_date
from ..problem_log import log_problem
from ..store.errors import KeyDamaged, ServerUnreachable, StoreError, WrongPassword
from ..store.server import chain, connect, ops, passwords, reading, signin
from ..store.server import signing as server_signing
from ..store.server.desk_store import ServerStore
from .on_server import NotOnServer, not_yet
from .session import Locked, table_in_force, utc_now

log = logging.getLogger(__name__)


class LoginAgain:
    """Opens another connection as the desk's login (the searches', the live watcher's, a
    reconnection): holds the derived login password, never the typed one. Changed in place
    when the user changes their password, so a watcher holding it reconnects with the new one."""

    def __init__(self, address: connect.ServerAddress, login: str, login_password: str):
        self.address, self.login, self._password = address, login, login_password

    def changed(self, login_password: str) -> None:
        self._password = login_password

    def __call__(self):
        return connect.connect(self.address, self.login, self._password)

    def __repr__(self) -> str:  # never print the derived password
        return f"LoginAgain({self.login!r})"


@dataclass
class ServerSession:
    desk: ops.Desk
    clock: Callable[[], datetime] = utc_now
    must_change_password: bool = False
    _locked: bool = field(default=False, init=False, repr=False)  # a lost connection stays "broken" once closed
    # The front desk's searches run on a connection of their own (sign_in opens it), each in one
    # read-only snapshot, while the window writes on ``desk``'s; without one, on ``desk``'s.
    search_desk: ops.Desk | None = None
    _search_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # Opens another connection as this desk's login (sign_in sets it; the live watcher's, which
    # reconnects with it): holds the derived login password, never the typed one; dropped at lock.
    reconnect: Callable[[], object] | None = field(default=None, repr=False)
    kdf: dict | None = field(default=None, repr=False)  # sign_in's Argon2id parameters (None: the default)
    # A practice manager's manager key (their own slot on the server, unwrapped at sign-in):
    # it opens the exclusion file's signing key (ADR 0015 addendum). None for everyone else.
    manager_key: bytes | None = field(default=None, repr=False)
    # The last integrity check of the practice (services/server_integrity.py); a failure stays.
    integrity: object | None = field(default=None, repr=False)
    _connect_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # Connections that may have died while the server was away (server_was_away): each is
    # checked with one round trip at its next use, and replaced if dead.
    _suspect: set = field(default_factory=set, init=False, repr=False)

    @classmethod
    def open(cls, conn, data_key: bytes, *, user: str, role: str, **kw) -> "ServerSession":
        return cls(ops.Desk.open(conn, data_key, user=user, role=role), **kw)

    @property
    def user(self) -> str:
        return self.desk.user

    @property
    def role(self) -> str:
        return self.desk.role

    @property
    def codes(self) -> codes_mod.CodeTable:
        """The practice's newest saved correction on the server, else the shipped table."""
        self._check_open()
        return table_in_force(ServerStore(self.desk).saved_code_table())

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        return uk_date(self.clock())

    def server_was_away(self) -> None:
        """The live watcher lost the server and has found it again (ui/main_window.py): this
        session's connections may have died with it without knowing yet, so the next action on
        each checks it first and connects again, instead of failing once with "Nothing was
        saved" after the desk has said the server is back. No round trip here (the UI thread)."""
        self._suspect = {"desk", "search"}

    def _probe_once(self, which: str, desk: ops.Desk) -> None:
        if which in self._suspect:
            self._suspect.discard(which)
            reading.probe(desk.conn)

    def _check_open(self) -> None:
        if not self._locked:
            with self._connect_lock:
                self._probe_once("desk", self.desk)
        if self.desk.conn.broken and not self._locked:  # lost, not locked: connect again, or say so (H-76)
            with self._connect_lock:  # a search's thread may find it lost at the same moment
                if self.desk.conn.broken:
                    self.desk.conn = self._connect_again()
        if self.desk.conn.closed:
            raise Locked("The register is locked. Unlock it to continue.")

    def require(self, permission: str) -> None:
        """Refuse (and audit the refusal in the practice's chain) unless the role allows it."""
        self._check_open()
        if roles.allowed(self.role, permission):
            return
        with self.desk.write(changes_register=False) as tx:
            tx.audit(f"denied.{permission}", outcome="denied")
        roles.require(self.role, permission)

    @contextmanager
    def write(self, permission: str, *, changes_register: bool = True):
        """The one write path on the server: permission, one transaction, audit rows chained
        and (unless an audited read) the revision bumped, as the transaction's last step."""
        self.require(permission)
        with self.desk.write(changes_register=changes_register) as tx:
            tx.store = ServerStore(self.desk, tx, announce=changes_register)
            yield tx

    @contextmanager
    def read_store(self, permission: str):
        self.require(permission)
        with reading.unreachable_in_words(self.desk.conn):
            yield ServerStore(self.desk)

    @contextmanager
    def search_store(self, permission: str):
        """The front desk's reads (any thread, one at a time): every read inside sees the one
        snapshot taken at its first (REPEATABLE READ, READ ONLY), so a search and its result
        rows agree whatever other desks commit between them."""
        self.require(permission)
        desk = self.search_desk or self.desk
        with self._search_lock:
            self._probe_once("search", desk)
            if desk.conn.broken:
                desk.conn = self._connect_again()
            with reading.snapshot(desk.conn):
                yield ServerStore(desk)

    def apart_store(self, permission: str):
        """Session.apart_store's place (the overview's counts): one read-only snapshot on the
        searches' connection, never inside the window's write transaction."""
        return self.search_store(permission)

    def at_once(self):
        """Session.at_once's place: on the server no task of this window holds the register
        (a task has a connection of its own), so there is nothing local to refuse at once."""
        return nullcontext()

    def revision(self) -> int:
        self._check_open()
        return self.desk.revision()

    def lock(self) -> None:
        """Audit the lock, then close the connection (the practice keys go with the desk)."""
        self._locked, self.reconnect, self.manager_key = True, None, None
        if self.desk.conn.closed:
            return
        try:
            with self.desk.write(changes_register=False) as tx:
                tx.audit("session.lock")
        except StoreError as exc:  # why: locking must not fail; the connection closes regardless
            log_problem(log, "The lock was not written to the server's audit trail (server unreachable)", exc)
        finally:
            self.desk.conn.close()
            if self.search_desk is not None:
                with self._search_lock:  # after a search under way
                    self.search_desk.conn.close()

    # -- what the register file's Session has and the server does not yet (ADR 0015) --------
    on_server = True  # services/on_server.py asks this, without importing psycopg

    @property
    def register(self):
        """A service not yet ported reaches for the register file: one sentence, no traceback."""
        raise NotOnServer(not_yet("this part of the program (it still needs a register file)"))

    folder = register

    def read(self, permission: str):
        return self.register

    read_committed = read_apart = read

    def practice(self) -> dict:
        return self.register

    def derive(self, login: str, password: str) -> tuple[bytes, str]:
        """(key-slot unwrap key, login password) for ``login`` on this database from one
        Argon2id run, as sign_in derives them (the salt is the database and login names)."""
        salt_address = connect.ServerAddress((("dbname", self.desk.conn.info.dbname),))
        return connect.derive_login(salt_address, login, password, self.kdf)

    def login_changed(self, login_password: str) -> None:
        """After this user's own password change: later connections use the new login."""
        if isinstance(self.reconnect, LoginAgain):
            self.reconnect.changed(login_password)

    def _connect_again(self):
        """A connection lost (the server restarted, the network dropped): a new one as the same
        login once the server answers again, else the desk's one sentence. Nothing is retried:
        what failed was not saved, and the person does it again (H-76)."""
        if self.reconnect is None:
            raise ServerUnreachable(ops.UNREACHABLE)
        conn = self.reconnect()  # ServerUnreachable (still down), or why the server now refuses
        conn.autocommit = True
        return conn

    def rekeyed(self, data_key: bytes, result, manager_key: bytes | None) -> None:
        """After this desk re-keyed the practice (services/server_users.rekey): its desks hold the
        new keys and epoch; the old ones are dropped."""
        for desk in (self.desk, self.search_desk):
            if desk is not None:
                desk.keys, desk.data_key, desk.key_epoch = result.keys, data_key, result.epoch
                desk._earlier_refs = None
        self.manager_key = manager_key

    def record_wrong_sign_ins(self, tries: list[str]) -> None:
        """The wrong passwords typed for this login on this computer since its last sign-in
        (services/server_throttle.py), into the practice's trail as the register file writes its
        failed unlocks: ``login``, outcome failed, the time of each try in the detail (the
        entry's own time is now's: the chain's times follow its order)."""
        with self.desk.write(changes_register=False) as tx:
            for at in tries:
                tx.audit("login", outcome="failed", detail=f"wrong password on this computer at {at}")

    def verify_audit(self):
        """The practice's chain checked (services/audit.verify) in one REPEATABLE READ snapshot of
        its own, while other desks keep appending: seq without gaps, each MAC under the practice's
        audit key (on the desk only), the head kept in the practice row its last entry."""
        self._check_open()
        return chain.verify(self.desk.conn, self.desk.keys.audit_key, self.desk.practice_id,
                            retired=self.desk.keys.retired_audit_keys)


_RESET_NOT_SET = (
    "{user}'s password was reset by a practice manager: sign in with the temporary password they gave you. "
    "If that is refused, the server's administrator has not yet set it on your login "
    "(gp-optout server set-desk-password). Nothing was changed.")


def _first_signing_key(tx, user: str, unwrap: bytes) -> bytes | None:
    """The practice's first manager: its manager key and the exclusion file's signing key are
    made on this desk (the server never sees either in clear), audited with the sign-in."""
    import os

    from ..exclusion import signing

    manager_key, key = os.urandom(32), signing.generate_private_key()
    if not server_signing.create_first(tx, user, unwrap, manager_key, signing.private_key_bytes(key),
                                       signing.key_id(key)):
        return None  # another manager's desk made them first: ask that manager for the key
    tx.audit("export.signing_key_created", detail=f"key_id={signing.key_id(key)}")
    return manager_key


def _manager_key(conn, unwrap: bytes, practice_ref: str, user: str) -> bytes | None:
    """This manager's manager key, or None: no slot, or one wrapped under a password they have
    since changed (not yet re-wrapped): signing is then refused in words, the sign-in is not."""
    try:
        return server_signing.manager_key(conn, unwrap, practice_ref, user)
    except KeyDamaged as exc:
        log_problem(log, "A manager slot on the server did not open with this password (changed since it was "
                         "wrapped); the exclusion file cannot be signed from this sign-in", exc)
        return None


def _recovery_manager_key(conn, recovery_key: str, practice_ref: str) -> bytes | None:
    try:
        return passwords.recovery_manager_key(conn, recovery_key, practice_ref)
    except KeyDamaged as exc:
        log_problem(log, "The recovery key's manager slot on the server did not open; the exclusion file cannot be "
                         "signed from this sign-in", exc)
        return None


def sign_in(address: connect.ServerAddress, user: str, password: str, *, kdf: dict | None = None,
            clock: Callable[[], datetime] = utc_now, recovery_key: str | None = None) -> ServerSession:
    """Sign in at a desk on a server register: the user and their role come from the server.

    A wrong password and an unknown login are one sentence (the server tells them apart to
    nobody) and write nothing: without a sign-in there is no connection, and without the
    user's key slot no key to chain an audit entry with (the server's own log records the
    failed sign-in). A login whose key slot opens but who is not, or no longer, a user of
    the practice's register is refused and the refusal is audited in the practice's chain.

    ``recovery_key``: a practice manager whose password is lost. The administrator has given
    their login a new password (``gp-optout server set-desk-password``), typed here; the
    practice key comes from the recovery slot instead of theirs (and the manager key from the
    recovery key's manager slot, when the manager who made it held it), and they must choose
    their own password before anything else (their slot, manager slot and login then change
    together)."""
    user = (user or "").strip()
    if not user:
        raise ValidationError("Enter your user name.", "user")
    if not password:
        raise ValidationError("Enter your password.", "password")
    unwrap, login_password = connect.derive_login(address, user, password, kdf)
    conn = connect.connect(address, user, login_password)
    try:
        who = signin.account(conn, user)
        if not who.has_slot:
            raise WrongPassword(f"{user} is not a user of this practice's register on the server. Nothing was "
                                "changed. Ask your practice manager to add you.")
        role = who.role if who.active and who.role in roles.ROLES else None
        if recovery_key is not None:  # a manager's lost password: their own slot no longer opens
            desk = ops.Desk.open(conn, passwords.open_recovery(conn, recovery_key), user=user, role=role or "")
        else:
            try:
                desk = ops.Desk.unlock(conn, unwrap, user=user, role=role or "")
            except KeyDamaged:
                if who.must_change:  # the login still has the old password; the slot has the new one
                    raise WrongPassword(_RESET_NOT_SET.format(user=user)) from None
                raise
        how = "password" if recovery_key is None else "recovery key"
        refused = None
        if role is None:
            refused = f"{user} is not, or no longer, a user of this practice's register. Nothing was changed. " \
                      "Ask your practice manager."
        elif recovery_key is not None and role != roles.MANAGER:
            refused = "The recovery key may only be used by a practice manager. Nothing was changed."
        signs = role == roles.MANAGER and not refused
        if not signs:
            mkey = None
        elif recovery_key is None:
            mkey = _manager_key(conn, unwrap, desk.keys.practice_ref, user)
        else:  # the recovery key opens the manager key too, when the manager who made it held it
            mkey = _recovery_manager_key(conn, recovery_key, desk.keys.practice_ref)
        with desk.write(changes_register=False) as tx:
            if role is None:
                tx.audit("login", outcome="denied", detail="no longer a user" if who.role else "not a user")
            elif refused:
                tx.audit("login", outcome="denied", detail=f"{how}: not a practice manager")
            else:
                tx.audit("login", detail=how)
                if signs and recovery_key is None and mkey is None and not server_signing.has_signing_key(tx.conn):
                    mkey = _first_signing_key(tx, user, unwrap)
        if refused:
            raise WrongPassword(refused)
        again = LoginAgain(address, user, login_password)
        searches = again()
        searches.autocommit = True
        return ServerSession(desk, clock=clock, search_desk=ops.Desk(searches, desk.keys, desk.practice_id, user, role,
                                                                      key_epoch=desk.key_epoch),
                             reconnect=again, kdf=kdf, manager_key=mkey,
                             must_change_password=who.must_change or recovery_key is not None)
    except BaseException:
        conn.close()
        raise
