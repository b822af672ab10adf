import zipfile

import pytest

from gp_optout_desktop.services import backup, patients, session as session_service
from gp_optout_desktop.store.errors import RegisterCorrupt, StoreError


def test_backup_is_verified_and_restores_what_was_there(manager, register_dir, add_patient, tmp_path):
    pid = add_patient(manager, surname="Before")
    change = backup.backup(manager, tmp_path / "b1.gpob")
    assert change.data["counts"]["patients"] == 1 and backup.last_backup(manager)["verified"]
    add_patient(manager, surname="After")
    manager.lock()
    session, restored = backup.restore(register_dir, tmp_path / "b1.gpob", "pm", "pm-password-1")
    assert [r.name for r in patients.find(session, "after")] == []
    assert patients.view(session, pid).patient.surname == "Before"
    kept = [p for p in register_dir.iterdir() if p.name.startswith("before-restore-")]
    assert kept and (kept[0] / "register.db").exists(), "the replaced register is kept, not deleted"
    from gp_optout_desktop.services import audit

    assert audit.verify(session).ok
    session.lock()


def test_a_damaged_backup_is_refused_and_the_live_register_is_untouched(manager, register_dir, add_patient, tmp_path):
    add_patient(manager)
    backup.backup(manager, tmp_path / "b1.gpob")
    manager.lock()
    live = (register_dir / "register.db").read_bytes()
    # Rewrite the archive with one byte of the database flipped.
    with zipfile.ZipFile(tmp_path / "b1.gpob") as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    db = bytearray(members["register.db"])
    db[5000] ^= 1
    members["register.db"] = bytes(db)
    with zipfile.ZipFile(tmp_path / "bad.gpob", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(RegisterCorrupt, match="hash"):
        backup.restore(register_dir, tmp_path / "bad.gpob", "pm", "pm-password-1")
    (tmp_path / "trunc.gpob").write_bytes((tmp_path / "b1.gpob").read_bytes()[:2000])
    with pytest.raises(RegisterCorrupt):
        backup.restore(register_dir, tmp_path / "trunc.gpob", "pm", "pm-password-1")
    # Not replaced: the live register only gained the audit rows of the attempts.
    assert not list(register_dir.glob("before-restore-*")) and len((register_dir / "register.db").read_bytes()) >= len(live)
    session = session_service.unlock(register_dir, "pm", "pm-password-1")
    assert len(patients.find(session, "Testperson")) == 1
    session.lock()


def test_backup_to_a_missing_folder_fails_cleanly(manager, tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        backup.backup(manager, tmp_path / "no-such-folder" / "b.gpob")


def test_only_a_manager_may_restore(manager, register_dir, tmp_path):
    from gp_optout_desktop.services import users

    users.add(manager, "desk1", "receptionist", "desk1-password")
    backup.backup(manager, tmp_path / "b.gpob")
    manager.lock()
    with pytest.raises(PermissionError, match="may not restore"):  # the live register refuses (and audits) first
        backup.restore(register_dir, tmp_path / "b.gpob", "desk1", "desk1-password")
    (register_dir / "register.keys").unlink()  # the live register unreadable: the backup's own roles still apply
    with pytest.raises(StoreError, match="practice manager"):
        backup.restore(register_dir, tmp_path / "b.gpob", "desk1", "desk1-password", replace_unreadable=True)


def test_restore_never_takes_the_revision_backwards(manager, register_dir, add_patient, tmp_path):
    """The clinical system refuses an exclusion file with an older revision than it has seen."""
    backup.backup(manager, tmp_path / "old.gpob")
    for i in range(5):
        add_patient(manager, surname=f"Later{i}")
    reached = manager.revision()
    manager.lock()
    session, _ = backup.restore(register_dir, tmp_path / "old.gpob", "pm", "pm-password-1")
    assert session.revision() > reached
    session.lock()


def test_the_practice_letter_wording_travels_with_the_backup(manager, register_dir, tmp_path):
    from gp_optout_desktop.letters.templates import load_template
    from gp_optout_desktop.services import templates

    installed = load_template("objection").source
    templates.save_template(manager, "objection", installed.replace("Dear {salutation},", "Hello {salutation},"))
    backup.backup(manager, tmp_path / "b.gpob")
    templates.use_installed(manager, "objection")  # changed after the backup
    manager.lock()
    session, _ = backup.restore(register_dir, tmp_path / "b.gpob", "pm", "pm-password-1")
    try:
        restored = templates.current(session, "objection")
        assert restored.own and "Hello {salutation}," in restored.template.source
    finally:
        session.lock()
