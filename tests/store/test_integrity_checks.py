"""Integrity checks off the unlock path (ADR 0011): unlock does not run them; the check
after unlock, before a backup and on demand finds damage; a damaged register takes no
more writes; and a damaged page is never read silently."""

import pytest

from gp_optout_desktop.services import backup, integrity, patients, session as session_service
from gp_optout_desktop.store import database
from gp_optout_desktop.store.errors import RegisterCorrupt

PAGE = 4096  # SQLCipher 4's default page size


def test_unlock_runs_no_integrity_check(manager, register_dir, add_patient, monkeypatch):
    add_patient(manager)
    manager.lock()
    calls = []
    monkeypatch.setattr(database, "check_integrity", lambda conn, full=False: calls.append(full))
    session = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        assert calls == []
        assert integrity.last(session) is None  # not yet checked: the window starts the check after unlock
    finally:
        session.lock()


def test_check_on_a_sound_register_passes_and_is_audited(manager, add_patient):
    add_patient(manager)
    result = integrity.check(manager, why="on demand")
    assert result.ok and not result.full and "no damage found" in result.describe()
    full = integrity.check(manager, full=True)
    assert full.ok and full.full and "full check" in full.describe()
    with manager.register.reading() as conn:
        rows = conn.execute("SELECT outcome, detail FROM audit WHERE action = 'register.check'").fetchall()
    assert [r[0] for r in rows] == ["ok", "ok"] and rows[0][1].startswith("quick on demand")
    add_patient(manager, surname="Stillwritable")  # a passing check blocks nothing


def _damage_a_page_unlock_does_not_read(register_dir):
    """Flip one byte in each page in turn, from the end, until one leaves unlock working:
    a page of patient rows or a search index, read only when a search needs it."""
    db = register_dir / "register.db"
    original = db.read_bytes()
    for page in range(len(original) // PAGE - 1, 1, -1):
        data = bytearray(original)
        data[page * PAGE + 200] ^= 0xFF
        db.write_bytes(bytes(data))
        try:
            session = session_service.unlock(register_dir, "pm", "pm-password-1")
        except RegisterCorrupt:
            continue
        return session
    pytest.fail("every page was read at unlock")


def test_damage_beyond_unlock_is_found_by_the_check_and_blocks_writes(manager, register_dir, add_patient):
    for i in range(150):
        add_patient(manager, surname=f"Pagefiller{i:03d}", forenames="Alexandra Bernadette Charlotte")
    manager.lock()
    session = _damage_a_page_unlock_does_not_read(register_dir)
    try:
        result = integrity.check(session, why="after unlock")
        assert not result.ok
        assert "damaged or was tampered with" in result.problem and "Restore the latest backup" in result.problem
        with pytest.raises(RegisterCorrupt, match="Changes are blocked"):
            patients.add(session, nhs="999 000 0018", surname="Blocked", forenames="Ann", dob="1960-01-01",
                         postcode_raw="LS1 4AP")
        # A later passing check of the same open file does not lift the block.
        again = integrity.last(session)
        assert again is not None and not again.ok
        # Never read silently: reading every row fails rather than returning what it can.
        with pytest.raises(database.DatabaseError):
            with session.register.reading() as conn:
                for table in ("patients", "events", "audit", "current_state", "letters", "meta", "users"):
                    conn.execute(f"SELECT * FROM {table}").fetchall()
                conn.execute("SELECT * FROM patients INDEXED BY patients_surname WHERE surname_key > ''").fetchall()
                conn.execute("SELECT * FROM patients INDEXED BY patients_dob WHERE dob > ''").fetchall()
                conn.execute("SELECT * FROM patients INDEXED BY patients_postcode WHERE postcode_key > ''").fetchall()
    finally:
        session.lock()  # a damaged register still locks, forgetting its key
    assert not session.register.is_open and session.register.data_key == b""


def test_a_backup_runs_one_full_check_not_two(manager, add_patient, tmp_path, monkeypatch):
    add_patient(manager)
    calls = []
    real = database.check_integrity

    def counting(conn, full=False):
        calls.append(full)
        return real(conn, full=full)

    monkeypatch.setattr(database, "check_integrity", counting)
    change = backup.backup(manager, tmp_path / "one.gpob")
    assert calls == [True]
    # What landed is still checked in full when verified on its own (restore, verify_file).
    from gp_optout_desktop.store import backup as store_backup

    store_backup.verify_file(tmp_path / "one.gpob", manager.register.data_key)
    assert calls == [True, True] and change.data["counts"]["patients"] == 1
