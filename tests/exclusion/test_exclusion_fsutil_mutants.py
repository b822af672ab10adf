"""The durable file steps under every exclusion set and consumer state (exclusion/fsutil.py):
a new file is owner-only and never overwrites, every byte is written even when the OS takes
them a few at a time, data reaches the disk before the rename that publishes it and the
rename before the caller is told, and a failed replace leaves no temp file behind."""
from __future__ import annotations

import os

import pytest

from gp_optout_desktop.exclusion import fsutil


def test_a_new_file_is_owner_only_and_never_replaces_one_that_exists(tmp_path):
    path = tmp_path / "new.bin"
    fsutil.write_durable(path, b"abc")
    assert path.read_bytes() == b"abc" and path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        fsutil.write_durable(path, b"other")
    assert path.read_bytes() == b"abc"


def test_every_byte_is_written_when_the_os_takes_a_few_at_a_time(tmp_path, monkeypatch):
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:3])))
    fsutil.write_durable(tmp_path / "slow.bin", b"0123456789")
    assert (tmp_path / "slow.bin").read_bytes() == b"0123456789"


def test_data_is_on_disk_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    steps = []
    real_fsync, real_replace, real_open = os.fsync, os.replace, os.open
    opened = {}

    def open_(path, flags, *mode):
        fd = real_open(path, flags, *mode)
        opened[fd] = "folder" if os.path.isdir(path) else "file"
        return fd

    def fsync(fd):
        steps.append(("fsync", opened.get(fd)))
        real_fsync(fd)

    def replace(src, dst):
        assert os.path.basename(src).startswith(".tmp-state.json-")   # hidden, named for its target
        steps.append(("replace", os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "state.json"
    target.write_bytes(b"old")
    fsutil.replace_file_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert steps == [("fsync", "file"), ("replace", "state.json"), ("fsync", "folder")]
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_failed_replace_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    target.write_bytes(b"old")

    def broken(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        fsutil.replace_file_atomically(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_temp_names_are_hidden_beside_the_target_and_differ(tmp_path):
    a, b = fsutil.temp_name(tmp_path, "manifest.json"), fsutil.temp_name(tmp_path, "manifest.json")
    assert a.parent == tmp_path and a.name.startswith(".tmp-manifest.json-") and len(a.name) == len(".tmp-manifest.json-") + 12
    assert a != b


def test_on_windows_the_folder_is_not_opened_for_fsync(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "name", "nt")
    monkeypatch.setattr(os, "open", lambda *a, **k: pytest.fail("a folder cannot be opened on Windows"))
    fsutil.fsync_dir(tmp_path)


def test_a_temp_file_that_cannot_be_removed_after_a_failed_write_is_logged(tmp_path, monkeypatch, caplog):
    target = tmp_path / "state.json"
    target.write_bytes(b"old")
    monkeypatch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    monkeypatch.setattr(os, "unlink", lambda path: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    with caplog.at_level("WARNING"):
        with pytest.raises(OSError) as err:
            fsutil.replace_file_atomically(target, b"new")
    assert err.value.errno == 28   # the write's own failure is the one reported
    [record] = [r for r in caplog.records if r.name == "gp_optout_desktop.exclusion.fsutil"]
    assert record.getMessage().startswith(
        "A temporary file could not be removed after a failed write (PermissionError [EACCES] at ")
    assert target.read_bytes() == b"old"
