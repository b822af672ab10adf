"""The register is encrypted at rest; damage and tampering are detected, never silently read."""

import os
import sqlite3
from pathlib import Path

import pytest

from gp_optout_desktop.services import integrity, objections, patients, session as session_service
from gp_optout_desktop.store import database, location, schema
from gp_optout_desktop.store.errors import NewerSchema, RegisterCorrupt, UnsafeLocation

MARKER_SURNAME = "Zqxmarkerson"


def all_bytes_under(*folders: Path) -> list[tuple[Path, bytes]]:
    """Every file's bytes. A file the scan cannot read fails the scan: a file we cannot
    read is a file we cannot say is free of patient data."""
    out, unreadable = [], []
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if path.is_file():
                try:
                    out.append((path, path.read_bytes()))
                except OSError as exc:
                    unreadable.append(f"{path.name}: {exc.strerror or exc}")
    assert not unreadable, f"the plaintext scan could not read: {unreadable}"
    return out


def test_plaintext_scan_fails_on_a_file_it_cannot_read(tmp_path, monkeypatch):
    """The scan does not skip a file it cannot read (tests run as root here, where chmod 000
    does not stop reading, so the refusal is simulated at read_bytes)."""
    (tmp_path / "readable").write_bytes(b"x")
    (tmp_path / "locked").write_bytes(b"y")
    real = Path.read_bytes

    def refuse(self):
        if self.name == "locked":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(AssertionError, match="locked: Permission denied"):
        all_bytes_under(tmp_path)


def test_plaintext_scan_finds_no_patient_data_on_disk(manager, register_dir, add_patient, tmp_path, monkeypatch):
    """After a scripted session, no marker name or NHS number appears in any file of the
    register's folder or the temp folder (nor in a backup)."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    pid = add_patient(manager, surname=MARKER_SURNAME, forenames="Qwertyna")
    record = patients.view(manager, pid)
    nhs = record.patient.nhs_number
    objections.record(manager, pid)
    patients.find(manager, MARKER_SURNAME[:5])
    from gp_optout_desktop.services import backup

    backup.backup(manager, tmp_path / "backup.gpob")
    manager.lock()
    needles = [MARKER_SURNAME.encode(), MARKER_SURNAME.encode("utf-16-le"), nhs.encode(), b"Qwertyna"]
    files = all_bytes_under(register_dir, temp) + [(tmp_path / "backup.gpob", (tmp_path / "backup.gpob").read_bytes())]
    assert files, "the scan must read something"
    for path, data in files:
        for needle in needles:
            assert needle not in data, f"{needle!r} found in plaintext in {path.name}"
        assert not data.startswith(b"SQLite format 3"), f"{path.name} is an unencrypted SQLite file"


def test_plain_sqlite_cannot_read_the_register(manager, register_dir):
    manager.lock()
    plain = sqlite3.connect(register_dir / "register.db")
    with pytest.raises(sqlite3.DatabaseError):
        plain.execute("SELECT count(*) FROM sqlite_master").fetchone()
    plain.close()


def test_temp_store_is_memory(manager):
    assert manager.register.conn.execute("PRAGMA temp_store").fetchone()[0] == 2
    assert manager.register.conn.execute("PRAGMA cipher_version").fetchone()[0]


@pytest.mark.parametrize("offset", [100, 4096 + 200, -300])
def test_flipped_bytes_are_detected_not_read(manager, register_dir, add_patient, offset):
    for i in range(30):
        add_patient(manager, surname=f"Person{i}")
    manager.lock()
    db = register_dir / "register.db"
    data = bytearray(db.read_bytes())
    position = offset if offset >= 0 else len(data) + offset
    data[position] ^= 0xFF
    db.write_bytes(bytes(data))
    # Unlock reads only the pages it needs (ADR 0011): damage there refuses the unlock ...
    try:
        session = session_service.unlock(register_dir, "pm", "pm-password-1")
    except RegisterCorrupt as exc:
        assert "damaged" in str(exc) or "tampered" in str(exc)
        return
    # ... damage elsewhere is refused when read (SQLCipher's per-page HMAC), the check after
    # unlock finds it, and from then on nothing more is written to the file.
    try:
        with pytest.raises(database.DatabaseError):
            with session.register.reading() as conn:
                for table in ("patients", "events", "audit", "current_state", "letters", "meta", "users"):
                    conn.execute(f"SELECT * FROM {table}").fetchall()
        result = integrity.check(session, why="after unlock")
        assert not result.ok and "damaged or was tampered with" in result.problem
        assert "Restore the latest backup" in result.problem
        with pytest.raises(RegisterCorrupt, match="Changes are blocked"):
            patients.add(session, nhs="999 000 0018", surname="Blocked", forenames="Ann", dob="1960-01-01",
                         postcode_raw="LS1 4AP")
    finally:
        session.register.close()


def test_newer_schema_is_refused_and_nothing_changes(manager, register_dir):
    manager.register.conn.execute(f"PRAGMA user_version = {schema.LATEST + 1}")
    manager.lock()
    before = (register_dir / "register.db").read_bytes()
    with pytest.raises(NewerSchema, match="newer version"):
        session_service.unlock(register_dir, "pm", "pm-password-1")
    assert (register_dir / "register.db").read_bytes() == before


@pytest.mark.posix_only(reason="feeds Linux /proc/mounts text; on Windows check_local asks GetDriveTypeW instead")
def test_network_shares_are_refused():
    mounts = "server:/export /mnt/practice nfs4 rw 0 0\n//fs/share /mnt/smb cifs rw 0 0\n/dev/sda1 / ext4 rw 0 0\n"
    with pytest.raises(UnsafeLocation, match="network share"):
        location.check_local(Path("/mnt/practice/register"), mounts)
    with pytest.raises(UnsafeLocation):
        location.check_local(Path("/mnt/smb/x"), mounts)
    with pytest.raises(UnsafeLocation, match="UNC"):
        location.check_local(Path("//server/share/register"), mounts)
    location.check_local(Path("/home/pm/register"), mounts)


def test_unc_paths_are_refused_and_a_local_folder_is_accepted_on_every_platform(tmp_path):
    # No injected mount text: the platform's own branch (/proc/mounts, or GetDriveTypeW on Windows).
    with pytest.raises(UnsafeLocation, match="UNC"):
        location.check_local(Path("//server/share/register"))
    location.check_local(tmp_path / "register")


def test_a_wrong_raw_key_is_told_apart_from_a_good_one(manager, register_dir):
    manager.lock()
    with pytest.raises(RegisterCorrupt):
        database.connect(register_dir / "register.db", os.urandom(32))
