"""GUI test fixtures: the real main window on a fresh demo register in tmp_path.

pytest-qt provides one session-scoped offscreen QApplication. Dialogs are strict:
a dialog with no queued answer fails the test instead of hanging it.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from gp_optout_desktop.ui import dialogs, worker
from gp_optout_desktop.ui.screens import _paths, _printing

DEMO_PASSWORDS = {"manager": "manager-demo-pass", "reception": "reception-demo-pass", "gp": "gp-demo-pass"}


@pytest.fixture(autouse=True)
def strict_dialogs():
    """Every dialog, file chooser and printer chooser answers only what a test queued."""
    for module in (dialogs, _paths, _printing):
        module.reset()
    dialogs.strict = True
    yield
    dialogs.strict = False
    leftover = list(dialogs._next_answers)
    for module in (dialogs, _paths, _printing):
        module.reset()
    assert not leftover, f"queued dialog answers never used: {leftover}"


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def demo_folder(demo, register_dir):
    """A demo register (300 synthetic patients) closed again, ready to unlock."""
    demo.lock()
    return register_dir


def make_window(qtbot, folder, settings, idle_ms=None):
    from gp_optout_desktop.ui.main_window import MainWindow

    window = MainWindow(folder, settings, idle_ms=idle_ms)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def unlock(qtbot, window, user="reception", password=None):
    window.unlock.user.setText(user)
    window.unlock.password.setText(password if password is not None else DEMO_PASSWORDS[user])
    window.unlock.submit()
    qtbot.waitUntil(lambda: window.session is not None, timeout=10000)
    qtbot.waitUntil(window.screens_ready, timeout=10000)  # built one per event-loop turn after the unlock
    return window.session


@pytest.fixture
def unlock_as(qtbot):
    """unlock_as(window, user="reception", password=None): unlock through the real form."""
    return lambda window, user="reception", password=None: unlock(qtbot, window, user, password)


@pytest.fixture
def new_window(qtbot, settings):
    """new_window(folder, idle_ms=None): another real main window."""
    return lambda folder, idle_ms=None: make_window(qtbot, folder, settings, idle_ms)


@pytest.fixture
def window(qtbot, demo_folder, settings):
    return make_window(qtbot, demo_folder, settings)


@pytest.fixture
def desk(qtbot, window):
    """The window unlocked as the demo receptionist, on the front desk."""
    unlock(qtbot, window)
    return window


@pytest.fixture(autouse=True)
def no_stray_workers():
    yield
    worker.wait(10000)
