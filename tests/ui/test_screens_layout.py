"""Every manager/GP screen fits a 1366x768 laptop inside the real window, and every control
can be reached by keyboard and is named for a screen reader."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QComboBox, QDateEdit, QLineEdit, QPlainTextEdit,
                               QHeaderView, QLabel, QTabBar)

from gp_optout_desktop.ui.screens.base import Screen


def inside(control, kinds) -> bool:
    parent = control.parent()
    while parent is not None:
        if isinstance(parent, kinds):
            return True
        parent = parent.parent()
    return False


def screens_for(window, unlock_as, user):
    unlock_as(window, user)
    return [(title, widget) for title, widget, *_ in window._extra]


@pytest.mark.parametrize("user", ["manager", "gp"])
def test_screens_fit_1366x768(qtbot, window, unlock_as, user):
    window.resize(1366, 768)
    for title, widget in screens_for(window, unlock_as, user):
        titles = [window.nav.item(i).text() for i in range(window.nav.count())]
        window.nav.setCurrentRow(titles.index(title))
        qtbot.waitUntil(lambda w=widget: not w.busy, timeout=20000)
        hint, room = widget.minimumSizeHint(), window.screens.size()
        assert hint.width() <= room.width() and hint.height() <= room.height(), \
            f"{title} needs {hint.width()}x{hint.height()}, has {room.width()}x{room.height()}"


@pytest.mark.parametrize("user", ["manager", "gp"])
def test_every_control_is_named_and_reachable_by_keyboard(window, unlock_as, user):
    for title, widget in screens_for(window, unlock_as, user):
        assert isinstance(widget, Screen)
        for control in widget.findChildren(QAbstractButton):
            if control.objectName().startswith("qt_") or isinstance(control.parent(), QTabBar):
                continue  # Qt's own parts (a table's corner button, a tab bar's scroll arrows)
            assert control.text() or control.accessibleName(), f"{title}: a button without a name"
            assert control.focusPolicy() & Qt.TabFocus, f"{title}: '{control.text()}' cannot be tabbed to"
        for kind in (QLineEdit, QComboBox, QDateEdit, QAbstractItemView, QPlainTextEdit):
            for control in widget.findChildren(kind):
                if isinstance(control, QHeaderView) or inside(control, (QComboBox, QDateEdit)):
                    continue  # a table's header, the inner parts of a combo box or date field
                labelled = any(isinstance(l, QLabel) and l.buddy() is control for l in widget.findChildren(QLabel))
                assert control.accessibleName() or labelled, f"{title}: an unnamed {kind.__name__}"
                assert control.focusPolicy() & Qt.TabFocus, f"{title}: an unreachable {kind.__name__}"
