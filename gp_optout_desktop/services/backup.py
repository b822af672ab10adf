"""Back up and restore the register (practice managers only)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..domain import roles
from ..domain.errors import ValidationError
from ..store import backup as store_backup, database, keyfile, keyschema, meta
from ..store import register as register_store
from ..store.errors import StoreError, Throttled, WrongPassword
from . import session as session_service
from .changes import ChangeSet
from .session import Session, _start
from ..problem_log import log_problem

log = logging.getLogger(__name__)


def backup(session: Session, out: Path) -> ChangeSet:
    session.require("backup")
    reg = session.register
    with session.write("backup", changes_register=False) as ctx:
        # The audit row goes in first, so the backup carries the record of its own making.
        ctx.audit("register.backup", detail=f"file={Path(out).name}")
    manifest = store_backup.write(reg.reading, reg.data_key, reg.keys, Path(out), reg.audit.head)
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


class ConfirmationNeeded(ValidationError):
    """A restore that may go ahead only when the user confirms: ``kind`` is 'unreadable' (the
    live register cannot be read) or 'ods' (the backup is of another practice; confirm by
    typing ``ods``)."""

    def __init__(self, message: str, kind: str, ods: str = ""):
        super().__init__(message, "confirm")
        self.kind = kind
        self.ods = ods


@dataclass
class _Live:
    state: str  # 'readable', 'unreadable' or 'absent'
    ods: str = ""
    reason: str = ""


ATTEMPTS_NAME = keyschema.ATTEMPTS_NAME


def _check_live(folder: Path, user: str, password: str | None, recovery_key: str | None) -> _Live:
    """Prove the right to replace the live register: its practice manager's password or its
    recovery key, checked, throttled and audited by the live register's own unlock."""
    if not register_store.exists(folder):
        return _Live("absent")
    try:
        if recovery_key is not None:
            live = session_service.unlock_with_recovery(folder, user, recovery_key)
        else:
            live = session_service.unlock(folder, user, password or "")
    except (WrongPassword, Throttled):
        raise
    except StoreError as exc:
        return _Live("unreadable", reason=str(exc))
    try:
        live.require("restore")  # a refusal is audited in the live register
        ods = live.practice()["ods"]
        with live.write("restore", changes_register=False) as ctx:
            ctx.audit("register.restore.requested")
    finally:
        live.lock()
    return _Live("readable", ods=ods)


def _attempts(folder: Path) -> keyfile.KeyFile:
    """Where wrong passwords against a backup are counted: the live key file (its failed
    unlocks are audited), or, when there is none that loads, a small file of the same shape."""
    try:
        return keyfile.KeyFile.load(folder / database.KEYS_NAME)
    except StoreError:
        path = folder / ATTEMPTS_NAME
        try:
            return keyfile.KeyFile.load(path)
        except StoreError:
            folder.mkdir(parents=True, exist_ok=True)
            attempts = keyfile.KeyFile.create(path, keyschema.ATTEMPTS_ID)
            attempts.save()
            return attempts


def _carried_failures(aside: Path | None, folder: Path) -> list[dict]:
    """Failed unlocks recorded against the register that was replaced (including wrong
    passwords tried against this backup): they go into the restored register's audit."""
    sources = [aside / database.KEYS_NAME] if aside else []
    sources.append(folder / ATTEMPTS_NAME)
    failures: list[dict] = []
    for path in sources:
        if not path.exists():
            continue  # no register was replaced, or no wrong password was tried against the backup
        try:
            failures += keyfile.KeyFile.load(path).data.get("failed_unlocks") or []
        except StoreError as exc:  # why: the restore goes ahead; the replaced files are kept aside for inspection
            log_problem(log, "Failed unlocks could not be carried into the restored register's audit "
                             "(their file is damaged)", exc)
    (folder / ATTEMPTS_NAME).unlink(missing_ok=True)
    return failures


