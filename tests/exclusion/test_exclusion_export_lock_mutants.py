"""One export at a time per folder (exclusion/export_lock.py), as two desks exporting at
once meet it: who holds the lock is said, a lock is released after the export whatever
happens, a lock left by a crash is taken over only once it is old."""
from __future__ import annotations

import os
import re
import socket
import time

import pytest

from gp_optout_desktop.exclusion import export_lock as lock_mod
from gp_optout_desktop.exclusion.errors import ExportError
from gp_optout_desktop.exclusion.export_lock import LOCK_FILE, STALE_AFTER_SECONDS, export_lock


def test_the_lock_names_this_computer_the_time_and_the_process_and_goes_away(tmp_path):
    with export_lock(tmp_path):
        host, stamp, pid = (tmp_path / LOCK_FILE).read_text(encoding="utf-8").split()
        assert host == (socket.gethostname() or "this-computer") and pid == str(os.getpid())
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
        assert (tmp_path / LOCK_FILE).stat().st_mode & 0o777 == 0o644 & ~_umask()
    assert not (tmp_path / LOCK_FILE).exists()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_lock_is_released_when_the_export_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with export_lock(tmp_path):
            raise RuntimeError("disk died mid-export")
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_running_export_is_named_and_its_lock_left_alone(tmp_path):
    (tmp_path / LOCK_FILE).write_text("desk-2 2025-03-01T09:30:00Z 4242\n", encoding="utf-8")
    with pytest.raises(ExportError) as err:
        with export_lock(tmp_path):
            pass
    assert str(err.value) == ("Another export into this folder is running (started 2025-03-01T09:30:00Z on desk-2). "
                              "Nothing was written: wait a minute and export again.")
    assert (tmp_path / LOCK_FILE).read_text(encoding="utf-8") == "desk-2 2025-03-01T09:30:00Z 4242\n"


@pytest.mark.parametrize("content", [b"", b"desk-2\n", b"\xff\xfe"])
def test_a_lock_that_does_not_say_who_holds_it_is_still_respected(tmp_path, content):
    (tmp_path / LOCK_FILE).write_bytes(content)
    with pytest.raises(ExportError) as err:
        with export_lock(tmp_path):
            pass
    assert str(err.value) == ("Another export into this folder is running. Nothing was written: wait a minute and "
                              "export again.")


def test_a_lock_is_taken_over_only_once_it_is_older_than_any_export(tmp_path):
    lock = tmp_path / LOCK_FILE
    lock.write_text("desk-2 2025-03-01T09:30:00Z 4242\n", encoding="utf-8")
    young = time.time() - STALE_AFTER_SECONDS + 60
    os.utime(lock, (young, young))
    with pytest.raises(ExportError):
        with export_lock(tmp_path):
            pass
    old = time.time() - STALE_AFTER_SECONDS - 1
    os.utime(lock, (old, old))
    with export_lock(tmp_path):
        assert lock.read_text(encoding="utf-8").split()[2] == str(os.getpid())
    assert not lock.exists()
    # The crashed export's lock was renamed aside, not deleted: one desk alone can take it over.
    [aside] = tmp_path.glob(".tmp-stale-lock-*")
    assert re.fullmatch(r"\.tmp-stale-lock-[0-9a-f]{12}", aside.name)   # a hidden temp name, tidied later
    assert aside.read_text(encoding="utf-8") == "desk-2 2025-03-01T09:30:00Z 4242\n"


def test_a_shorter_staleness_is_honoured(tmp_path):
    lock = tmp_path / LOCK_FILE
    lock.write_text("desk-2 2025-03-01T09:30:00Z 4242\n", encoding="utf-8")
    old = time.time() - 120
    os.utime(lock, (old, old))
    with export_lock(tmp_path, stale_after=60):
        pass
    assert STALE_AFTER_SECONDS == 15 * 60


def test_two_exports_taking_over_the_same_stale_lock_one_wins(tmp_path, monkeypatch):
    lock = tmp_path / LOCK_FILE
    lock.write_text("desk-2 2025-03-01T09:30:00Z 4242\n", encoding="utf-8")
    old = time.time() - STALE_AFTER_SECONDS - 1
    os.utime(lock, (old, old))
    real_create = lock_mod._create
    calls = []

    def create(path):
        calls.append(path)
        if len(calls) == 2:   # the other desk re-created the lock between our rename and create
            real_create(path)
        return real_create(path)

    monkeypatch.setattr(lock_mod, "_create", create)
    with pytest.raises(ExportError) as err:
        with export_lock(tmp_path):
            pass
    assert str(err.value) == ("Another export into this folder has just started. Nothing was written: wait a minute "
                              "and export again.")


def test_a_folder_that_cannot_be_written_to_changes_nothing(tmp_path):
    missing = tmp_path / "not-there"
    with pytest.raises(ExportError) as err:
        with export_lock(missing):
            pass
    assert str(err.value) == ("The export folder cannot be written to (No such file or directory). Nothing was "
                              "written; the previous exclusion set is still the current one.")


def test_a_lock_naming_only_the_computer_and_time_still_says_who(tmp_path):
    (tmp_path / LOCK_FILE).write_text("desk-2 2025-03-01T09:30:00Z\n", encoding="utf-8")
    with pytest.raises(ExportError) as err:
        with export_lock(tmp_path):
            pass
    assert str(err.value).startswith("Another export into this folder is running (started 2025-03-01T09:30:00Z on "
                                     "desk-2).")


def test_a_lock_that_cannot_be_removed_is_logged_and_left_for_the_next_export(tmp_path, monkeypatch, caplog):
    real_unlink = os.unlink

    def stuck(path, *a, **kw):
        if os.path.basename(path) == LOCK_FILE:
            raise PermissionError(13, "Permission denied")
        return real_unlink(path, *a, **kw)

    monkeypatch.setattr(os, "unlink", stuck)
    with caplog.at_level("WARNING"):
        with export_lock(tmp_path):
            pass
    [record] = [r for r in caplog.records if r.name == "gp_optout_desktop.exclusion.export_lock"]
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith(
        "The export lock could not be removed; the next export waits until it is stale (PermissionError [EACCES] at ")
    assert (tmp_path / LOCK_FILE).exists()


def test_a_lock_released_just_as_we_looked_is_not_taken_for_a_running_export(tmp_path, monkeypatch):
    lock = tmp_path / LOCK_FILE
    lock.write_text("desk-2 2025-03-01T09:30:00Z 4242\n", encoding="utf-8")
    real_stat = type(lock).stat
    taken = []

    def released(self, *a, **kw):
        if self.name == LOCK_FILE and os.path.lexists(lock) and not taken:
            os.unlink(lock)          # the other export finished between our create and our look
            taken.append(True)
            raise FileNotFoundError(2, "No such file or directory")
        return real_stat(self, *a, **kw)

    monkeypatch.setattr(type(lock), "stat", released)
    with export_lock(tmp_path):
        assert lock.read_text(encoding="utf-8").split()[2] == str(os.getpid())
