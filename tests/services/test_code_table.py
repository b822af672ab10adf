"""A practice corrects the code table without a new release (issue 10 section 6): validated,
audited, kept in the register (schema V6), practice manager only, in force at once."""

from __future__ import annotations

import json

import pytest

from gp_optout_desktop import cli
from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.nhs_number import synthetic_range
from gp_optout_desktop.paths import resource
from gp_optout_desktop.services import audit, codes, importer, session as session_service, users
from gp_optout_desktop.store import schema

N = synthetic_range(640_000)[-3:]
HEADER = "NHS Number,Surname,Forename(s),Date of Birth,Postcode,Clinical Code,Code Date"


def corrected(**type1_withdraw) -> str:
    data = json.loads(resource("codes.json").read_text(encoding="utf-8"))
    data["codes"][1].update(type1_withdraw)
    return json.dumps(data, indent=2)


def test_schema_v6_holds_the_code_tables(manager):
    assert schema.LATEST >= 6
    with manager.register.reading() as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(code_tables)")]
    assert columns == ["version", "text", "reason", "saved_by", "saved_at"]


def test_a_correction_is_validated_saved_audited_and_in_force(manager):
    assert manager.codes.lookup("type1", "withdraw").ctv3 == "XaZ8a"
    text = corrected(ctv3="XaZ8A", verify=["snomed"])  # the CSO confirmed the upper-case A
    revision = manager.revision()
    change = codes.save(manager, text, "CSO confirmed XaZ8A against the clinical system")
    assert "version 1 saved" in change.summary and "type1 withdraw ctv3" in change.summary
    assert manager.revision() > revision
    assert manager.codes.lookup("type1", "withdraw").ctv3 == "XaZ8A"
    assert manager.codes.match("XaZ8A").case_folded is False  # now the exact code
    force = codes.in_force(manager)
    assert force.version == 1 and force.saved.saved_by == "pm" and force.text == text
    entry = audit.query(manager, action="codes.save")[0]
    assert "version=1" in entry.detail and "CSO confirmed" in entry.detail and "sha256=" in entry.detail
    # The import uses the table in force.
    manager.clock = lambda: __import__("datetime").datetime(2025, 3, 20, 12,
                                                             tzinfo=__import__("datetime").timezone.utc)
    plan = importer.check(manager, f"{HEADER}\n{N[0]},Case,Now,1950-02-03,LL30 1AA,XaZ8a,2016-05-01\n")
    assert plan.case_folded_rows == (2,)


@pytest.mark.parametrize("text, words", [
    (corrected(snomed="827261000000103"), "not a SNOMED CT identifier"),
    (corrected(ctv3="XaKII"), "must be refused"),
    ("{not json", "malformed"),
    (corrected(ctv3="XaZ89"), "used twice"),
])
def test_a_bad_table_changes_nothing(manager, text, words):
    revision = manager.revision()
    with pytest.raises(ValidationError, match=words):
        codes.save(manager, text, "a reason")
    assert manager.revision() == revision and codes.in_force(manager).version == 0
    assert audit.query(manager, action="codes.save") == []


def test_a_reason_is_required_and_an_unchanged_table_is_refused(manager):
    with pytest.raises(ValidationError, match="Say why"):
        codes.save(manager, corrected(ctv3="XaZ8A"), "  ")
    with pytest.raises(ValidationError, match="already in force"):
        codes.save(manager, resource("codes.json").read_text(encoding="utf-8"), "same")


def test_reset_goes_back_to_the_shipped_table_and_keeps_the_history(manager):
    with pytest.raises(ValidationError, match="already in force"):
        codes.reset(manager, "nothing to undo")
    codes.save(manager, corrected(ctv3="XaZ8A"), "first")
    codes.reset(manager, "the CSO withdrew the change")
    assert manager.codes.lookup("type1", "withdraw").ctv3 == "XaZ8a"
    assert [(s.version, s.text is None, s.reason) for s in codes.history(manager)] == [
        (1, False, "first"), (2, True, "the CSO withdrew the change")]
    assert sorted(r.action for r in audit.query(manager, action="codes.")) == ["codes.reset", "codes.save"]


