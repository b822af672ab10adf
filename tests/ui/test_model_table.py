"""Tables of models written in Python are painted from Python, so the GIL is taken once for a
paint (ui/model_table, issue 13). No timings here: the repaint while a task runs Python is a
figure in benchmarks/bench_ui.py (--only repaint), beside Qt's plain QTableView."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QHeaderView, QTableView

from gp_optout_desktop.ui.model_table import ModelTable


def test_the_headers_behave_as_a_plain_tables(qtbot):
    view, plain = ModelTable(), QTableView()
    for v in (view, plain):
        qtbot.addWidget(v)
    for ours, theirs in ((view.horizontalHeader(), plain.horizontalHeader()),
                         (view.verticalHeader(), plain.verticalHeader())):
        assert type(ours) is not QHeaderView  # painted from Python too (headerData)
        assert ours.orientation() == theirs.orientation()
        assert ours.sectionsClickable() == theirs.sectionsClickable()
        assert ours.highlightSections() == theirs.highlightSections()
        assert ours.defaultSectionSize() == theirs.defaultSectionSize()


@pytest.mark.parametrize("user", ["manager", "gp"])
def test_every_table_of_a_python_model_in_the_window_is_a_model_table(qtbot, window, unlock_as, user):
    """Each screen's table whose model answers data() in Python (worklist, findings, letters,
    audit, users, the practice-wide rows); the front desk's own Qt items need none of it."""
    unlock_as(window, user)
    for title, widget, *_ in window._extra:  # every screen this role has, built
        window.nav.setCurrentRow([window.nav.item(i).text() for i in range(window.nav.count())].index(title))
        qtbot.waitUntil(lambda w=widget: not getattr(w, "busy", False), timeout=20000)
    python_models = [view for view in window.findChildren(QTableView)
                     if type(view.model()).__module__.startswith("gp_optout_desktop")
                     and not isinstance(view.model(), QStandardItemModel)]
    assert len(python_models) >= (6 if user == "manager" else 2)
    assert all(isinstance(view, ModelTable) for view in python_models), [
        (type(v.model()).__name__, v.accessibleName()) for v in python_models if not isinstance(v, ModelTable)]
