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


def test_one_window_per_register(qtbot, tmp_path):
    from gp_optout_desktop.ui import app, dialogs

    folder = tmp_path / "register"
    first = app.window_lock(folder)
    assert first is not None and not folder.exists()  # the lock sits beside the folder, which is not created
    assert app.window_lock(folder) is None  # a second window is refused while the first is open
    dialogs.set_next_answer("OK")
    assert app.main(["--register", str(folder)]) == 1
    assert dialogs.shown[-1][0] == app.ALREADY_OPEN
    first.unlock()
    again = app.window_lock(folder)
    assert again is not None
    again.unlock()


def test_a_crashed_windows_lock_is_taken_over(tmp_path):
    import os
    import signal

    from gp_optout_desktop.ui import app

    folder = tmp_path / "register"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from gp_optout_desktop.ui import app; "
                               f"lock = app.window_lock(Path({str(folder)!r})); print(lock is not None, flush=True); "
                               "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "True"
        assert app.window_lock(folder) is None
        os.kill(holder.pid, signal.SIGKILL)  # a crash: the lock file stays behind
        holder.wait(10)
        taken = app.window_lock(folder)
        assert taken is not None
        taken.unlock()
    finally:
        if holder.poll() is None:
            holder.kill()


def test_no_lock_possible_still_starts(tmp_path):
    from gp_optout_desktop.ui import app

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the register's parent folder would be")
    lock = app.window_lock(blocker / "register")
    assert lock is not None  # unguarded rather than refusing to start
    lock.unlock()
