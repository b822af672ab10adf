"""A restore needs the live register's credentials, refuses another practice's backup unless
its ODS code is typed, and throttles and audits wrong passwords against a backup
(issue 11, finding 5: 'restore --from' another practice's backup replaced the live register
using only the backup's own password)."""

from __future__ import annotations

import pytest

from gp_optout_desktop.services import audit, backup, patients, session as session_service, setup
from gp_optout_desktop.services.backup import ConfirmationNeeded
from gp_optout_desktop.store.errors import RegisterBehind, Throttled, WrongPassword


@pytest.fixture
def other_practice_backup(tmp_path, add_patient):
    """A backup of another practice's register (ODS B82005), whose manager is also called 'pm'."""
    practice = setup.practice_details(name="Other Surgery", address=["9 Far Road"], phone="01632 960009",
                                      email="other@example.invalid")
    other, _ = setup.create_register(tmp_path / "other", ods="B82005", practice=practice, user="pm",
                                     password="other-password-1")
    add_patient(other, surname="Otherpractice")
    backup.backup(other, tmp_path / "other.gpob")
    other.lock()
    return tmp_path / "other.gpob"


def _surnames(folder, user="pm", password="pm-password-1"):
    session = session_service.unlock(folder, user, password)
    try:
        return {name for name in ("Ours", "Otherpractice") if patients.find(session, name)}
    finally:
        session.lock()


def test_another_practices_backup_with_only_its_own_password_is_refused(manager, register_dir, add_patient,
                                                                         other_practice_backup):
    add_patient(manager, surname="Ours")
    manager.lock()
    with pytest.raises(WrongPassword):  # the backup's password is not this register's
        backup.restore(register_dir, other_practice_backup, "pm", "other-password-1")
    with pytest.raises(ConfirmationNeeded, match="another practice.*B82005") as asked:
        backup.restore(register_dir, other_practice_backup, "pm", "pm-password-1", backup_password="other-password-1")
    assert asked.value.kind == "ods" and asked.value.ods == "B82005"
    with pytest.raises(ConfirmationNeeded):
        backup.restore(register_dir, other_practice_backup, "pm", "pm-password-1", backup_password="other-password-1",
                       confirm_ods="F84003")
    assert _surnames(register_dir) == {"Ours"}, "nothing was replaced"
    session, change = backup.restore(register_dir, other_practice_backup, "pm", "pm-password-1",
                                     backup_password="other-password-1", confirm_ods=" b82005 ")
    try:
        rows = audit.query(session, action="register.restore")
        assert any("another practice's backup confirmed (ODS B82005, was F84003)" in r.detail for r in rows)
        assert change.data["ods"] == "B82005"
    finally:
        session.lock()
    assert _surnames(register_dir, password="other-password-1") == {"Otherpractice"}


def test_wrong_passwords_against_a_backup_are_throttled_and_audited(manager, register_dir, tmp_path):
    backup.backup(manager, tmp_path / "b.gpob")
    manager.lock()
    for _ in range(5):
        with pytest.raises(WrongPassword, match="does not open this backup"):
            backup.restore(register_dir, tmp_path / "b.gpob", "pm", "pm-password-1", backup_password="guess")
    with pytest.raises(Throttled):  # the sixth try waits, even with the right password
        backup.restore(register_dir, tmp_path / "b.gpob", "pm", "pm-password-1", backup_password="pm-password-1")
    session = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        failed = [r for r in audit.query(session, action="login") if r.outcome == "failed"]
        assert [r.user for r in failed].count("pm (backup)") >= 5
        assert not list(register_dir.glob("before-restore-*"))
    finally:
        session.lock()


def test_the_live_registers_recovery_key_also_proves_the_right(register_dir, tmp_path):
    practice = setup.practice_details(name="Test Surgery", address=["1 Test Road"], phone="01632 960001",
                                      email="s@example.invalid")
    session, recovery = setup.create_register(register_dir, ods="F84003", practice=practice, user="pm",
                                              password="pm-password-1")
    backup.backup(session, tmp_path / "b.gpob")
    session.lock()
    with pytest.raises(WrongPassword):
        backup.restore(register_dir, tmp_path / "b.gpob", "pm", recovery_key="AAAA-BBBB")
    restored, _ = backup.restore(register_dir, tmp_path / "b.gpob", "pm", recovery_key=recovery)
    restored.lock()


