"""A table view for a model written in Python (the worklist, the reconciliation's findings,
letters, audit, users, the practice-wide rows), painted in one turn with the GIL.

A paint asks the model's ``data()`` about 1,600 times for a screenful of a 9-column table,
each call from C++ into Python taking the GIL and giving it back. While a task runs Python on
a worker thread, every one of those takes waited for the task to give the GIL up (the switch
interval, 1 ms: ui.responsive): repainting the Reconcile screen's 100,000 findings took
300-510 ms in most runs against 8-12 ms idle (issue 13; ADR 0014 addendum 8). The paint itself is entered from
Python here, so the GIL is taken once and held, apart from the task's turns, until the paint
ends; the headers are painted the same way (``headerData``).

The front desk's results need none of this: Qt's own items answer its table (results_model).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableView


class _Header(QHeaderView):
    def __init__(self, orientation, parent):
        super().__init__(orientation, parent)
        self.setSectionsClickable(True)  # as QTableView's own headers are
        self.setHighlightSections(True)

    def paintEvent(self, event) -> None:  # entered from Python: the GIL is held for the whole paint
        super().paintEvent(event)


class ModelTable(QTableView):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHorizontalHeader(_Header(Qt.Orientation.Horizontal, self))
        self.setVerticalHeader(_Header(Qt.Orientation.Vertical, self))

    def paintEvent(self, event) -> None:  # entered from Python: the GIL is held for the whole paint
        super().paintEvent(event)
