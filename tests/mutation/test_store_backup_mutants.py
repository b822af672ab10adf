"""What a practice relies on from a backup file and a restore, beyond "it restores": the
manifest says what the file holds, the file and what it unpacks are private, every refusal
says why in words, the register that was replaced is kept aside whole (under a new name
when two restores land in one second), and a restore carries no throttle or stale failed
unlocks over from the backup's key file. Written to close survivors of scripts/run-mutation
over store/backup.py (docs/mutation-testing.md, "store modules")."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from datetime import datetime, timezone

import pytest

from gp_optout_desktop.services import backup as backup_service, objections
from gp_optout_desktop.store import backup as store_backup, database, keyfile, meta, seal
from gp_optout_desktop.store.errors import RegisterCorrupt, StoreError

PM_PASSWORD = "pm-password-1"


def _made(manager, add_patient, tmp_path, name="b.gpob"):
    pid = add_patient(manager, surname="Backedup")
    add_patient(manager, surname="Second")
    objections.record(manager, pid)
    backup_service.backup(manager, tmp_path / name)
    return tmp_path / name


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _rewrite(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_the_manifest_says_what_the_backup_holds(manager, add_patient, tmp_path):
    path = _made(manager, add_patient, tmp_path)
    members = _members(path)
    assert set(members) == {"manifest.json", database.DB_NAME, database.KEYS_NAME}
    manifest = json.loads(members["manifest.json"])
    with manager.register.reading() as conn:
        expected_counts = {
            "patients": conn.execute("SELECT count(*) FROM patients").fetchone()[0],
            "events": conn.execute("SELECT count(*) FROM events").fetchone()[0],
            "audit": conn.execute("SELECT count(*) FROM audit").fetchone()[0],
        }
        revision, schema = meta.revision(conn), database.schema_version(conn)
    assert manifest["counts"]["patients"] == 2 and manifest["counts"]["events"] == 1
    # The backup's own audit row is written after the copy is taken: one fewer than now.
    assert manifest["counts"] == {**expected_counts, "audit": expected_counts["audit"] - 1}
    assert manifest["format"] == store_backup.FORMAT == "gp-optout-backup/1"
    assert manifest["register_id"] == manager.register.keys.register_id
    assert manifest["revision"] == revision and manifest["schema"] == schema
    created = datetime.fromisoformat(manifest["created_at"])
    assert created.tzinfo == timezone.utc and created.microsecond == 0
    assert abs((datetime.now(timezone.utc) - created).total_seconds()) < 600
    head = manifest["audit_head"]
    assert head["seq"] == manifest["counts"]["audit"] and len(head["mac"]) == 64
    import hashlib

    assert manifest["db_sha256"] == hashlib.sha256(members[database.DB_NAME]).hexdigest()
    # The copy is the register as SQLCipher wrote it: encrypted, at the register's schema.
    assert not members[database.DB_NAME].startswith(b"SQLite format 3")
    copy = tmp_path / "copy.db"
    copy.write_bytes(members[database.DB_NAME])
    conn = database.connect(copy, manager.register.data_key)
    try:
        assert database.schema_version(conn) == schema
    finally:
        conn.close()


def test_the_backup_file_and_what_it_unpacks_are_private(manager, add_patient, tmp_path):
    path = _made(manager, add_patient, tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    into = tmp_path / "unpacked"
    into.mkdir()
    old = os.umask(0o022)
    try:
        store_backup._unpack(path, into)
    finally:
        os.umask(old)
    for name in (database.DB_NAME, database.KEYS_NAME):
        assert stat.S_IMODE((into / name).stat().st_mode) == 0o600, name


def test_the_key_file_in_the_backup_is_the_one_on_disk_when_it_was_made(manager, add_patient, tmp_path):
    from gp_optout_desktop.services import users

    stale = keyfile.KeyFile.load(manager.register.keys.path)
    users.add(manager, "desk2", "receptionist", "desk2-password")  # written to the key file on disk
    manager.register.keys.data = stale.data  # this window's copy is older than the file
    path = _made(manager, add_patient, tmp_path)
    in_backup = json.loads(_members(path)[database.KEYS_NAME])
    assert "desk2" in in_backup["users"]


@pytest.mark.parametrize("spoil, words", [
    (lambda m: {**m, "manifest.json": json.dumps({"format": "gp-optout-backup/2"}).encode()},
     "not a gp-optout backup, or is from an unknown version"),
    (lambda m: {k: v for k, v in m.items() if k != database.KEYS_NAME}, r"damaged or incomplete \(KeyError\)"),
    (lambda m: {**m, "manifest.json": b"{not json"}, r"damaged or incomplete \(JSONDecodeError\)"),
])
def test_a_backup_that_is_not_one_is_refused_in_words(manager, add_patient, tmp_path, spoil, words):
    path = _made(manager, add_patient, tmp_path)
    _rewrite(tmp_path / "spoiled.gpob", spoil(_members(path)))
    error = StoreError if "unknown version" in words else RegisterCorrupt
    with pytest.raises(error, match=words):
        store_backup.verify_file(tmp_path / "spoiled.gpob", manager.register.data_key)


def test_a_backup_altered_after_it_was_made_is_refused_in_words(manager, add_patient, tmp_path):
    path = _made(manager, add_patient, tmp_path)
    members = _members(path)
    db = bytearray(members[database.DB_NAME])
    db[-100] ^= 0xFF
    _rewrite(tmp_path / "altered.gpob", {**members, database.DB_NAME: bytes(db)})
    with pytest.raises(RegisterCorrupt) as refused:
        store_backup.verify_file(tmp_path / "altered.gpob", manager.register.data_key)
    assert str(refused.value) == "The backup's content hash does not match: the file is damaged or was altered."


def test_verify_file_returns_the_manifest_and_refuses_a_copy_whose_counts_differ(manager, add_patient, tmp_path):
    path = _made(manager, add_patient, tmp_path)
    manifest = store_backup.verify_file(path, manager.register.data_key)
    assert manifest == json.loads(_members(path)["manifest.json"])
    members = _members(path)
    wrong = json.loads(members["manifest.json"])
    wrong["counts"] = {**wrong["counts"], "events": wrong["counts"]["events"] + 1}
    _rewrite(tmp_path / "counts.gpob", {**members, "manifest.json": json.dumps(wrong).encode()})
    with pytest.raises(RegisterCorrupt, match=r"The backup copy's counts \{.*'events': 1.*\} differ from the "
                                              r"register's \{.*'events': 2.*\}\."):
        store_backup.verify_file(tmp_path / "counts.gpob", manager.register.data_key)


def test_a_backup_whose_audit_head_is_ahead_of_its_trail_is_refused(manager, add_patient, tmp_path):
    path = _made(manager, add_patient, tmp_path)
    members = _members(path)
    manifest = json.loads(members["manifest.json"])
    manifest["audit_head"] = {**manifest["audit_head"], "seq": manifest["audit_head"]["seq"] + 5}
    _rewrite(tmp_path / "head.gpob", {**members, "manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(RegisterCorrupt, match="The backup's audit trail does not verify: entries after"):
        store_backup.verify_file(tmp_path / "head.gpob", manager.register.data_key)


def test_two_restores_in_one_second_keep_both_replaced_registers(tmp_path, monkeypatch):
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 3, 2, 9, 30, 15)

    monkeypatch.setattr(store_backup, "datetime", Frozen)
    folder = tmp_path / "register"
    folder.mkdir()
    first = store_backup._aside_folder(folder)
    second = store_backup._aside_folder(folder)
    third = store_backup._aside_folder(folder)
    assert [p.name for p in (first, second, third)] == [
        "before-restore-20260302-093015", "before-restore-20260302-093015-2", "before-restore-20260302-093015-3"]
    for aside in (first, second, third):
        assert aside.is_dir() and stat.S_IMODE(aside.stat().st_mode) == 0o700


def test_a_restore_keeps_every_file_of_the_replaced_register_aside(manager, register_dir, add_patient, tmp_path):
    path = _made(manager, add_patient, tmp_path)
    manager.lock()
    (register_dir / (database.DB_NAME + "-wal")).write_bytes(b"")
    (register_dir / (database.DB_NAME + "-shm")).write_bytes(b"")
    names = {database.DB_NAME, database.DB_NAME + "-wal", database.DB_NAME + "-shm", database.KEYS_NAME,
             seal.SEAL_NAME}
    session, _change = backup_service.restore(register_dir, path, "pm", PM_PASSWORD)
    try:
        (aside,) = [p for p in register_dir.iterdir() if p.name.startswith("before-restore-")]
        kept = {p.name for p in aside.iterdir()}
        assert {database.DB_NAME, database.KEYS_NAME, seal.SEAL_NAME} <= kept <= names
        assert keyfile.KeyFile.load(aside / database.KEYS_NAME).register_id == session.register.keys.register_id
        # The restored register has its own seal, matching its own commits (not the replaced one's).
        assert (register_dir / seal.SEAL_NAME).read_bytes() != (aside / seal.SEAL_NAME).read_bytes()
    finally:
        session.lock()


def test_a_restore_carries_no_throttle_from_the_backups_key_file(manager, add_patient, tmp_path):
    # Wrong passwords for pm recorded in the key file before the backup is made travel inside it.
    keys = manager.register.keys
    for _ in range(keyfile.FREE_FAILURES + 1):
        keys.record_failure("pm")
    assert keys.retry_at("pm") is not None
    path = _made(manager, add_patient, tmp_path)
    assert json.loads(_members(path)[database.KEYS_NAME])["throttle"]
    target = tmp_path / "new" / "restored"  # neither exists yet: a restore onto a new computer's empty disk
    store_backup.restore(path, target, "pm", lambda k: k.try_unwrap("pm", PM_PASSWORD), "manager", lambda ods: None)
    restored = keyfile.KeyFile.load(target / database.KEYS_NAME)
    assert restored.retry_at("pm") is None and restored.data["failed_unlocks"] == []
    assert not any(p.name.startswith(".restore-") for p in target.iterdir())  # the staging folder is gone


def test_a_restore_names_the_user_who_is_not_a_manager_in_the_backup(manager, register_dir, add_patient, tmp_path):
    path = _made(manager, add_patient, tmp_path)

    def unwrap(keys):
        return keys.try_unwrap("pm", PM_PASSWORD)

    with pytest.raises(StoreError, match="^Only a practice manager named in the backup can restore it; nobody "
                                         "is not one.$"):
        store_backup.restore(path, tmp_path / "elsewhere", "nobody", unwrap, "manager", lambda ods: None)
    facts_seen = []
    manifest, data_key, aside = store_backup.restore(path, tmp_path / "elsewhere", "pm", unwrap, "manager",
                                                     facts_seen.append)
    assert facts_seen == ["F84003"] and manifest["ods"] == "F84003" and aside is None
    assert data_key == manager.register.data_key


def test_a_register_upgraded_from_before_signed_audit_backs_up_and_verifies(tmp_path):
    """Its first entries are chained by the old HMAC key kept in the register: the backup's
    check must verify them with that key (tests/fixtures/register-v3, made by an earlier release)."""
    import shutil
    from pathlib import Path

    from gp_optout_desktop.services import session as session_service

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "register-v3"
    folder = tmp_path / "register"
    shutil.copytree(fixture, folder)
    session = session_service.unlock(folder, "manager", "manager-demo-pass")  # upgrades it (schema 4 and on)
    try:
        with session.register.reading() as conn:
            unsigned = conn.execute("SELECT count(*) FROM audit WHERE signer = ''").fetchone()[0]
        assert unsigned > 0  # the old entries are still there, HMAC-chained
        backup_service.backup(session, tmp_path / "old.gpob")
        manifest = store_backup.verify_file(tmp_path / "old.gpob", session.register.data_key)
        assert manifest["counts"]["patients"] == 200
    finally:
        session.lock()


def test_backup_verify_and_restore_never_unpack_into_the_system_temp_folder(manager, add_patient, tmp_path,
                                                                             monkeypatch):
    """The copy and its key file are unpacked beside the backup or inside the register's folder
    (same disk, so the swap is a rename; never the system temp folder, which may be another
    disk or shared): with no system temp folder at all, all three still work."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-system-temp"))
    path = _made(manager, add_patient, tmp_path)
    assert store_backup.verify_file(path, manager.register.data_key)["counts"]["patients"] == 2
    target = tmp_path / "restored"
    manifest, data_key, aside = store_backup.restore(
        path, target, "pm", lambda k: k.try_unwrap("pm", PM_PASSWORD), "manager", lambda ods: None)
    assert data_key == manager.register.data_key and aside is None and manifest["counts"]["patients"] == 2
    assert not (tmp_path / "no-system-temp").exists()