def test_an_unreadable_live_register_is_named_and_needs_confirmation(manager, register_dir, add_patient, tmp_path):
    """The way out of a register refused for lost changes: restore the latest backup."""
    add_patient(manager, surname="Ours")
    backup.backup(manager, tmp_path / "b.gpob")
    manager.lock()
    (register_dir / "register.seal").unlink()
    with pytest.raises(RegisterBehind):
        session_service.unlock(register_dir, "pm", "pm-password-1")
    with pytest.raises(ConfirmationNeeded, match="cannot be read.*seal") as asked:
        backup.restore(register_dir, tmp_path / "b.gpob", "pm", "pm-password-1")
    assert asked.value.kind == "unreadable"
    with pytest.raises(WrongPassword):  # the confirmation does not replace the credentials
        backup.restore(register_dir, tmp_path / "b.gpob", "pm", "wrong", replace_unreadable=True)
    with pytest.raises(WrongPassword, match="backup"):
        backup.restore(register_dir, tmp_path / "b.gpob", "pm", "pm-password-1", backup_password="wrong",
                       replace_unreadable=True)
    session, _ = backup.restore(register_dir, tmp_path / "b.gpob", "pm", "pm-password-1", replace_unreadable=True)
    try:
        rows = audit.query(session, action="register.restore")
        assert any("live register unreadable, replacement confirmed" in r.detail for r in rows)
        failed = {r.user for r in audit.query(session, action="login") if r.outcome == "failed"}
        assert failed >= {"pm", "pm (backup)"}, "wrong passwords tried meanwhile are carried into the restored audit"
    finally:
        session.lock()
    assert _surnames(register_dir) == {"Ours"}
    assert not (register_dir / "restore-attempts.keys").exists()


def test_cli_restore_of_another_practice_needs_the_code_typed(cli_pm, register_dir, tmp_path, other_practice_backup,
                                                             monkeypatch):
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "other-password-1")  # only the backup's own password: refused
    code, _out, err = cli_pm("restore", "--from", str(other_practice_backup))
    assert code == 3 and "wrong" in err
    assert not list(register_dir.glob("before-restore-*"))
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "pm-password-1")
    secret = tmp_path / "backup-password"
    secret.write_text("other-password-1\n")
    code, _out, err = cli_pm("restore", "--from", str(other_practice_backup), "--backup-password-file", str(secret))
    assert code == 2 and "B82005" in err and "--confirm-ods B82005" in err
    code, out, err = cli_pm("restore", "--from", str(other_practice_backup), "--backup-password-file", str(secret),
                            "--confirm-ods", "B82005")
    assert code == 0, err
    assert "Restored" in out


def test_cli_restore_over_an_unreadable_register(cli_pm, register_dir, tmp_path):
    assert cli_pm("backup", "--out", str(tmp_path / "b.gpob"))[0] == 0
    (register_dir / "register.seal").unlink()
    code, _out, err = cli_pm("restore", "--from", str(tmp_path / "b.gpob"))
    assert code == 2 and "cannot be read" in err and "--replace-unreadable" in err
    code, out, err = cli_pm("restore", "--from", str(tmp_path / "b.gpob"), "--replace-unreadable")
    assert code == 0, err


def test_without_a_live_key_file_backup_passwords_are_still_throttled_and_audited(manager, register_dir, tmp_path):
    import stat

    backup.backup(manager, tmp_path / "b.gpob")
    manager.lock()
    (register_dir / "register.keys").unlink()  # nobody can unlock the register here any more
    for _ in range(5):
        with pytest.raises(WrongPassword):
            backup.restore(register_dir, tmp_path / "b.gpob", "pm", "pm-password-1", backup_password="guess",
                           replace_unreadable=True)
    attempts = register_dir / "restore-attempts.keys"
    assert stat.S_IMODE(attempts.stat().st_mode) == 0o600
    with pytest.raises(Throttled):
        backup.restore(register_dir, tmp_path / "b.gpob", "pm", "pm-password-1", replace_unreadable=True)
    from gp_optout_desktop.store import keyfile

    state = keyfile.KeyFile.load(attempts)
    state.data["throttle"] = {}  # the wait is over
    state.save()
    session, _ = backup.restore(register_dir, tmp_path / "b.gpob", "pm", "pm-password-1", replace_unreadable=True)
    try:
        failed = [r for r in audit.query(session, action="login") if r.outcome == "failed"]
        assert [r.user for r in failed].count("pm (backup)") == 5
    finally:
        session.lock()
    assert not attempts.exists()
