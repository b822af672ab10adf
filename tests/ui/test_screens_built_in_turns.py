"""After an unlock the window is ready at once and builds its screens one per turn of the
event loop (ADR 0014); a screen chosen before its turn is built there and then."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from gp_optout_desktop.services import session as session_service
from gp_optout_desktop.ui.screens import letters as letters_screen, settings as settings_screen


def test_screens_are_built_after_the_unlock_and_on_demand(qtbot, window, demo_folder):
    window.on_unlocked(session_service.unlock(demo_folder, "manager", "manager-demo-pass"))
    titles = [window.nav.item(i).text() for i in range(window.nav.count())]
    assert titles[-1] == "Settings" and "Letters" in titles  # the whole list at once
    assert not window.screens_ready()
    built_before = len(window._extra)  # noqa: SLF001
    assert built_before < len(titles) - 1
    window.nav.setCurrentRow(titles.index("Settings"))  # the last one, chosen first: built now
    assert isinstance(window.screens.currentWidget(), settings_screen.SettingsScreen)
    qtbot.waitUntil(window.screens_ready, timeout=20000)
    assert [title for title, _w, _b in window._extra] != []  # noqa: SLF001
    for row, title in enumerate(titles[1:], start=1):
        widget = window.screens.widget(row)
        assert not isinstance(widget, QLabel), title
        assert widget.accessibleName() == title
    window.nav.setCurrentRow(titles.index("Letters"))
    assert isinstance(window.screens.currentWidget(), letters_screen.LettersScreen)


def test_a_lock_before_every_screen_is_built_leaves_none_behind(qtbot, window, demo_folder):
    window.on_unlocked(session_service.unlock(demo_folder, "manager", "manager-demo-pass"))
    assert not window.screens_ready()
    window.lock()
    assert window.screens_ready() and window._extra == []  # noqa: SLF001
    assert window.screens.count() == 1  # the front desk only
    qtbot.wait(50)  # turns of the event loop after the lock build nothing
    assert window.screens.count() == 1
