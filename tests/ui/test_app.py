"""The entry point: ``python -m gp_optout_desktop.ui.app`` takes --register and opens the right screen."""

from __future__ import annotations

import subprocess
import sys

from gp_optout_desktop.ui.app import parse_args


def test_module_runs_and_takes_a_register_folder():
    out = subprocess.run([sys.executable, "-m", "gp_optout_desktop.ui.app", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "--register" in out.stdout


def test_parse_args(tmp_path):
    assert parse_args(["--register", str(tmp_path)]).register == tmp_path
    assert parse_args([]).register is None


def test_existing_register_opens_at_unlock_and_new_folder_at_first_run(qtbot, demo_folder, tmp_path, new_window):
    assert new_window(demo_folder).pages.currentWidget().__class__.__name__ == "UnlockWidget"
    fresh = new_window(tmp_path / "nothing-here")
    assert fresh.pages.currentWidget() is fresh.first_run
    assert not (tmp_path / "nothing-here").exists()  # nothing is written until the user chooses