@pytest.mark.parametrize("left", [database.DB_NAME, database.KEYS_NAME])
def test_a_half_present_register_is_kept_aside_not_overwritten(manager, add_patient, tmp_path, left):
    """A register folder holding only its database or only its key file (one lost or moved by
    hand) is still a register someone may need: a restore moves what is there aside."""
    path = _made(manager, add_patient, tmp_path)
    target = tmp_path / "half"
    target.mkdir()
    (target / left).write_bytes(b"the only copy of something")
    _manifest, _key, aside = store_backup.restore(
        path, target, "pm", lambda k: k.try_unwrap("pm", PM_PASSWORD), "manager", lambda ods: None)
    assert aside is not None and aside.parent == target
    assert (aside / left).read_bytes() == b"the only copy of something"
    assert (target / left).read_bytes() != b"the only copy of something"


def test_the_replaced_registers_journal_files_go_aside_with_it(manager, register_dir, add_patient, tmp_path):
    """The replaced register's -wal and -shm belong to it: left beside the restored database
    they would be its journal. A restore moves them aside byte for byte."""
    path = _made(manager, add_patient, tmp_path)
    manager.lock()
    wal, shm = register_dir / (database.DB_NAME + "-wal"), register_dir / (database.DB_NAME + "-shm")
    wal.write_bytes(b"old journal " * 10)
    shm.write_bytes(b"old index " * 10)
    _manifest, _key, aside = store_backup.restore(
        path, register_dir, "pm", lambda k: k.try_unwrap("pm", PM_PASSWORD), "manager", lambda ods: None)
    assert (aside / wal.name).read_bytes() == b"old journal " * 10
    assert (aside / shm.name).read_bytes() == b"old index " * 10
    for journal in (wal, shm):
        assert not journal.exists() or journal.read_bytes()[:12] not in (b"old journal ", b"old index ol")


