"""A screen that fails to build: the rest of the desk works, the user is told what to do, and
the failure is logged without the exception's message (which could quote a patient)."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QLabel

from gp_optout_desktop.ui import main_window
from gp_optout_desktop.ui.screens import ScreenSpec

PATIENT_WORDS = "Zqxmarkerson 9990000018"


def _broken(_session_provider, _bus):
    raise KeyError(PATIENT_WORDS)  # as a screen's own bug might, quoting what it was reading


def test_a_screen_that_cannot_be_built_says_what_to_do_and_is_logged(qtbot, window, unlock_as, monkeypatch, caplog):
    real = main_window.load_screens()
    monkeypatch.setattr(main_window, "load_screens", lambda: [*real, ScreenSpec("Broken", "search", _broken)])
    caplog.set_level(logging.WARNING, logger="gp_optout_desktop")
    unlock_as(window, "reception")
    titles = [window.nav.item(i).text() for i in range(window.nav.count())]
    assert titles[-1] == "Broken" and "Overview" in titles  # the other screens still open
    broken = dict((title, widget) for title, widget, _bus in window._extra)["Broken"]
    assert isinstance(broken, QLabel)
    text = broken.text()
    assert "The Broken screen could not be opened. Nothing was changed." in text
    assert "Lock the register (Ctrl+L) and unlock it again" in text and "IT support" in text
    assert PATIENT_WORDS not in text
    records = [r for r in caplog.records if r.name == "gp_optout_desktop.ui.main_window"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    logged = records[0].getMessage()
    assert "The Broken screen could not be built (KeyError at " in logged and "_broken" in logged
    assert "Zqxmarkerson" not in logged and "9990000018" not in logged
