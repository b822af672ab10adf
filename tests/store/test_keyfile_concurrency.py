"""The key file under concurrency: every change is re-read, merged and written under a
cross-process lock, so no window or process undoes another's change (issue 11, finding 4)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gp_optout_desktop.services import session as session_service, users
from gp_optout_desktop.store import keyfile
from gp_optout_desktop.store.errors import StoreError, WrongPassword

REPO = Path(__file__).resolve().parents[2]

ADD_USERS = r"""
import sys
from gp_optout_desktop.store import keyfile
keyfile.KDF_DEFAULTS = {"alg": "argon2id", "t": 1, "m_kib": 8192, "p": 1}
from gp_optout_desktop.services import session, users
folder, prefix = sys.argv[1], sys.argv[2]
s = session.unlock(folder, "pm", "pm-password-1")
sys.stdin.readline()  # both processes are unlocked before either writes
for i in range(6):
    users.add(s, f"{prefix}{i}", "receptionist", f"{prefix}-password-{i}")
s.lock()  # closing writes the key file too (the audit head): it must not undo the other's users
print("ok", flush=True)
"""


def test_two_processes_adding_users_at_once_lose_none(manager, register_dir):
    manager.lock()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", ADD_USERS, str(register_dir), prefix], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for prefix in ("desk", "clerk")]
    for proc in procs:  # release both together
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert out.strip() == "ok", err
    for prefix in ("desk", "clerk"):
        for i in range(6):
            session_service.unlock(register_dir, f"{prefix}{i}", f"{prefix}-password-{i}").lock()
    assert not list(register_dir.glob(".register.keys.*.tmp"))


def test_a_session_closing_keeps_another_sessions_new_user_and_password(manager, register_dir):
    other = session_service.unlock(register_dir, "pm", "pm-password-1")  # a second window, its own key file copy
    users.add(manager, "desk1", "receptionist", "desk1-password")
    users.change_own_password(manager, "pm-password-2")
    other.lock()  # used to write its stale copy back: the new user gone, the old password working again
    manager.lock()
    session_service.unlock(register_dir, "desk1", "desk1-password").lock()
    with pytest.raises(WrongPassword):
        session_service.unlock(register_dir, "pm", "pm-password-1")
    session_service.unlock(register_dir, "pm", "pm-password-2").lock()


def test_a_failed_unlock_recorded_by_one_window_survives_another_closing(manager, register_dir):
    with pytest.raises(WrongPassword):
        session_service.unlock(register_dir, "pm", "not-the-password")
    manager.lock()
    assert keyfile.KeyFile.load(register_dir / "register.keys").throttle_state("pm")["failures"] == 1


def test_rekey_in_one_window_gives_the_other_a_clear_message(manager, register_dir):
    users.add(manager, "desk1", "receptionist", "desk1-password")
    other = session_service.unlock(register_dir, "pm", "pm-password-1")
    change = users.rekey(manager, "pm-password-1")
    with pytest.raises(StoreError, match="re-keyed in another window"):
        users.add(other, "desk2", "receptionist", "desk2-password")
    other.lock()  # locking never fails, even though its audit row can no longer be written
    assert not other.register.is_open
    manager.lock()
    assert "desk2" not in keyfile.KeyFile.load(register_dir / "register.keys").user_names()
    session_service.unlock(register_dir, "desk1", change.data["passwords"]["desk1"]).lock()


def test_stale_temp_files_of_a_killed_writer_are_removed_under_the_lock(manager, register_dir):
    leftover = register_dir / ".register.keys.abc123.tmp"
    leftover.write_text("{half a key file")
    users.add(manager, "desk1", "receptionist", "desk1-password")
    assert not leftover.exists()


def test_a_backup_carries_the_key_file_as_it_is_on_disk(manager, register_dir, tmp_path):
    """A user added in another window after this one unlocked is in this window's backup."""
    from gp_optout_desktop.services import backup

    other = session_service.unlock(register_dir, "pm", "pm-password-1")
    users.add(other, "desk1", "receptionist", "desk1-password")
    other.lock()
    backup.backup(manager, tmp_path / "b.gpob")
    manager.lock()
    restored, _ = backup.restore(register_dir, tmp_path / "b.gpob", "pm", "pm-password-1")
    restored.lock()
    session_service.unlock(register_dir, "desk1", "desk1-password").lock()


def test_a_rekey_while_another_window_is_writing_says_so_and_changes_nothing(manager, register_dir):
    other = session_service.unlock(register_dir, "pm", "pm-password-1")
    with other.register.transaction() as conn:  # another window in the middle of saving
        conn.execute("SELECT 1")
        with pytest.raises(StoreError, match="another window or program"):
            users.rekey(manager, "pm-password-1")
    assert not (register_dir / "register.keys.next").exists()
    other.lock()
    manager.lock()
    session_service.unlock(register_dir, "pm", "pm-password-1").lock()
