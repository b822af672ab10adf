"""Queued letters are attested like the rest of the register: a confirmation letter deleted or
marked sent directly in the database (so the patient is never told) is reported by audit
verify. A register made before letters were attested signs their digest once, at its next
unlock, and from then on the same holds; an older backup still verifies."""

from __future__ import annotations

import pytest

from gp_optout_desktop.services import audit, backup, objections, session as session_service
from gp_optout_desktop.store import attest, backup as store_backup, meta

from insider import Insider

PASSWORD = "pm-password-1"
BEFORE_LETTERS = tuple(t for t in attest.TABLES if t != "letters")


def verify(folder):
    pm = session_service.unlock(folder, "pm", PASSWORD)
    try:
        return audit.verify(pm)
    finally:
        pm.lock()


def queue_two_letters(session, add_patient):
    for surname in ("Alpha", "Beta"):
        objections.record(session, add_patient(session, surname=surname))


def test_a_queued_letter_deleted_directly_is_reported(manager, register_dir, add_patient):
    queue_two_letters(manager, add_patient)
    manager.lock()
    assert verify(register_dir).ok
    insider = Insider(register_dir, "pm", PASSWORD)
    try:
        insider.sql("DELETE FROM letters WHERE id = (SELECT min(id) FROM letters)")
    finally:
        insider.close()
    result = verify(register_dir)
    assert not result.ok
    assert "the letters table was changed outside the app" in result.problem


def test_a_letter_marked_sent_directly_is_reported(manager, register_dir, add_patient):
    queue_two_letters(manager, add_patient)
    manager.lock()
    insider = Insider(register_dir, "pm", PASSWORD)
    try:
        insider.sql("UPDATE letters SET sent_at = '2026-01-01T00:00:00+00:00', printed_count = 1")
    finally:
        insider.close()
    result = verify(register_dir)
    assert "the letters table was changed outside the app" in result.problem


@pytest.fixture
def older_register(register_dir, add_patient, monkeypatch):
    """A register made and used by a version that did not attest letters: its baseline and
    its entries carry no letters digest, and letters are queued in it."""
    from gp_optout_desktop.services import setup

    with monkeypatch.context() as m:
        m.setattr(attest, "TABLES", BEFORE_LETTERS)
        practice = setup.practice_details(name="Test Surgery", address=["1 Test Road", "Testtown"],
                                          phone="01632 960001", email="surgery@example.invalid")
        session, _recovery = setup.create_register(register_dir, ods="F84003", practice=practice, user="pm",
                                                   password=PASSWORD)
        queue_two_letters(session, add_patient)
        session.lock()
    insider = Insider(register_dir, "pm", PASSWORD)  # as that version left it: no record of what it attests
    try:
        insider.sql("DELETE FROM meta WHERE key = ?", attest.ATTESTED_META)
    finally:
        insider.close()
    return register_dir


def test_an_older_register_adopts_letters_once_at_unlock(older_register):
    assert verify(older_register).ok  # the unlock inside verify adopted them
    pm = session_service.unlock(older_register, "pm", PASSWORD)
    try:
        with pm.register.reading() as conn:
            adoptions = conn.execute("SELECT count(*) FROM audit WHERE perm = 'adopt'").fetchone()[0]
            attested = meta.get(conn, attest.ATTESTED_META)
    finally:
        pm.lock()
    assert adoptions == 1  # a second unlock adopts nothing again
    assert "letters" in attested
    insider = Insider(older_register, "pm", PASSWORD)
    try:
        insider.sql("DELETE FROM letters WHERE id = (SELECT min(id) FROM letters)")
    finally:
        insider.close()
    assert "the letters table was changed outside the app" in verify(older_register).problem


def test_an_insider_cannot_adopt_again_to_hide_a_deleted_letter(older_register):
    assert verify(older_register).ok
    insider = Insider(older_register, "pm", PASSWORD)
    try:  # delete a letter, and the hint, so the next unlock signs the letters as they now are
        insider.sql("DELETE FROM letters WHERE id = (SELECT min(id) FROM letters)")
        insider.sql("DELETE FROM meta WHERE key = ?", attest.ATTESTED_META)
    finally:
        insider.close()
    result = verify(older_register)
    assert not result.ok
    assert "adopts the letters table, which the trail already attests" in result.problem


def test_a_backup_made_before_the_adoption_still_verifies(older_register, tmp_path, monkeypatch):
    made = tmp_path / "older.gpob"
    with monkeypatch.context() as m:  # the older version's backup: no adoption in its trail
        m.setattr(attest, "TABLES", BEFORE_LETTERS)
        pm = session_service.unlock(older_register, "pm", PASSWORD)
        try:
            backup.backup(pm, made)
        finally:
            pm.lock()
    pm = session_service.unlock(older_register, "pm", PASSWORD)  # this version adopts in the live register
    data_key = pm.register.data_key
    pm.lock()
    checked = store_backup.verify_file(made, data_key)  # and still accepts the older copy
    assert checked["counts"]["patients"] == 2