@pytest.mark.parametrize("role", [roles.RECEPTIONIST, roles.GP])
def test_only_the_practice_manager_may_correct_the_table(manager, register_dir, role):
    users.add(manager, "other", role, "other-password-1")
    manager.lock()
    other = session_service.unlock(register_dir, "other", "other-password-1")
    try:
        with pytest.raises(PermissionError, match="may not correct the objection code table"):
            codes.save(other, corrected(ctv3="XaZ8A"), "not mine to change")
        with pytest.raises(PermissionError):
            codes.reset(other, "no")
        assert codes.in_force(other).version == 0  # viewing is allowed
    finally:
        other.lock()
    pm = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        assert len(audit.query(pm, action="denied.edit_codes")) == 2  # both refusals audited
    finally:
        pm.lock()


def test_a_correction_survives_lock_and_unlock(manager, register_dir):
    codes.save(manager, corrected(ctv3="XaZ8A"), "kept in the register")
    manager.lock()
    again = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        assert again.codes.lookup("type1", "withdraw").ctv3 == "XaZ8A"
    finally:
        again.lock()


def run(monkeypatch, register_dir, user, password, *argv):
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", password)
    return cli.main(["--register", str(register_dir), "--user", user, *argv])


def test_cli_show_save_history_reset(manager, register_dir, tmp_path, monkeypatch, capsys):
    users.add(manager, "desk", roles.RECEPTIONIST, "desk-password-1")
    manager.lock()
    pm = ("pm", "pm-password-1")
    assert run(monkeypatch, register_dir, *pm, "codes", "show") == 0
    out = capsys.readouterr().out
    assert "shipped with this release" in out and "VERIFY" in out and "9Nd1./XaKII" in out
    assert run(monkeypatch, register_dir, *pm, "codes", "show", "--out", str(tmp_path / "t.json")) == 0
    table = json.loads((tmp_path / "t.json").read_text())
    table["codes"][1]["ctv3"] = "XaZ8A"
    (tmp_path / "t.json").write_text(json.dumps(table))
    capsys.readouterr()
    assert run(monkeypatch, register_dir, "desk", "desk-password-1", "codes", "save", "--from",
               str(tmp_path / "t.json"), "--reason", "x") == cli.EXIT_REFUSED
    assert "may not correct the objection code table" in capsys.readouterr().err
    assert run(monkeypatch, register_dir, *pm, "codes", "save", "--from", str(tmp_path / "t.json"),
               "--reason", "CSO confirmed") == 0
    assert "version 1 saved" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text('{"codes": []}')
    assert run(monkeypatch, register_dir, *pm, "codes", "save", "--from", str(tmp_path / "bad.json"),
               "--reason", "oops") == cli.EXIT_INVALID
    err = capsys.readouterr().err
    assert err.startswith("gp-optout: The code table") and err.count("\n") == 1 and "Traceback" not in err
    assert run(monkeypatch, register_dir, *pm, "codes", "history") == 0
    assert "version 1" in capsys.readouterr().out
    assert run(monkeypatch, register_dir, *pm, "codes", "reset", "--reason", "undo") == 0
    assert "back to the table shipped" in capsys.readouterr().out


def test_a_register_before_v6_gains_the_table_on_unlock(manager, register_dir):
    """Schema V6 on a register at version 5: copied aside, then migrated."""
    with manager.register.transaction() as conn:
        conn.execute("DROP TABLE code_tables")
        conn.execute("DROP TABLE registration")  # V8: a version-5 register has neither
    manager.register.conn.execute("PRAGMA user_version = 5")
    manager.lock()
    session = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        assert (register_dir / f"register.db.pre-v{schema.LATEST}.bak").exists()
        assert session.codes.lookup("type1", "withdraw").ctv3 == "XaZ8a"
        codes.save(session, corrected(ctv3="XaZ8A"), "after the upgrade")
        assert session.codes.lookup("type1", "withdraw").ctv3 == "XaZ8A"
        assert audit.verify(session).ok
    finally:
        session.lock()
