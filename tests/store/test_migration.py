"""Schema migrations on a real encrypted register: a version 1 register (before the practice's
letter wording moved into the register) is copied aside, then brought up to date on unlock,
keeping every patient and the audit chain."""

from __future__ import annotations

from gp_optout_desktop.services import audit, patients, session as session_service, templates
from gp_optout_desktop.store import database, schema


def test_a_version_1_register_is_backed_up_then_migrated(manager, register_dir, add_patient):
    pid = add_patient(manager, surname="Migrant")
    # Make it what version 1 wrote: no letter_templates table, no confirmation columns, user_version 1.
    with manager.register.transaction() as conn:
        conn.execute("DROP TABLE letter_templates")
        conn.execute("ALTER TABLE events DROP COLUMN confirmed_at")
        conn.execute("ALTER TABLE events DROP COLUMN confirmed_by")
        conn.execute("DROP TABLE practice_codes")  # V5
        conn.execute("DROP TABLE reconciliations")
    manager.register.conn.execute("PRAGMA user_version = 1")
    manager.lock()

    session = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        assert database.schema_version(session.register.conn) == schema.LATEST
        copy = register_dir / f"register.db.pre-v{schema.LATEST}.bak"
        assert copy.exists() and b"SQLite format 3" not in copy.read_bytes()[:16]  # encrypted like the register
        assert patients.view(session, pid).patient.surname == "Migrant"
        assert not templates.current(session, "objection").own  # nothing saved yet: the installed wording
        assert audit.verify(session).ok
    finally:
        session.lock()
