"""The headless face: exit codes, one-line reasons, nothing changed on bad input."""

import os
import subprocess
import sys

import pytest

from gp_optout_desktop import cli


@pytest.fixture
def run(register_dir, monkeypatch, capsys):
    monkeypatch.setenv("GP_OPTOUT_REGISTER", str(register_dir))
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "pm-password-1")

    def run(*args, password=None):
        if password is not None:
            monkeypatch.setenv("GP_OPTOUT_PASSWORD", password)
        code = cli.main(list(args))
        out = capsys.readouterr()
        monkeypatch.setenv("GP_OPTOUT_PASSWORD", "pm-password-1")
        return code, out.out, out.err

    code, out, _ = run("--user", "pm", "init", "--ods", "F84003", "--practice-name", "Test Surgery")
    assert code == 0 and "RECOVERY KEY" in out
    return run


def test_full_flow(run):
    assert run("--user", "pm", "patient", "add", "--nhs", "999 000 0018", "--surname", "Cli", "--forenames", "Pat",
               "--dob", "1980-01-01", "--postcode", "ls14ap")[0] == 0
    code, out, _ = run("--user", "pm", "patient", "find", "cli")
    assert code == 0 and "999 000 0018" in out and "LS1 4AP" in out
    assert run("--user", "pm", "object", "--nhs", "9990000018", "--via", "post")[0] == 0
    code, out, _ = run("--user", "pm", "status", "--nhs", "9990000018")
    assert "Objects to their GP data leaving the practice, since" in out
    assert run("--user", "pm", "withdraw", "--nhs", "9990000018")[0] == 0
    code, out, _ = run("--user", "pm", "status", "--nhs", "9990000018")
    assert "Does not object" in out
    code, out, _ = run("--user", "pm", "history", "--nhs", "9990000018")
    assert out.count("\n") == 2 and "by post" in out
    code, out, _ = run("--user", "pm", "audit", "verify")
    assert code == 0 and "intact" in out


@pytest.mark.parametrize("args, expected_code, reason", [
    (("patient", "add", "--nhs", "9990000017", "--surname", "A", "--forenames", "B", "--dob", "1980-01-01",
      "--postcode", "LS1 4AP"), 2, "check digit"),
    (("patient", "add", "--surname", "A", "--forenames", "B", "--dob", "1980-01-01", "--postcode", "Q1 1AA"), 2,
     "not a UK postcode"),
    (("status", "--nhs", "9990000026"), 2, "No patient with this NHS number"),
    (("object", "--nhs", "9990000026", "--type", "type2"), 2, "No patient"),
])
def test_bad_input_gives_one_line_and_changes_nothing(run, register_dir, args, expected_code, reason):
    before = (register_dir / "register.db").stat().st_size, (register_dir / "register.keys").read_bytes()
    code, out, err = run("--user", "pm", *args)
    assert code == expected_code and reason in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "999" not in err, "no identifiers in error messages"


def test_wrong_password_is_refused_with_exit_3(run):
    code, _, err = run("--user", "pm", "audit", "verify", password="wrong-password")
    assert code == 3 and "password is wrong" in err
    code, out, _ = run("--user", "pm", "audit", "show", "--action", "login")
    assert "failed" in out, "the failed unlock reached the audit trail"


def test_receptionist_is_refused_manager_commands(run, tmp_path, monkeypatch):
    pw = tmp_path / "pw"
    pw.write_text("desk-password\n")
    assert run("--user", "pm", "user", "add", "desk", "--role", "receptionist", "--new-password-file", str(pw))[0] == 0
    code, _, err = run("--user", "desk", "backup", "--out", str(tmp_path / "b.gpob"), password="desk-password")
    assert code == 3 and "may not back up" in err
    assert not (tmp_path / "b.gpob").exists()


def test_cli_process_reports_without_traceback(tmp_path):
    env = {**os.environ, "GP_OPTOUT_REGISTER": str(tmp_path / "none"), "GP_OPTOUT_PASSWORD": "x"}
    proc = subprocess.run([sys.executable, "-m", "gp_optout_desktop.cli", "--user", "pm", "status", "--nhs",
                           "9990000018"], capture_output=True, text=True, env=env)
    assert proc.returncode == 4 and "No register found" in proc.stderr and "Traceback" not in proc.stderr


