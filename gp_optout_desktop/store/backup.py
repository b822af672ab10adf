"""Encrypted backups: one file holding an encrypted copy of the register, its key file
and a manifest (content hash, audit head, counts). Verified after writing; a restore
never replaces the live register until the restored copy has passed every check.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from .. import child_task
from . import atomic, database, keyfile, location, meta, seal
from .audit import AuditChain, Head, load_key
from .errors import RegisterCorrupt, StoreError
from ..problem_log import log_problem

log = logging.getLogger(__name__)

FORMAT = "gp-optout-backup/1"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _counts(conn) -> dict:
    return {
        "patients": conn.execute("SELECT count(*) FROM patients").fetchone()[0],
        "events": conn.execute("SELECT count(*) FROM events").fetchone()[0],
        "audit": conn.execute("SELECT count(*) FROM audit").fetchone()[0],
    }


def _export_copy(conn, data_key: bytes, target: Path) -> None:
    """An encrypted copy with the same key, made by SQLCipher itself (never plaintext on disk)."""
    conn.execute("ATTACH DATABASE ? AS backup KEY ?", (str(target), f"x'{data_key.hex()}'"))
    try:
        conn.execute("SELECT sqlcipher_export('backup')")
        version = conn.execute("PRAGMA main.user_version").fetchone()[0]
        conn.execute(f"PRAGMA backup.user_version = {int(version)}")
    finally:
        conn.execute("DETACH DATABASE backup")


def _check_copy(db_path: Path, data_key: bytes, expected: dict | None, head: dict | None) -> dict:
    conn = database.connect(db_path, data_key)
    try:
        database.check_integrity(conn, full=True)
        counts = _counts(conn)
        if expected is not None and counts != expected:
            raise RegisterCorrupt(f"The backup copy's counts {counts} differ from the register's {expected}.")
        verification = AuditChain(load_key(conn)).verify(conn, Head.from_dict(head))
        if not verification.ok:
            raise RegisterCorrupt(f"The backup's audit trail does not verify: {verification.problem}")
        return counts
    finally:
        conn.close()


def write(reading, data_key: bytes, keys: keyfile.KeyFile, out: Path, head_of) -> dict:
    """Write and verify a backup file; returns its manifest. ``reading()`` gives the register's
    connection, held only while SQLCipher copies it (the copy's full check, the archive and
    its fsync come after, so the desk can open a record or save meanwhile: hazard H-56);
    ``head_of(conn)`` is the audit head the copy must carry."""
    out = Path(out)
    if not out.parent.is_dir():
        raise StoreError(f"The backup folder {out.parent} does not exist.")
    with tempfile.TemporaryDirectory(prefix=".gp-optout-backup-", dir=out.parent) as tmp:
        tmp_path = Path(tmp)
        copy = tmp_path / database.DB_NAME
        with reading() as conn:
            head = head_of(conn)
            counts = _counts(conn)
            _export_copy(conn, data_key, copy)
            revision, schema = meta.revision(conn), database.schema_version(conn)
        # The copy's full check in a process of its own in the desktop app (child_task): its
        # audit-chain walk is Python that would hold the GIL against the UI thread (issue 13).
        child_task.run(_check_copy, copy, data_key, counts, head.as_dict() if head else None,
                       what="the backup copy's check")
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "register_id": keys.register_id,
            "revision": revision,
            "schema": schema,
            "counts": counts,
            "audit_head": head.as_dict() if head else None,
            "db_sha256": _sha256(copy),
        }
        archive = tmp_path / "backup.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr("manifest.json", json.dumps(manifest, indent=1))
            zf.write(copy, database.DB_NAME)
            with keys.locked():  # the key file as it is on disk now: another window may have added a user
                current = keyfile.KeyFile.load(keys.path)
            zf.writestr(database.KEYS_NAME, json.dumps(current.data, indent=1, sort_keys=True))
        atomic.secure_file(archive)  # the backup holds the whole key file: owner-only whatever the umask
        with open(archive, "r+b") as fh:  # Windows flushes (FlushFileBuffers) only a writable handle
            os.fsync(fh.fileno())
        os.replace(archive, out)
        atomic.fsync_dir(out.parent)
    try:
        _reread(out)
    except StoreError:
        # What landed on disk is not the copy that was checked: never leave it under a backup's
        # name, where it would later pass for a good one (hazard: a restore from it refuses).
        out.unlink(missing_ok=True)
        atomic.fsync_dir(out.parent)
        raise
    return manifest


def _reread(path: Path) -> None:
    """Re-read what landed on disk: its database must hash to the copy fully checked above
    (the same bytes), so the full check is not run a second time (ADR 0011)."""
    with tempfile.TemporaryDirectory(prefix=".gp-optout-verify-", dir=Path(path).parent) as tmp:
        _unpack(Path(path), Path(tmp))


def _unpack(path: Path, into: Path) -> dict:
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            if manifest.get("format") != FORMAT:
                raise StoreError("This file is not a gp-optout backup, or is from an unknown version.")
            zf.extract(database.DB_NAME, into)
            zf.extract(database.KEYS_NAME, into)
        for name in (database.DB_NAME, database.KEYS_NAME):
            atomic.secure_file(into / name)  # zipfile creates them with the umask's mode
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise RegisterCorrupt(f"The backup file is damaged or incomplete ({exc.__class__.__name__}).") from None
    if _sha256(into / database.DB_NAME) != manifest.get("db_sha256"):
        raise RegisterCorrupt("The backup's content hash does not match: the file is damaged or was altered.")
    return manifest


def verify_file(path: Path, data_key: bytes) -> dict:
    """Every check of a backup file (a restore check): in a process of its own in the desktop app."""
    return child_task.run(_verify_file, Path(path), data_key, what="the backup's check")


def _verify_file(path: Path, data_key: bytes) -> dict:
    with tempfile.TemporaryDirectory(prefix=".gp-optout-verify-", dir=Path(path).parent) as tmp:
        manifest = _unpack(Path(path), Path(tmp))
        _check_copy(Path(tmp) / database.DB_NAME, data_key, manifest["counts"], manifest.get("audit_head"))
    return manifest


def revision_seen(folder: Path) -> int:
    """The highest revision the register in ``folder`` is known to have reached (from its key
    file, readable without unlocking; 0 if there is none or it is unreadable)."""
    path = Path(folder) / database.KEYS_NAME
    if not path.exists():
        return 0
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return int(data.get("revision_seen") or 0)
    except (OSError, ValueError, TypeError, AttributeError) as exc:  # why: an unreadable register may be replaced
        log_problem(log, "The revision the replaced register reached could not be read from its key file; "
                         "the restore is not checked against it", exc)
        return 0


def _facts_of_copy(db_path: Path, data_key: bytes, user: str) -> dict:
    """What a restore must check in the backup itself: the user's role and the practice's ODS code."""
    from . import users

    conn = database.connect(db_path, data_key)
    try:
        return {"role": users.role_of(conn, user), "ods": str(meta.get(conn, "ods", "") or "")}
    finally:
        conn.close()


def _aside_folder(folder: Path) -> Path:
    base = folder / f"before-restore-{datetime.now():%Y%m%d-%H%M%S}"
    aside, n = base, 1
    while aside.exists():  # two restores in one second
        n += 1
        aside = base.with_name(f"{base.name}-{n}")
    aside.mkdir()
    return atomic.make_private_dir(aside)


def restore(path: Path, folder: Path, user: str, unwrap, required_role: str, approve) -> tuple[dict, bytes, Path | None]:
    """Check a backup fully, then swap it in. The live register (if any) is kept aside, not deleted.

    ``unwrap(backup_key_file) -> data key`` opens the backup's own key file (the caller
    throttles and records wrong passwords against the live register, since the backup's copy
    is thrown away); ``approve(backup_ods)`` raises unless this backup may replace the live
    register. Both run before anything in ``folder`` changes.
    Returns (manifest, data key, folder the previous register was moved to)."""
    folder = Path(folder)
    location.check_local(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=folder))
    try:
        manifest = _unpack(Path(path), staging)
        keys = keyfile.KeyFile.load(staging / database.KEYS_NAME)
        data_key = unwrap(keys)
        keys.clear_throttle(user)
        keys.data["failed_unlocks"] = []
        keys.save()
        _check_copy(staging / database.DB_NAME, data_key, manifest["counts"], manifest.get("audit_head"))
        facts = _facts_of_copy(staging / database.DB_NAME, data_key, user)
        if facts["role"] != required_role:
            raise StoreError(f"Only a practice manager named in the backup can restore it; {user} is not one.")
        manifest = {**manifest, "ods": facts["ods"]}
        approve(facts["ods"])
        aside = None
        live_db, live_keys = folder / database.DB_NAME, folder / database.KEYS_NAME
        if live_db.exists() or live_keys.exists():
            aside = _aside_folder(folder)
            for name in (database.DB_NAME, database.DB_NAME + "-wal", database.DB_NAME + "-shm", database.KEYS_NAME,
                         seal.SEAL_NAME):
                if (folder / name).exists():
                    os.replace(folder / name, aside / name)
        os.replace(staging / database.DB_NAME, live_db)
        os.replace(staging / database.KEYS_NAME, live_keys)
        atomic.fsync_dir(folder)
        conn = database.connect(live_db, data_key)
        try:
            seal.reseal(conn, folder)  # the restored register's own counter, not the replaced one's
        finally:
            conn.close()
        return manifest, data_key, aside
    finally:
        shutil.rmtree(staging, ignore_errors=True)