def restore(folder: Path, backup_file: Path, user: str, password: str | None = None,
            recovery_key: str | None = None, *, backup_password: str | None = None,
            backup_recovery_key: str | None = None, replace_unreadable: bool = False,
            confirm_ods: str | None = None) -> tuple[Session, ChangeSet]:
    """Restore from a backup file.

    Needs the live register's practice-manager password (``password``) or its recovery key;
    when the live register cannot be read, says so and needs ``replace_unreadable``. The
    backup is opened with ``backup_password`` / ``backup_recovery_key`` (default: the same
    credentials), as a practice manager named in it; wrong ones are throttled and audited
    like an unlock. A backup of another practice needs ``confirm_ods`` = its ODS code.
    The revision carries on above the highest one the replaced register reached: the
    clinical system refuses an exclusion file whose revision goes backwards."""
    folder = Path(folder)
    if not user or not user.strip():
        raise ValidationError("Enter your user name.", "user")
    live = _check_live(folder, user, password, recovery_key)
    if live.state == "unreadable" and not replace_unreadable:
        raise ConfirmationNeeded(
            f"The register here cannot be read, so your right to replace it cannot be checked against it: "
            f"{live.reason} Restoring puts the backup in its place (the current files are kept aside, not "
            "deleted). Confirm to go ahead; the backup's own password is needed.", "unreadable")
    previous_revision = store_backup.revision_seen(folder)
    if backup_password is None and backup_recovery_key is None:
        backup_password, backup_recovery_key = password, recovery_key
    attempts = _attempts(folder)
    attempt_name = f"{keyfile.RECOVERY_USER if backup_recovery_key is not None else user} (backup)"

    def unwrap(backup_keys: keyfile.KeyFile) -> bytes:
        attempts.check_throttle(attempt_name)
        if backup_recovery_key is not None:
            key = backup_keys.try_unwrap(keyfile.RECOVERY_USER, keyfile.normalise_recovery(backup_recovery_key))
        else:
            key = backup_keys.try_unwrap(user, backup_password or "")
        if key is None:
            attempts.record_failure(attempt_name)
            raise WrongPassword("That password does not open this backup. Use your password as it was when the "
                                "backup was made.")
        attempts.update(lambda fresh: fresh.clear_throttle(attempt_name))
        return key

    def approve(backup_ods: str) -> None:
        if live.state == "readable" and backup_ods != live.ods:
            if (confirm_ods or "").strip().upper() != backup_ods:
                raise ConfirmationNeeded(
                    f"This backup is of another practice (ODS code {backup_ods}); this register is practice "
                    f"{live.ods}. Nothing was changed. To replace it anyway, confirm by typing {backup_ods}.",
                    "ods", backup_ods)

    manifest, _key, aside = store_backup.restore(Path(backup_file), folder, user, unwrap, roles.MANAGER, approve)
    failures = _carried_failures(aside, folder)
    reg, more = register_store.unlock(folder, user, backup_password, recovery_key=backup_recovery_key)
    session = _start(reg, user, failures + more, "restore")
    session.require("restore")
    how = {"readable": "live register's credentials checked", "absent": "no register was here",
           "unreadable": "live register unreadable, replacement confirmed"}[live.state]
    if live.state == "readable" and manifest["ods"] != live.ods:
        how += f"; another practice's backup confirmed (ODS {manifest['ods']}, was {live.ods})"
    with session.write("restore") as ctx:
        if meta.revision(ctx.conn) < previous_revision:
            meta.put(ctx.conn, "revision", previous_revision)
        ctx.audit("register.restore", detail=f"backup_created={manifest['created_at']}; {how}")
    reg.remember_audit_head()
    where = f" The previous register was kept in {aside}." if aside else ""
    return session, ChangeSet(f"Restored the backup made {manifest['created_at']}.{where}", ctx.revision,
                              areas=frozenset({"patients", "letters", "users", "policy"}), data=manifest)
