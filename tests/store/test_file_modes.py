"""Everything the program writes that holds patient data, keys or backups is 0600, every
folder it makes 0700, whatever the umask (issue 11, finding 9: with umask 022 backups,
exclusion files and register.db were 0644, before-restore folders 0755)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from gp_optout_desktop.services import backup, exclusion, letters, objections, session as session_service

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX modes")

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "register-v1"


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _modes(root: Path) -> dict[str, str]:
    found = {str(root): oct(stat.S_IMODE(root.stat().st_mode))}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = oct(stat.S_IMODE(path.stat().st_mode))
    return found


def _private(root: Path) -> dict[str, str]:
    """Every file and folder under root that is not owner-only."""
    wrong = {}
    for name, mode in _modes(root).items():
        path = root / name if name != str(root) else root
        want = "0o700" if path.is_dir() else "0o600"
        if mode != want:
            wrong[name] = mode
    return wrong


def test_register_backup_restore_exclusion_and_letters_are_owner_only_under_umask_022(
        umask_022, register_dir, tmp_path, add_patient):
    from gp_optout_desktop.services import setup

    practice = setup.practice_details(name="Perm Surgery", address=["1 Road"], phone="01632 960001",
                                      email="s@example.invalid")
    session, _ = setup.create_register(register_dir, ods="F84003", practice=practice, user="pm",
                                       password="pm-password-1")
    pid = add_patient(session)
    objections.record(session, pid)
    assert (register_dir / "register.db-wal").exists()
    assert _private(register_dir) == {}, "register.db, -wal, -shm, keys, seal and locks"

    backups = tmp_path / "backups"
    backups.mkdir()
    backup.backup(session, backups / "b.gpob")
    assert _private(backups) == {str(backups): "0o755"}, "the backup file itself (the folder is the user's)"

    exports = tmp_path / "exports"
    exclusion.export(session, exports)
    wrong = {name: mode for name, mode in _private(exports).items() if name != str(exports)}
    assert wrong == {}, "the signed set lists NHS numbers"

    letters.print_batch(session, tmp_path / "batch.pdf", split_dir=tmp_path / "letters-split")
    assert oct(stat.S_IMODE((tmp_path / "batch.pdf").stat().st_mode)) == "0o600"
    assert _private(tmp_path / "letters-split") == {}
    session.lock()

    restored, _change = backup.restore(register_dir, backups / "b.gpob", "pm", "pm-password-1")
    restored.lock()
    aside = [p for p in register_dir.iterdir() if p.name.startswith("before-restore-")]
    assert aside
    assert _private(register_dir) == {}, "the restored register and the folder the old one was kept in"


def test_a_migration_copy_is_owner_only_under_umask_022(umask_022, tmp_path):
    folder = tmp_path / "register"
    shutil.copytree(FIXTURE, folder)
    for path in folder.iterdir():
        os.chmod(path, 0o644)  # as a register from before this rule may be
    session = session_service.unlock(folder, "manager", "manager-demo-pass")
    session.lock()
    copies = list(folder.glob("register.db.pre-v*.bak"))
    assert copies
    for path in [*copies, folder / "register.db", folder / "register.seal", folder / "register.keys"]:
        assert oct(stat.S_IMODE(path.stat().st_mode)) == "0o600", path.name
