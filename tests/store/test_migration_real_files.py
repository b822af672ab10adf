"""Migrations against a real register written by an earlier version (tests/fixtures): opened
by today's code it is copied aside, migrated, and keeps every patient, state, setting and
its audit chain; opening it again does not migrate twice."""

from __future__ import annotations

import shutil
from pathlib import Path

from gp_optout_desktop.services import (audit, exclusion, overview, patients, session as session_service,
                                        templates)
from gp_optout_desktop.store import database, schema

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "register-v1"


def test_a_version_1_register_opens_migrated_with_everything_in_it(tmp_path):
    folder = tmp_path / "register"
    shutil.copytree(FIXTURE, folder)
    session = session_service.unlock(folder, "manager", "manager-demo-pass")
    try:
        assert database.schema_version(session.register.conn) == schema.LATEST
        assert (folder / f"register.db.pre-v{schema.LATEST}.bak").read_bytes() == (FIXTURE / "register.db").read_bytes()
        o = overview.overview(session)
        assert o.patients == 400 and o.objecting["type1"] == 32 and o.policy_on
        assert audit.verify(session).ok
        assert session.register.upgraded  # the first manager's unlock created the manager key (ADR 0006)
        assert not templates.current(session, "objection").own  # the new table starts empty
        found = patients.find(session, "Smith")
        assert found and patients.view(session, found[0].patient_id).patient.surname == "Smith"
        change = exclusion.export(session, tmp_path / "exclusions")
        assert "exclude-all-except-listed" in change.summary  # the practice-wide opt-out survived
    finally:
        session.lock()
    again = session_service.unlock(folder, "gp", "gp-demo-pass")
    try:
        assert database.schema_version(again.register.conn) == schema.LATEST
    finally:
        again.lock()
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".bak")) == [f"register.db.pre-v{schema.LATEST}.bak"]
