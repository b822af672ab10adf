"""The focus ring is drawn: the focused button's pixels carry the focus colour, the others'
do not (read back from the real window's rendering)."""

from __future__ import annotations

from PySide6.QtGui import QColor

from gp_optout_desktop.ui.style import FOCUS_COLOUR


def _has_colour(widget, colour: str) -> bool:
    image = widget.grab().toImage()
    target = QColor(colour).rgb()
    return any(image.pixel(x, image.height() // 2) == target for x in range(image.width()))


def test_the_focused_button_is_drawn_with_the_ring_and_the_others_not(qtbot, desk, add_patient):
    pid = add_patient(desk.session, surname="Focusring")
    desk.desk.open_patient(pid)
    view = desk.desk.patient
    qtbot.waitUntil(lambda: view.record_button.hasFocus(), timeout=2000)  # the app moved focus there
    buttons = [b for b in (view.record_button, view.coded_button) if b.isVisible()]
    assert _has_colour(view.record_button, FOCUS_COLOUR)
    assert not any(_has_colour(b, FOCUS_COLOUR) for b in buttons[1:])


def test_a_focused_search_box_is_drawn_differently_from_an_unfocused_one(qtbot, desk):
    front = desk.desk.front
    front.focus_search()
    qtbot.waitUntil(front.search.hasFocus, timeout=2000)
    focused = front.search.grab().toImage()
    front.new_button.setFocus()
    qtbot.waitUntil(lambda: not front.search.hasFocus(), timeout=2000)
    assert front.search.grab().toImage() != focused
