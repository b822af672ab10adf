"""One export at a time per folder, and never backwards: a second export while one is running,
or an export from an older register revision, is refused and leaves the current set as it is."""

from __future__ import annotations

import errno
import os
import time

import pytest

from gp_optout_desktop.exclusion.errors import ExportError
from gp_optout_desktop.exclusion.export_lock import LOCK_FILE, STALE_AFTER_SECONDS, export_lock
from gp_optout_desktop.exclusion.reader import read_export

from excl_helpers import NHS, NOW, export, make_rows, snapshot, fresh_state


def test_a_second_export_while_one_runs_is_refused(tmp_path, key):
    export(tmp_path, key, revision=1)
    before = snapshot(tmp_path)
    with export_lock(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text().split()[2] == str(os.getpid())
        with pytest.raises(ExportError, match=r"Another export into this folder is running \(started .* on "):
            export(tmp_path, key, make_rows(NHS[:20]), revision=2)
        assert (tmp_path / LOCK_FILE).exists()  # the running export's lock is not the refused one's to remove
    assert not (tmp_path / LOCK_FILE).exists()
    assert {k: v for k, v in snapshot(tmp_path).items() if k != LOCK_FILE} == before
    assert read_export(tmp_path, key.public_key(), practice_ods="F84003", state_path=fresh_state(), now=NOW).manifest.register_revision == 1
    export(tmp_path, key, make_rows(NHS[:20]), revision=2)  # once it has finished
    assert read_export(tmp_path, key.public_key(), practice_ods="F84003", state_path=fresh_state(), now=NOW).manifest.register_revision == 2


def test_a_lock_left_by_a_crashed_export_is_taken_over(tmp_path, key):
    export(tmp_path, key, revision=1)
    lock = tmp_path / LOCK_FILE
    lock.write_text("desk-2 2026-01-01T09:00:00Z 4242\n")
    old = time.time() - STALE_AFTER_SECONDS - 60
    os.utime(lock, (old, old))
    export(tmp_path, key, make_rows(NHS[:20]), revision=2)
    assert read_export(tmp_path, key.public_key(), practice_ods="F84003", state_path=fresh_state(), now=NOW).manifest.register_revision == 2
    assert not lock.exists()


def test_an_older_register_revision_never_replaces_a_newer_set(tmp_path, key):
    export(tmp_path, key, make_rows(NHS[:20]), revision=9)
    before = snapshot(tmp_path)
    with pytest.raises(ExportError, match=r"newer exclusion set \(register revision 9; this register is at 8\)"):
        export(tmp_path, key, revision=8)
    assert snapshot(tmp_path) == before
    export(tmp_path, key, make_rows(NHS[:20]), revision=9)  # the same revision again (e.g. to renew valid-until)


def test_a_full_disk_at_the_lock_is_refused_in_words(tmp_path, key, monkeypatch):
    export(tmp_path, key, revision=1)
    before = snapshot(tmp_path)
    real_open = os.open

    def full(path, *args, **kwargs):
        if str(path).endswith(LOCK_FILE):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", full)
    with pytest.raises(ExportError, match=r"cannot be written to \(No space left on device\).* still the current one"):
        export(tmp_path, key, make_rows(NHS[:20]), revision=2)
    monkeypatch.undo()
    assert snapshot(tmp_path) == before
