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
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..domain import roles
from ..store import atomic, retired
from ..store.errors import StoreError
from ..store.server import migrate as migrate_store
from ..store.server import ops
from . import backup as backup_service
from .session import Session


@dataclass
class Report:
    counts: dict
    source_entries: int
    source_head_seq: int
    server_entries: int
    practice_id: int


def migrate(session: Session, server_conn, unwrap_key: bytes, *, server: str, on_batch=None) -> Report:
    """Move the unlocked register into the empty practice ``server_conn``'s login belongs to.
    ``unwrap_key`` is this manager's (connect.connect_user): it wraps the new practice data
    key into their key slot on the server, so only their desk ever holds the key."""
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
    data_key = os.urandom(32)
    desk = ops.Desk.open(server_conn, data_key, user=session.user, role=session.role)
    pid_map = migrate_store.import_snapshot(desk, snap, key_slot=(session.user, unwrap_key, data_key),
                                            on_batch=on_batch)
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
    return Report(snap.counts, len(snap.audit), snap.head.seq, desk.head().seq, desk.practice_id)


def migrate_backup(backup_file: Path, user: str, password: str | None, server_conn, unwrap_key: bytes, *,
                   server: str, recovery_key: str | None = None, on_batch=None) -> Report:
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
            return migrate(session, server_conn, unwrap_key, server=server, on_batch=on_batch)
        finally:
            if session.register.is_open:
                session.lock()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
