"""A backup is trusted only when its content passes every check, not merely its hash.

The manifest's content hash is no protection against someone who rewrites the file and
recomputes it (or a tool that does so by accident). Each case below makes a backup whose
recorded hash matches its database but whose content fails one check the verifier makes:
the manifest's format, decryption with the register's key, SQLCipher's page check,
SQLite's structural check, the counts, the audit trail against the audit head, and the row
digests. ``verify_file`` and a restore must both refuse it with a clear message, and a
restore must leave the live register in place. Then: a copy that goes bad between being
written and being checked is not reported as a verified backup.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from gp_optout_desktop.services import audit, backup, objections, patients, session as session_service
from gp_optout_desktop.store import backup as store_backup, database
from gp_optout_desktop.store.errors import RegisterCorrupt, StoreError

PASSWORD = "pm-password-1"


@pytest.fixture
def made(manager, register_dir, add_patient, tmp_path):
    """A register with two patients and an objection, its backup, and its data key."""
    first = add_patient(manager, surname="Alpha")
    add_patient(manager, surname="Beta")
    objections.record(manager, first)
    good = tmp_path / "good.gpob"
    backup.backup(manager, good)
    key = manager.register.data_key
    manager.lock()
    return {"file": good, "key": key, "folder": register_dir, "work": tmp_path}


def _rewrite(src: Path, dst: Path, key: bytes, work: Path, *, spoil_db=None, spoil_manifest=None) -> None:
    """Rewrite a backup: change its database (``spoil_db(path, key)``) and/or its manifest,
    then record the new database's true hash, as a careful forger would."""
    with zipfile.ZipFile(src) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    db = work / "spoil" / database.DB_NAME
    db.parent.mkdir(exist_ok=True)
    for leftover in db.parent.iterdir():
        leftover.unlink()
    db.write_bytes(members[database.DB_NAME])
    if spoil_db is not None:
        spoil_db(db, key)
    content = db.read_bytes()
    manifest = json.loads(members["manifest.json"])
    manifest["db_sha256"] = hashlib.sha256(content).hexdigest()
    if spoil_manifest is not None:
        spoil_manifest(manifest)
    members["manifest.json"] = json.dumps(manifest).encode()
    members[database.DB_NAME] = content
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _sql(*statements):
    """A database spoiler that runs SQL on the decrypted copy (and checkpoints it into the file)."""
    def spoil(path: Path, key: bytes) -> None:
        conn = database.connect(path, key)
        try:
            for statement in statements:
                conn.execute(statement)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode = DELETE")
        finally:
            conn.close()
    return spoil


def _other_key(path: Path, key: bytes) -> None:
    """The same database re-encrypted under a key that is not the register's."""
    conn = database.connect(path, key)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute(f"PRAGMA rekey = \"x'{'5a' * 32}'\"")
    finally:
        conn.close()


def _flip_in_last_page(path: Path, key: bytes) -> None:
    """One byte changed in the last page (table data, not the schema): it still opens."""
    data = bytearray(path.read_bytes())
    data[len(data) - 2000] ^= 0x01
    path.write_bytes(bytes(data))


def _index_rebuilt_on_other_columns(path: Path, key: bytes) -> None:
    """Every page's HMAC is right, but an index no longer matches its table: SQLite's own
    structural check is the one that can see it."""
    conn = database.connect(path, key)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX patients_dob ON patients(postcode_key,"
                     " surname_key, forenames)' WHERE name = 'patients_dob'")
        conn.execute("PRAGMA writable_schema = OFF")
    finally:
        conn.close()


def _bump(field):
    def spoil(manifest):
        manifest["counts"][field] += 1
    return spoil


def _other_head(manifest):
    manifest["audit_head"]["mac"] = "0" * 64


def _unknown_format(manifest):
    manifest["format"] = "gp-optout-backup/999"


# (case id, database spoiler, manifest spoiler, error class, words the user is shown)
CASES = [
    ("manifest-format", None, _unknown_format, StoreError, "not a gp-optout backup"),
    ("does-not-decrypt", _other_key, None, RegisterCorrupt, "does not decrypt with its key"),
    ("page-damaged", _flip_in_last_page, None, RegisterCorrupt, "failed its integrity check"),
    ("index-mismatch", _index_rebuilt_on_other_columns, None, RegisterCorrupt, "failed its integrity check"),
    ("counts-in-manifest", None, _bump("patients"), RegisterCorrupt, "counts .* differ"),
    ("objection-switched-off", _sql("UPDATE current_state SET active = 0"), None, RegisterCorrupt,
     "audit trail does not verify: the current_state table was changed outside the app"),
    ("patient-deleted", _sql("PRAGMA foreign_keys = OFF", "DELETE FROM patients WHERE surname = 'Beta'"), None,
     RegisterCorrupt, "counts .* differ"),
    ("audit-entry-edited", _sql("UPDATE audit SET detail = 'nothing happened' WHERE seq = 3"), None, RegisterCorrupt,
     "audit trail does not verify: entry 3 was changed after it was written"),
    ("audit-head-in-manifest", None, _other_head, RegisterCorrupt,
     "audit trail does not verify: entry \\d+ differs from the one recorded earlier"),
    ("audit-tail-cut", _sql("DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)"), None, RegisterCorrupt, "counts .* differ"),
    ("patient-edited", _sql("UPDATE patients SET surname = 'Gamma' WHERE surname = 'Beta'"), None, RegisterCorrupt,
     "audit trail does not verify: the patients table was changed outside the app"),
]


def _tail_cut_consistent(manifest):
    manifest["counts"]["audit"] -= 1