def test_the_backup_carries_the_key_file_byte_for_byte(manager, add_patient, tmp_path):
    """A restore puts back the key file exactly as it was on disk when the backup was made."""
    add_patient(manager, surname="Keyed")
    reg = manager.register
    before = reg.keys.path.read_bytes()
    store_backup.write(reg.reading, reg.data_key, reg.keys, tmp_path / "b.gpob", reg.audit.head)
    assert _members(tmp_path / "b.gpob")[database.KEYS_NAME] == before == reg.keys.path.read_bytes()


def test_a_backup_into_a_missing_folder_is_refused_and_creates_nothing(manager, tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(StoreError) as refused:
        backup_service.backup(manager, missing / "b.gpob")
    assert str(refused.value) == f"The backup folder {missing} does not exist."
    assert not missing.exists()


def test_a_backup_whose_copy_lacks_the_audit_head_it_must_carry_is_refused_and_left_nowhere(
        manager, add_patient, tmp_path):
    """``head_of`` names the audit entry the copy must end with (the head known outside the
    register): a copy whose trail stops short of it is refused, and no file is left behind."""
    from gp_optout_desktop.store.audit import Head

    add_patient(manager, surname="Ahead")
    reg = manager.register

    def head_ahead(conn):
        head = reg.audit.head(conn)
        return Head(head.seq + 3, head.mac)

    folder = tmp_path / "backups"
    folder.mkdir()
    with pytest.raises(RegisterCorrupt, match="^The backup's audit trail does not verify: entries after"):
        store_backup.write(reg.reading, reg.data_key, reg.keys, folder / "b.gpob", head_ahead)
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("spoil, words", [
    (lambda m: {**m, "counts": {**m["counts"], "patients": m["counts"]["patients"] + 1}},
     r"^The backup copy's counts \{.*\} differ from the register's \{.*\}\.$"),
    (lambda m: {**m, "audit_head": {**m["audit_head"], "seq": m["audit_head"]["seq"] + 2}},
     "^The backup's audit trail does not verify: entries after"),
])
def test_a_restore_refuses_a_backup_whose_manifest_the_copy_does_not_match(
        manager, register_dir, add_patient, tmp_path, spoil, words):
    """Counts or audit head in the manifest that the copy does not match: the restore refuses
    in words and the live register's folder is left exactly as it was."""
    path = _made(manager, add_patient, tmp_path)
    members = _members(path)
    manifest = spoil(json.loads(members["manifest.json"]))
    _rewrite(tmp_path / "spoiled.gpob", {**members, "manifest.json": json.dumps(manifest).encode()})
    manager.lock()
    before = {p.name: p.read_bytes() for p in register_dir.iterdir() if p.is_file()}
    with pytest.raises(RegisterCorrupt, match=words):
        store_backup.restore(tmp_path / "spoiled.gpob", register_dir, "pm",
                             lambda k: k.try_unwrap("pm", PM_PASSWORD), "manager", lambda ods: None)
    assert {p.name: p.read_bytes() for p in register_dir.iterdir()} == before  # no aside, no staging left


def test_a_file_that_is_not_a_backup_is_refused_with_the_whole_sentence(manager, add_patient, tmp_path):
    """The refusal a practice sees when it picks the wrong file (or one from a newer release)
    is shown as is: the exact sentence, not a fragment of it."""
    path = _made(manager, add_patient, tmp_path)
    members = _members(path)
    _rewrite(tmp_path / "other.gpob", {**members, "manifest.json": json.dumps({"format": "other/1"}).encode()})
    with pytest.raises(StoreError) as refused:
        store_backup.verify_file(tmp_path / "other.gpob", manager.register.data_key)
    assert str(refused.value) == "This file is not a gp-optout backup, or is from an unknown version."


def test_backup_verify_and_restore_work_only_in_hidden_scratch_folders(manager, add_patient, tmp_path, monkeypatch):
    """A backup, its re-read, a check and a restore each work in a scratch folder inside the
    practice's backup folder or its register folder (same disk). If the app is stopped halfway
    (a power cut), that folder is left there: it must be a hidden (dot) folder, never one a
    user would take for a backup or a register and copy, open or back up."""
    from pathlib import Path

    add_patient(manager, surname="Hidden")
    reg = manager.register
    folder, target = tmp_path / "backups", tmp_path / "restored"
    folder.mkdir()
    seen: list[Path] = []
    real_unpack = store_backup._unpack

    def unpacking(path, into):  # the re-read, the check and the restore unpack here
        seen.append(Path(into))
        return real_unpack(path, into)

    def head_of(conn):  # called while the backup's own scratch folder exists
        seen.extend(folder.iterdir())
        return reg.audit.head(conn)

    monkeypatch.setattr(store_backup, "_unpack", unpacking)
    store_backup.write(reg.reading, reg.data_key, reg.keys, folder / "b.gpob", head_of)
    store_backup.verify_file(folder / "b.gpob", reg.data_key)
    store_backup.restore(folder / "b.gpob", target, "pm", lambda k: k.try_unwrap("pm", PM_PASSWORD), "manager",
                         lambda ods: None)
    assert [p.parent for p in seen] == [folder, folder, folder, target]  # write, re-read, check, restore
    assert all(p.name.startswith(".") for p in seen), [p.name for p in seen]
    assert [p.name for p in folder.iterdir()] == ["b.gpob"]  # and none is left after a finished run
    assert not [p for p in target.iterdir() if p.name.startswith(".")]


def test_a_check_of_a_backup_whose_process_is_killed_names_the_backups_check(manager, add_patient, tmp_path, apart):
    """In the desktop app a backup's check runs in a process of its own: if that process is
    killed (out of memory, ended by hand), the refusal names which check stopped."""
    from gp_optout_desktop import child_task

    path = _made(manager, add_patient, tmp_path)
    outcome = apart.killed_during(lambda: store_backup.verify_file(path, manager.register.data_key))
    error = outcome.get("error")
    assert isinstance(error, child_task.ChildTaskFailed), outcome
    assert str(error).startswith("The backup's check stopped before it finished (its process ended")
