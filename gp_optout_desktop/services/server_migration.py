"""Moving a practice's register file onto the server (issue 15 item 6), by its practice manager.

Order, so that every refusal changes nothing anywhere: the user must be a practice manager;
the register file's audit trail must verify (hashes, signatures, certificates, heads, row
digests); the server practice must be empty (checked inside the import's own transaction).
Then the import (one transaction, store/server/migrate.py), then the check of the server
against the file. Only when that check passes is the file retired: 'moved_to_server' is set
in its settings and the desk refuses every further change to it (H-79), so a practice cannot
go on recording in the file and on the server at once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..domain import roles
from ..domain.errors import ValidationError
from ..store import atomic, exclusion_repo, retired
from ..store.errors import StoreError
from ..store.server import migrate as migrate_store
from ..store.server import connect, ops, schema
from . import backup as backup_service
from . import users as users_service
from .session import Session


@dataclass
class Report:
    counts: dict
    source_entries: int
    source_head_seq: int
    server_entries: int
    practice_id: int
    logins: dict = field(default_factory=dict)  # register-file user name -> server login
    passwords: dict = field(default_factory=dict)  # login -> temporary password (other active users)


def _bad_login(message: str) -> ValidationError:
    """A login the rule cannot give is bad input (exit 2), refused before anything is written."""
    return ValidationError(message, "login")


def plan_logins(users: list[tuple[str, bool]], manager: str, manager_login: str, prefix: str | None,
                explicit: dict[str, str] | None) -> dict[str, str]:
    """Each register-file user's server login, by the documented rule (docs/server-setup.md
    section 11): the migrating manager keeps the login they are connected as; anyone named in
    ``explicit`` gets that login; everyone else gets ``prefix`` + their file name. Refused in
    one sentence, before anything is written, if a login is missing, invalid or repeated."""
    explicit = dict(explicit or {})
    names = [n for n, _active in users]
    unknown = sorted(set(explicit) - set(names))
    if unknown:
        raise _bad_login(f"There is no user called {unknown[0]} in the register file. "
                                             "Nothing was sent to the server.")
    if explicit.get(manager, manager_login) != manager_login:
        raise _bad_login(f"You ({manager}) sign in on the server as {manager_login}, the login "
                                             "you are moving the register with. Nothing was sent to the server.")
    logins = {}
    for name in names:
        if name == manager:
            logins[name] = manager_login
        elif name in explicit:
            logins[name] = explicit[name]
        elif prefix:
            logins[name] = prefix + name
        else:
            raise _bad_login(
                f"{name} needs a login on the server: give --login-prefix (e.g. riverside_) or --login-map "
                f"{name}=LOGIN. Nothing was sent to the server.")
    for name, login in logins.items():
        if not schema.valid_login(login):
            raise _bad_login(
                f"The login {login!r} for {name} is not valid: a login is 3 to 63 lower-case letters, digits or _, "
                "starting with a letter. Nothing was sent to the server.")
    seen: dict[str, str] = {}
    for name, login in logins.items():
        if login in seen:
            raise _bad_login(f"{seen[login]} and {name} would both sign in as {login}. Nothing "
                                                 "was sent to the server.")
        seen[login] = name
    return logins


def _file_signing_seed(session: Session) -> bytes | None:
    """The file's exclusion signing key (under its manager key, which this manager holds): it
    moves to the server so the clinical system's installed public key keeps verifying. None
    when the file never made one (the server's is then made by the migration)."""
    reg = session.register
    if reg.manager_key is None:
        raise migrate_store.MigrationRefused(
            "Your key slot in this register does not hold the manager key, which protects the exclusion file's "
            "signing key: ask the practice manager who holds it to move the register. Nothing was sent to the server.")
    with session.read("backup") as conn:
        return exclusion_repo.signing_key(conn, reg.manager_key, reg.keys.register_id)


def migrate(session: Session, server_conn, unwrap_key: bytes, *, server: str, login_prefix: str | None = None,
            login_map: dict[str, str] | None = None, on_batch=None) -> Report:
    """Move the unlocked register into the empty practice ``server_conn``'s login belongs to.
    ``unwrap_key`` is this manager's (connect.connect_user): it wraps the new practice data
    key into their key slot on the server, so only their desk ever holds the key. Every other
    active user gets a login (plan_logins) and a key slot wrapped under a new temporary
    password (returned in the report for the administrator's add-desk, never stored)."""
    if session.role != roles.MANAGER:
        raise PermissionError("Only a practice manager can move the register to a server. Nothing was changed.")
    session.require("backup")
    with session.read("backup") as conn:
        retired.refuse_if_moved(conn)
    result = session.register.verify_audit()
    if not result.ok:
        raise migrate_store.MigrationRefused(
            f"The register's audit trail does not verify, so it cannot be carried to the server: {result.problem} "
            "Nothing was sent to the server.")
    with session.read("backup") as conn:
        snap = migrate_store.read_source(conn)
    if snap.head.seq != result.head.seq or snap.head.mac != result.head.mac:
        raise migrate_store.MigrationRefused("The register changed while it was being checked; try again. "
                                             "Nothing was sent to the server.")
    manager_login = server_conn.info.user
    logins = plan_logins([(n, bool(a)) for n, _r, a, _at, _by in snap.tables["users"]], session.user, manager_login,
                         login_prefix, login_map)
    taken = sorted(migrate_store.taken_logins(server_conn, logins.values()) - {manager_login})
    server_conn.rollback()  # no transaction left open before the import's own
    if taken:
        raise _bad_login(
            f"A login named {taken[0]} already exists on this server (logins are shared by every practice on it): "
            "choose another with --login-map or --login-prefix. Nothing was sent to the server.")
    data_key = os.urandom(32)
    salt_address = connect.ServerAddress((("dbname", server_conn.info.dbname),))
    passwords, slots = {}, [(manager_login, unwrap_key, data_key)]
    managers = [(manager_login, unwrap_key)]  # who gets the server's manager key (ADR 0015 addendum)
    for name, role, active, _at, _by in snap.tables["users"]:
        if active and name != session.user:
            login = logins[name]
            passwords[login] = users_service.temporary_password()
            slots.append((login, connect.derive_login(salt_address, login, passwords[login])[0], data_key))
            if role == roles.MANAGER:
                managers.append((login, slots[-1][1]))
    desk = ops.Desk.open(server_conn, data_key, user=manager_login, role=session.role)
    signing = migrate_store.Signing(os.urandom(32), _file_signing_seed(session), managers)
    pid_map = migrate_store.import_snapshot(desk, snap, logins=logins, key_slots=slots, on_batch=on_batch,
                                            signing=signing)
    problems = migrate_store.verify_import(desk, snap, pid_map)
    if problems:
        raise StoreError("The register was copied to the server but the copy does not match the file: "
                         f"{problems[0]} Keep using the register file and tell your IT supplier; the server "
                         "practice must be emptied before trying again.")
    with session.write("backup") as ctx:
        retired.mark_moved(ctx.conn, {"server": server, "practice": desk.practice_id,
                                       "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                       "source_head": snap.head.seq})
        ctx.audit("register.moved_to_server", detail=f"practice={desk.practice_id} entries={len(snap.audit)}")
    return Report(snap.counts, len(snap.audit), snap.head.seq, desk.head().seq, desk.practice_id, logins, passwords)


def migrate_backup(backup_file: Path, user: str, password: str | None, server_conn, unwrap_key: bytes, *,
                   server: str, recovery_key: str | None = None, login_prefix: str | None = None,
                   login_map: dict[str, str] | None = None, on_batch=None) -> Report:
    """A practice's encrypted backup (services/backup.py) restored into an empty server
    practice by the same path: the backup is fully checked and opened as its practice
    manager by the ordinary restore, into a private folder of its own that is deleted after
    (its 'moved' mark goes with it), then moved and checked exactly as a register file is."""
    scratch = Path(tempfile.mkdtemp(prefix=".gp-optout-to-server-"))
    try:
        atomic.make_private_dir(scratch)
        session, _change = backup_service.restore(scratch / "register", Path(backup_file), user, password,
                                                  recovery_key)
        try:
            return migrate(session, server_conn, unwrap_key, server=server, login_prefix=login_prefix,
                           login_map=login_map, on_batch=on_batch)
        finally:
            if session.register.is_open:
                session.lock()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
