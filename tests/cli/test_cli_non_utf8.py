"""A byte that is not UTF-8 in a command-line argument gives a clear message and exit 2,
not a traceback (issue 11, finding 10)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gp_optout_desktop import cli

REPO = Path(__file__).resolve().parents[2]


def test_a_non_utf8_argument_from_a_real_shell_is_refused_with_exit_2(cli_pm, register_dir):
    env = {**os.environ, "PYTHONPATH": str(REPO), "GP_OPTOUT_REGISTER": str(register_dir),
           "GP_OPTOUT_PASSWORD": "pm-password-1", "LC_ALL": "C.UTF-8"}
    argv = [sys.executable.encode(), b"-m", b"gp_optout_desktop.cli", b"--user", b"pm", b"patient", b"find", b"Jon\xe9s"]
    out = subprocess.run(argv, capture_output=True, env=env, timeout=120)
    assert out.returncode == 2, out.stderr
    assert b"Traceback" not in out.stderr
    assert b"argument 5 is not valid text" in out.stderr
    assert b"Jon" not in out.stderr, "the argument (maybe a patient's name) is not echoed"


def test_surrogate_escaped_arguments_and_files_are_refused(cli_pm, register_dir, tmp_path, capsys):
    code, _out, err = cli_pm("patient", "find", b"Jon\xe9s".decode("utf-8", "surrogateescape"))
    assert code == 2 and "not valid text" in err
    code = cli.main(["--register", b"/tmp/reg\xff".decode("utf-8", "surrogateescape"), "--user", "pm", "status"])
    assert code == 2 and "argument 2" in capsys.readouterr().err
    secret = tmp_path / "pw"
    secret.write_bytes(b"pm-pass\xff\n")
    code = cli.main(["--password-file", str(secret), "--user", "pm", "status", "--export"])
    assert code == 2 and "not UTF-8" in capsys.readouterr().err
