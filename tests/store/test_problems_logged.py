"""Failures the store works around are logged (class, errno and place; never patient data),
and what was not saved is saved the next time, so nothing acknowledged is lost.

A full disk cannot be made here on demand, so the write that would fail is made to raise
ENOSPC at the key file's update; everything else is the real register."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

from gp_optout_desktop.services import session as session_service
from gp_optout_desktop.store import backup as store_backup, database, keyfile, location

MARKER = "Zqxmarkerson"


def _disk_full(*_a, **_k):
    raise OSError(errno.ENOSPC, f"No space left on device ({MARKER})")


def _warnings(caplog, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno == logging.WARNING]


def test_a_failed_save_of_the_outside_audit_head_on_lock_is_logged_and_saved_at_the_next_unlock(
        manager, register_dir, add_patient, monkeypatch, caplog):
    add_patient(manager, surname=MARKER)
    head_before = manager.register.recorded_head()
    caplog.set_level(logging.WARNING, logger="gp_optout_desktop")
    with monkeypatch.context() as m:
        m.setattr(keyfile.KeyFile, "update", _disk_full)
        manager.lock()  # locking never fails because the key file could not be written
    assert not manager.register.is_open
    logged = _warnings(caplog, "gp_optout_desktop.store.register")
    assert logged == [f"The audit head could not be saved outside the register on close "
                      f"(OSError [ENOSPC] at {logged[0].split(' at ', 1)[1]}"]
    assert "store/register.py" in logged[0] and MARKER not in logged[0] and "No space" not in logged[0]
    assert keyfile.KeyFile.load(register_dir / database.KEYS_NAME).data["audit_head"] == \
        (head_before.as_dict() if head_before else None)  # the key file was not touched
    again = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        assert again.register.verify_audit().ok
        again.lock()
        kept = keyfile.KeyFile.load(register_dir / database.KEYS_NAME).data["audit_head"]
        assert kept["seq"] > (head_before.seq if head_before else 0)  # the next lock kept the later head
    finally:
        if again.register.is_open:
            again.lock()


def test_revision_seen_is_zero_without_a_key_file_and_logged_when_it_is_damaged(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="gp_optout_desktop")
    assert store_backup.revision_seen(tmp_path) == 0
    assert _warnings(caplog, "gp_optout_desktop.store.backup") == []  # nothing there is not a problem
    (tmp_path / database.KEYS_NAME).write_text('{"revision_seen": "not a number"', encoding="utf-8")
    assert store_backup.revision_seen(tmp_path) == 0
    (logged,) = _warnings(caplog, "gp_optout_desktop.store.backup")
    assert logged.startswith("The revision the replaced register reached could not be read from its key file; "
                             "the restore is not checked against it (JSONDecodeError at ")
    assert "JSONDecodeError" in logged


def test_revision_seen_reads_the_key_file(manager, register_dir, add_patient):
    add_patient(manager)
    manager.lock()
    seen = keyfile.KeyFile.load(register_dir / database.KEYS_NAME).data["revision_seen"]
    assert seen > 0 and store_backup.revision_seen(register_dir) == seen


def test_a_skipped_network_folder_check_is_logged(tmp_path, monkeypatch, caplog):
    real = Path.read_text

    def no_proc(self, *a, **k):
        if str(self) == "/proc/mounts":
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/proc/mounts")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", no_proc)
    monkeypatch.setattr(location.os, "name", "posix")
    caplog.set_level(logging.WARNING, logger="gp_optout_desktop")
    assert location.network_reason(tmp_path) is None
    (logged,) = _warnings(caplog, "gp_optout_desktop.store.location")
    assert logged.startswith("/proc/mounts could not be read: the network-folder check was skipped "
                             "(FileNotFoundError [ENOENT] at ")


def test_revision_seen_is_zero_for_a_key_file_that_never_recorded_one(tmp_path, caplog):
    keys = keyfile.KeyFile.create(tmp_path / database.KEYS_NAME, "ab" * 16)
    keys.save()
    assert "revision_seen" not in keys.data and store_backup.revision_seen(tmp_path) == 0
    keys.data["revision_seen"] = 0
    keys.save()
    assert store_backup.revision_seen(tmp_path) == 0
    assert _warnings(caplog, "gp_optout_desktop.store.backup") == []