# The tail cut with its count made consistent too: only the audit head can tell.
CASES.append(("audit-tail-cut-counts-fixed", _sql("DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)"),
              _tail_cut_consistent, RegisterCorrupt, "audit trail does not verify: entries after \\d+ are missing"))


@pytest.mark.parametrize("case, spoil_db, spoil_manifest, error, words", CASES, ids=[c[0] for c in CASES])
def test_a_backup_with_a_consistent_hash_but_bad_content_is_refused_by_verify(made, case, spoil_db, spoil_manifest,
                                                                              error, words):
    bad = made["work"] / f"{case}.gpob"
    _rewrite(made["file"], bad, made["key"], made["work"], spoil_db=spoil_db, spoil_manifest=spoil_manifest)
    assert store_backup.verify_file(made["file"], made["key"])["counts"]["patients"] == 2  # the original is fine
    with pytest.raises(error, match=words):
        store_backup.verify_file(bad, made["key"])


@pytest.mark.parametrize("case, spoil_db, spoil_manifest, error, words", CASES, ids=[c[0] for c in CASES])
def test_a_backup_with_a_consistent_hash_but_bad_content_is_not_restored(made, case, spoil_db, spoil_manifest,
                                                                        error, words):
    bad = made["work"] / f"{case}.gpob"
    _rewrite(made["file"], bad, made["key"], made["work"], spoil_db=spoil_db, spoil_manifest=spoil_manifest)
    folder = made["folder"]
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(error, match=words):
        backup.restore(folder, bad, "pm", PASSWORD)
    assert sorted(p.name for p in folder.iterdir()) == before, "nothing set aside, nothing swapped in"
    session = session_service.unlock(folder, "pm", PASSWORD)
    try:
        assert [len(patients.find(session, name)) for name in ("Alpha", "Beta")] == [1, 1]
        assert audit.verify(session).ok
    finally:
        session.lock()


# ---- the check made while writing a backup -----------------------------------------------

def _no_new_verified_backup(manager, previous):
    assert backup.last_backup(manager) == previous, "the bad backup must not be recorded as the last good one"
    return audit.query(manager, action="register.backup.verified")


def test_a_copy_spoiled_before_its_check_is_not_reported_verified(manager, add_patient, tmp_path, monkeypatch):
    """The copy SQLCipher wrote differs from the register (a disk or driver fault between
    writing and checking): the backup fails, no file is left under its name, and the last
    verified backup stays the previous one."""
    add_patient(manager, surname="Alpha")
    add_patient(manager, surname="Beta")
    backup.backup(manager, tmp_path / "first.gpob")
    previous = backup.last_backup(manager)
    verified_before = len(_no_new_verified_backup(manager, previous))
    real_export = store_backup._export_copy

    def export_then_spoil(conn, data_key, target):
        real_export(conn, data_key, target)
        _sql("UPDATE patients SET surname = 'Gamma' WHERE surname = 'Beta'")(target, data_key)

    monkeypatch.setattr(store_backup, "_export_copy", export_then_spoil)
    with pytest.raises(RegisterCorrupt, match="audit trail does not verify: the patients table was changed"):
        backup.backup(manager, tmp_path / "second.gpob")
    assert not (tmp_path / "second.gpob").exists()
    assert len(_no_new_verified_backup(manager, previous)) == verified_before


def test_a_copy_spoiled_with_a_row_missing_is_not_reported_verified(manager, add_patient, tmp_path, monkeypatch):
    add_patient(manager, surname="Alpha")
    real_export = store_backup._export_copy

    def export_then_drop(conn, data_key, target):
        real_export(conn, data_key, target)
        _sql("DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)")(target, data_key)

    monkeypatch.setattr(store_backup, "_export_copy", export_then_drop)
    with pytest.raises(RegisterCorrupt, match="counts .* differ"):
        backup.backup(manager, tmp_path / "b.gpob")
    assert not (tmp_path / "b.gpob").exists()
    assert backup.last_backup(manager) is None


def test_a_file_spoiled_on_disk_after_writing_is_not_reported_verified(manager, add_patient, tmp_path, monkeypatch):
    """The file that landed on disk is re-read: one whose database no longer has the hash of
    the copy that was checked is reported, not recorded as verified."""
    add_patient(manager, surname="Alpha")
    key = manager.register.data_key
    real_reread = store_backup._reread

    def spoil_then_reread(path):
        with zipfile.ZipFile(path) as zf:
            members = {name: zf.read(name) for name in zf.namelist()}
        db = bytearray(members[database.DB_NAME])
        db[len(db) - 2000] ^= 0x01
        members[database.DB_NAME] = bytes(db)
        with zipfile.ZipFile(path, "w") as zf:  # a well-formed archive: only the hash check can tell
            for name, data in members.items():
                zf.writestr(name, data)
        real_reread(path)

    monkeypatch.setattr(store_backup, "_reread", spoil_then_reread)
    with pytest.raises(RegisterCorrupt, match="content hash does not match"):
        backup.backup(manager, tmp_path / "b.gpob")
    assert backup.last_backup(manager) is None
    assert [r.action for r in audit.query(manager, action="register.backup")] == ["register.backup"]
    assert not (tmp_path / "b.gpob").exists(), "a file that failed its check is not left to pass for a backup"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".gp-optout")] == []
    monkeypatch.setattr(store_backup, "_reread", real_reread)  # the disk is well again
    backup.backup(manager, tmp_path / "c.gpob")
    assert store_backup.verify_file(tmp_path / "c.gpob", key)["counts"]["patients"] == 1
