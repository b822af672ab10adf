"""The register-side commands through the real `gp-optout` entry point: export, public key,
status, practice-wide opt-out (with NHS England's position and a confirmation), include-me."""

from __future__ import annotations

import pytest

from gp_optout_desktop import cli, cli_exclusion
from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.practice_policy import NHSE_POSITION
from gp_optout_desktop.services import objections, users


@pytest.fixture
def reg(manager, add_patient, register_dir, monkeypatch):
    pid = add_patient(manager)
    objections.record(manager, pid)
    users.add(manager, "drgp", roles.GP, "drgp-password-1")
    nhs = manager.register.conn.execute("SELECT nhs FROM patients WHERE id = ?", (pid,)).fetchone()[0]
    manager.lock()
    return register_dir, nhs


def run(monkeypatch, register_dir, user, password, *argv):
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", password)
    return cli.main(["--register", str(register_dir), "--user", user, *argv])


def test_export_key_status_and_consult_end_to_end(reg, tmp_path, monkeypatch, capsys):
    register_dir, nhs = reg
    pm = ("pm", "pm-password-1")
    assert run(monkeypatch, register_dir, *pm, "export-status") == 0
    assert "never been exported" in capsys.readouterr().out
    assert run(monkeypatch, register_dir, *pm, "export-public-key", "--out", str(tmp_path / "pub.pem")) == 0
    assert run(monkeypatch, register_dir, *pm, "export", "--out", str(tmp_path / "x")) == 0
    out = capsys.readouterr().out
    assert "1 patient(s) listed, mode exclude-listed" in out and nhs not in out
    assert run(monkeypatch, register_dir, *pm, "export-status") == 0
    assert "Up to date" in capsys.readouterr().out
    (tmp_path / "c.csv").write_text(f"nhs_number\n{nhs}\n")
    assert cli.main(["consult", "--exclusions", str(tmp_path / "x"), "--public-key", str(tmp_path / "pub.pem"),
                     "--in", str(tmp_path / "c.csv"), "--out", str(tmp_path / "ok.csv"), "--practice", "F84003",
                     "--state", str(tmp_path / "state.json")]) == 0
    assert (tmp_path / "ok.csv").read_text() == "nhs_number\n"  # the objector is held back


def test_export_refused_for_a_gp_and_failure_is_one_line(reg, tmp_path, monkeypatch, capsys):
    register_dir, _ = reg
    assert run(monkeypatch, register_dir, "drgp", "drgp-password-1", "export", "--out", str(tmp_path / "x")) == cli.EXIT_REFUSED
    err = capsys.readouterr().err
    assert "may not write the exclusion file" in err and err.count("\n") == 1
    (tmp_path / "file").write_text("not a folder")
    assert run(monkeypatch, register_dir, "pm", "pm-password-1", "export", "--out", str(tmp_path / "file")) == 1
    err = capsys.readouterr().err
    assert err.startswith("gp-optout: ") and err.count("\n") == 1 and "Traceback" not in err


def test_practice_optout_shows_nhse_position_and_needs_confirmation(reg, monkeypatch, capsys):
    register_dir, nhs = reg
    gp = ("drgp", "drgp-password-1")
    args = ("practice-optout", "on", "--reason", "Partners' decision")
    assert run(monkeypatch, register_dir, *gp, *args) == 1  # not a terminal and no --yes: refused
    captured = capsys.readouterr()
    assert NHSE_POSITION in captured.out and "Not confirmed; nothing was changed" in captured.err
    assert run(monkeypatch, register_dir, *gp, *args, "--yes") == 0
    assert "turned on" in capsys.readouterr().out
    assert run(monkeypatch, register_dir, *gp, "practice-optout", "status") == 0
    assert "ON: nobody's data is extracted" in capsys.readouterr().out
    assert run(monkeypatch, register_dir, "pm", "pm-password-1", *args, "--yes") == cli.EXIT_REFUSED
    assert run(monkeypatch, register_dir, "pm", "pm-password-1", "optin", "--nhs", nhs) == 0
    assert "Request to be included recorded" in capsys.readouterr().out


def test_confirmation_hook_is_injectable(reg, monkeypatch, capsys):
    register_dir, _ = reg
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "drgp-password-1")
    args = cli.build_parser().parse_args(["--register", str(register_dir), "--user", "drgp",
                                          "practice-optout", "on", "--reason", "r"])
    ctx = cli.CliContext(args)
    try:
        asked = []
        assert cli_exclusion.run_practice_optout(ctx, confirm=lambda prompt: asked.append(prompt) or True) == 0
        assert asked and "Type 'yes'" in asked[0]
    finally:
        ctx.close()
