"""Back up and restore the register (practice managers only)."""

from __future__ import annotations

from pathlib import Path

from ..domain import roles
from ..store import backup as store_backup, meta
from ..store import register as register_store
from .changes import ChangeSet
from .session import Session, _start


def backup(session: Session, out: Path) -> ChangeSet:
    session.require("backup")
    reg = session.register
    with session.write("backup", changes_register=False) as ctx:
        # The audit row goes in first, so the backup carries the record of its own making.
        ctx.audit("register.backup", detail=f"file={Path(out).name}")
    with reg.reading() as conn:
        head = reg.audit.head(conn)
        manifest = store_backup.write(conn, reg.data_key, reg.keys, Path(out), head)
    with session.write("backup", changes_register=False) as ctx:
        meta.put(ctx.conn, "last_backup", {"at": manifest["created_at"], "file": str(out), "verified": True,
                                           "db_sha256": manifest["db_sha256"]})
        ctx.audit("register.backup.verified", detail=f"sha256={manifest['db_sha256'][:16]}")
    reg.remember_audit_head()
    return ChangeSet(f"Backup written and verified: {Path(out).name} ({manifest['counts']['patients']} patients).",
                     ctx.revision, areas=frozenset({"backup"}), data=manifest)


def last_backup(session: Session) -> dict | None:
    with session.read("backup") as conn:
        return meta.get(conn, "last_backup")


def restore(folder: Path, backup_file: Path, user: str, password: str | None = None,
            recovery_key: str | None = None) -> tuple[Session, ChangeSet]:
    """Restore from a backup file as a practice manager named in that backup.

    The revision carries on above the highest one the replaced register reached: the
    clinical system refuses an exclusion file whose revision goes backwards."""
    previous_revision = store_backup.revision_seen(Path(folder))
    manifest, _key, aside = store_backup.restore(Path(backup_file), Path(folder), user, password, recovery_key,
                                                        roles.MANAGER)
    reg, failures = register_store.unlock(Path(folder), user, password, recovery_key=recovery_key)
    session = _start(reg, user, failures, "restore")
    session.require("restore")
    with session.write("restore") as ctx:
        if meta.revision(ctx.conn) < previous_revision:
            meta.put(ctx.conn, "revision", previous_revision)
        ctx.audit("register.restore", detail=f"backup_created={manifest['created_at']}")
    reg.remember_audit_head()
    where = f" The previous register was kept in {aside}." if aside else ""
    return session, ChangeSet(f"Restored the backup made {manifest['created_at']}.{where}", ctx.revision,
                              areas=frozenset({"patients", "letters", "users", "policy"}), data=manifest)
