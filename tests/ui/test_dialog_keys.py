"""Confirmation dialogs answerable from the keyboard: every button has an Alt-key, explicit
ones kept, no two alike; answers come back without the '&'."""

from __future__ import annotations

from gp_optout_desktop.ui import dialogs


def test_every_button_gets_a_distinct_alt_key():
    assert dialogs.with_mnemonics(("Discard", "Keep editing")) == ["&Discard", "&Keep editing"]
    assert dialogs.with_mnemonics(("Delete", "Don't delete")) == ["&Delete", "D&on't delete"]
    assert dialogs.with_mnemonics(("Yes", "&Yes please")) == ["Y&es", "&Yes please"]
    assert dialogs.with_mnemonics(("Save && close", "Cancel")) == ["&Save && close", "&Cancel"]


def test_answers_come_back_plain():
    dialogs.set_next_answer("&Discard")
    assert dialogs.ask(None, "t", "x", ("&Discard", "&Keep editing"), default="Keep editing") == "Discard"
    assert dialogs.plain("Save && close") == "Save & close"