def test_status_export_says_whether_the_exclusion_file_is_current(run, tmp_path):
    code, out, _ = run("--user", "pm", "status", "--export")
    assert code == 0 and "never" in out.lower()
    assert run("--user", "pm", "export", "--out", str(tmp_path / "excl"))[0] == 0
    code, out, _ = run("--user", "pm", "status", "--export")
    assert code == 0 and "up to date" in out.lower()
    run("--user", "pm", "patient", "add", "--surname", "New", "--forenames", "P", "--dob", "1990-01-01",
        "--postcode", "M1 1AE")
    code, out, _ = run("--user", "pm", "status", "--export")
    assert "out of date" in out.lower()


def test_settings_change_letterhead_and_idle_lock(run):
    code, out, _ = run("--user", "pm", "settings", "--idle-lock", "10", "--phone", "01632 960999",
                       "--address", "2 New Road", "--address", "Newtown")
    assert code == 0 and "10 minutes" in out and "01632 960999" in out and "2 New Road" in out
    code, _, err = run("--user", "pm", "settings", "--idle-lock", "30")
    assert code == 2 and "1 to 15 minutes" in err
    code, out, _ = run("--user", "pm", "settings")
    assert "Idle lock after 10 minutes" in out and "Test Surgery (F84003)" in out


def test_patient_edit_corrects_only_the_fields_given(run):
    assert run("--user", "pm", "patient", "add", "--nhs", "999 000 0018", "--surname", "Mistyped", "--forenames", "Pat",
               "--dob", "1980-01-01", "--postcode", "ls14ap", "--address-line", "1 Lane")[0] == 0
    code, out, err = run("--user", "pm", "patient", "edit", "--nhs", "9990000018", "--surname", "Mistyed-Not",
                         "--set-nhs", "999 000 0026")
    assert code == 0 and out.strip() == "Updated Pat Mistyed-Not's NHS number and surname.", err
    code, out, _ = run("--user", "pm", "patient", "find", "999 000 0026")
    assert "MISTYED-NOT, Pat" in out and "LS1 4AP" in out and "1980-01-01" in out
    code, _, err = run("--user", "pm", "patient", "edit", "--nhs", "9990000026")
    assert code == 2 and "Nothing was changed." in err
    code, _, err = run("--user", "pm", "patient", "edit", "--nhs", "9990000026", "--postcode", "not a postcode")
    assert code == 2 and "postcode" in err.lower() and "Traceback" not in err


def test_recover_with_the_recovery_key_sets_a_new_password(run, tmp_path):
    folder = str(tmp_path / "lost")
    code, out, _ = run("--register", folder, "--user", "boss", "init", "--ods", "F84003", "--practice-name", "Lost")
    key = out.split("RECOVERY KEY", 1)[1].splitlines()[1].strip()
    (tmp_path / "key.txt").write_text(key + "\n")
    (tmp_path / "short.txt").write_text("short\n")
    (tmp_path / "new.txt").write_text("a-new-long-password\n")
    code, _, err = run("--register", folder, "--user", "boss", "recover", "--recovery-key-file", str(tmp_path / "key.txt"),
                       "--new-password-file", str(tmp_path / "short.txt"))
    assert code == 2 and "10 characters" in err  # refused before the key is used
    (tmp_path / "bad.txt").write_text("not-the-key\n")
    code, _, err = run("--register", folder, "--user", "boss", "recover", "--recovery-key-file", str(tmp_path / "bad.txt"),
                       "--new-password-file", str(tmp_path / "new.txt"))
    assert code == 3 and "Traceback" not in err
    code, out, err = run("--register", folder, "--user", "boss", "recover", "--recovery-key-file",
                         str(tmp_path / "key.txt"), "--new-password-file", str(tmp_path / "new.txt"))
    assert code == 0 and "boss can unlock with the new password" in out, err
    code, out, _ = run("--register", folder, "--user", "boss", "audit", "verify", password="a-new-long-password")
    assert code == 0 and "intact" in out
    assert run("--register", folder, "--user", "boss", "audit", "verify")[0] == 3  # the old password is gone


def test_an_adult_dependant_is_refused_by_the_cli_too(run):
    for nhs, dob in (("999 000 0018", "1980-01-01"), ("999 000 0026", "2001-05-05")):
        assert run("--user", "pm", "patient", "add", "--nhs", nhs, "--surname", "Cli", "--forenames", "Pat",
                   "--dob", dob, "--postcode", "ls14ap")[0] == 0
    code, out, err = run("--user", "pm", "object", "--nhs", "9990000018", "--dependant", "9990000026")
    assert code != 0 and "nobody aged 16 or over can be added as a dependant" in err
    assert "No Type 1 objection recorded" in run("--user", "pm", "status", "--nhs", "9990000026")[1]
