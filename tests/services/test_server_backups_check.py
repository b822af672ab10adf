"""services/server_backups.check_export on files that are not a good server export, with no
server at all (the check never touches one): a register file's own backup is named as such, a
file that is not a backup and a missing password are refused in words; the temporary register
is gone afterwards whatever happened."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.services import backup as backup_service, server_backups
from gp_optout_desktop.store.errors import RegisterCorrupt, StoreError


def _scratch_left() -> list[str]:
    return sorted(p.name for p in Path(tempfile.gettempdir()).glob("gp-optout-check-*"))


def test_a_register_files_own_backup_is_not_taken_for_a_server_export(manager, tmp_path):
    out = tmp_path / "file.gpbackup"
    backup_service.backup(manager, out)
    before = _scratch_left()
    with pytest.raises(RegisterCorrupt, match="is a register backup, not a server practice's export"):
        server_backups.check_export(out, manager.user, "pm-password-1")
    assert _scratch_left() == before


def test_not_a_backup_or_no_password_is_refused_in_words(tmp_path):
    junk = tmp_path / "holiday.gpbackup"
    junk.write_bytes(b"not a zip at all")
    before = _scratch_left()
    with pytest.raises(StoreError):
        server_backups.check_export(junk, "pm", "some-password-1")
    with pytest.raises(ValidationError, match="Type the password"):
        server_backups.check_export(junk, "pm", "")
    with pytest.raises(ValidationError, match="is not a file"):
        server_backups.check_export(tmp_path / "missing.gpbackup", "pm", "some-password-1")
    assert _scratch_left() == before
