"""Backup under Windows' flush rule: FlushFileBuffers (os.fsync on Windows) needs a handle
opened for writing, and fails with Errno 13 (wine) / EBADF (UCRT) on a read-only one.

On Windows the real os.fsync applies. Elsewhere os.fsync is wrapped to refuse, as Windows
does, a regular file opened read-only: the one thing that differs and cannot run here.
Directories are left alone (the store never fsyncs a directory on Windows).
"""

import errno
import os
import stat

import pytest

from gp_optout_desktop.services import backup, patients

_real_fsync = os.fsync


def _windows_fsync(fd: int) -> None:
    if os.name != "nt" and stat.S_ISREG(os.fstat(fd).st_mode):
        import fcntl

        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            raise PermissionError(errno.EACCES, "Permission denied (FlushFileBuffers needs a writable handle)")
    _real_fsync(fd)


@pytest.fixture
def windows_fsync(monkeypatch):
    monkeypatch.setattr(os, "fsync", _windows_fsync)


def test_the_rule_is_enforced_by_the_wrapper(windows_fsync, tmp_path):
    # Guard: proves the wrapper really refuses a read-only handle, so the test below means something.
    f = tmp_path / "x"
    f.write_bytes(b"x")
    with open(f, "rb") as fh, pytest.raises(PermissionError):
        os.fsync(fh.fileno())
    with open(f, "r+b") as fh:
        os.fsync(fh.fileno())


def test_backup_and_restore_work_under_the_windows_flush_rule(windows_fsync, manager, register_dir, add_patient, tmp_path):
    pid = add_patient(manager, surname="Kept")
    change = backup.backup(manager, tmp_path / "practice.gpbackup")
    assert change.data["counts"]["patients"] == 1 and backup.last_backup(manager)["verified"]
    manager.lock()
    session, _ = backup.restore(register_dir, tmp_path / "practice.gpbackup", "pm", "pm-password-1")
    assert patients.view(session, pid).patient.surname == "Kept"
    session.lock()
