"""Locking while a screen's read is still running deletes the screen: the answer that
arrives afterwards must be dropped, not delivered to deleted widgets."""

import pytest

from gp_optout_desktop.ui import worker
from gp_optout_desktop.ui.bus import ChangeBus
from gp_optout_desktop.ui.screens import audit as audit_screen, letters as letters_screen, users as users_screen


@pytest.mark.parametrize("module", [audit_screen, letters_screen, users_screen])
def test_a_screen_deleted_mid_call_drops_the_answer(qtbot, demo, module):
    with qtbot.captureExceptions() as exceptions:
        screen = module.create(lambda: demo, ChangeBus())
        screen.show()
        screen.refresh()  # a read now running off the UI thread
        screen.deleteLater()
        qtbot.waitUntil(lambda: not worker.busy(), timeout=30000)
        qtbot.wait(50)  # deliver anything still queued
    assert exceptions == []
