"""The results table model, tested without any widget (Vorta's pattern)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItem

from gp_optout_desktop.domain import nhs_number
from gp_optout_desktop.services import patients
from gp_optout_desktop.ui.models.results_model import COLUMNS, ResultsModel

# No widget, but the rows' fonts and brushes are Qt GUI objects: they need a QApplication.
pytestmark = pytest.mark.usefixtures("qapp")


def test_surname_prefix_rows_in_database_order(demo):
    model = ResultsModel()
    model.search(demo, "sm")
    assert model.rowCount() > 0
    assert model.columnCount() == len(COLUMNS)
    names = [model.data(model.index(r, 1)) for r in range(model.rowCount())]
    assert all(name.startswith("SM") for name in names)
    assert names == sorted(names, key=lambda n: n.split(",")[0].casefold())
    assert model.summary().endswith("found.")


def test_nhs_number_with_any_spacing_finds_one(demo, add_patient):
    pid = add_patient(demo, surname="Quenby", nhs=nhs_number.synthetic(600_000))
    number = nhs_number.synthetic(600_000)
    model = ResultsModel()
    model.search(demo, f"{number[:3]} {number[3:6]}-{number[6:]}")
    assert model.rowCount() == 1
    assert model.patient_id(0) == pid
    assert model.data(model.index(0, 0)) == nhs_number.display(number)
    assert model.summary() == "1 patient found."


def test_limit_says_refine_and_clear_forgets(demo):
    model = ResultsModel(limit=5)
    model.search(demo, "s")
    assert model.rowCount() == 5
    assert model.truncated
    assert model.summary() == "Showing the first 5: refine the search."
    # the same five the service returns first: the database sorted them
    assert [model.patient_id(r) for r in range(5)] == patients.find_ids(demo, "s", 5)
    model.clear()
    assert model.rowCount() == 0 and model.summary() == ""


def test_objection_columns_follow_current_state(demo, add_patient):
    from gp_optout_desktop.services import objections

    pid = add_patient(demo, surname="Zyxobjector")
    model = ResultsModel()
    model.search(demo, "zyxobjector")
    assert model.data(model.index(0, 4)) == ""
    objections.record(demo, pid)
    model.search(demo, "zyxobjector")
    assert model.data(model.index(0, 4)) == "Objects"
    # received, not in force: the row does not know whether the code is confirmed in the clinical system
    assert model.data(model.index(0, 4), Qt.ItemDataRole.ToolTipRole) == (
        "Type 1 objection received: open the record to see whether it is in force (code confirmed)")
    assert model.data(model.index(0, 5), Qt.ItemDataRole.ToolTipRole) == "No Type 2 objection recorded"


def test_nothing_found_and_empty_query(demo):
    model = ResultsModel()
    model.search(demo, "Nosuchsurnameanywhere")
    assert model.rowCount() == 0 and model.summary() == "No patient found."
    model.search(demo, "   ")
    assert model.rowCount() == 0 and model.summary() == ""


def test_the_table_is_painted_from_qts_own_items(demo, add_patient):
    """No Python is called to paint the rows (issue 13: a Python data() per cell and role took
    the GIL back from a busy task about 1,000 times a paint): the model keeps QStandardItems,
    made with the answer off the UI thread, and overrides none of the methods a paint calls."""
    from PySide6.QtGui import QStandardItemModel

    from gp_optout_desktop.services import objections
    from gp_optout_desktop.ui.models.results_model import fetch

    for name in ("data", "flags", "rowCount", "columnCount", "headerData", "index", "parent"):
        assert getattr(ResultsModel, name) is getattr(QStandardItemModel, name), name
    pid = add_patient(demo, surname="Paintedrow")
    objections.record(demo, pid)
    found = fetch(demo, "paintedrow")
    model, other = ResultsModel(), ResultsModel()
    model.show(found)
    other.show(found)  # the same answer shown twice, by two models
    for m in (model, other):
        assert m.rowCount() == 1 and m.patient_id(0) == pid
        objects = m.index(0, 4)
        assert m.data(objects) == "Objects"
        assert m.data(objects, Qt.ItemDataRole.FontRole).bold()
        assert m.data(objects, Qt.ItemDataRole.ForegroundRole).color().name() == "#8b0000"
        no_type2 = m.index(0, 5)  # nothing to stand out: plain, with its tooltip in words
        assert m.data(no_type2) in ("", None) and m.data(no_type2, Qt.ItemDataRole.FontRole) is None
        assert m.data(no_type2, Qt.ItemDataRole.ToolTipRole) == "No Type 2 objection recorded"
        assert not m.flags(objects) & Qt.ItemFlag.ItemIsEditable
        assert m.headerData(0, Qt.Orientation.Horizontal) == COLUMNS[0]


def test_the_rows_are_plain_cpp_items_even_after_many_searches(demo):
    """A QStandardItem made in Python takes the GIL at every data() call the table makes (90-150 ms
    of waiting to lay out an answer while a task runs Python, issue 13): the rows are decoded by
    Qt instead, none made by Python, and searching again and again leaves no Python item behind
    but the prototype they are cloned from."""
    import gc

    import shiboken6

    def python_items() -> int:
        gc.collect()
        return sum(isinstance(o, QStandardItem) for o in gc.get_objects())

    model = ResultsModel()
    before = python_items()  # this model's prototype, and any other test's models'
    for text in ("s", "sm", "smith", "j", "s"):
        model.search(demo, text)
        assert model.rowCount() > 0
        assert not any(shiboken6.createdByPython(model.item(r, c))
                       for r in range(model.rowCount()) for c in range(model.columnCount()))
    assert python_items() == before


def test_a_screen_reader_hears_each_cells_text(qtbot, demo, add_patient):
    """The cells carry no accessible text of their own (decoding a copy of every text doubled
    the UI thread's work per answer): what a screen reader is given is Qt's accessible name of
    each cell, its text, "Objects" included."""
    from PySide6.QtGui import QAccessible
    from PySide6.QtWidgets import QTableView

    from gp_optout_desktop.services import objections

    pid = add_patient(demo, surname="Heardaloud", nhs=nhs_number.synthetic(600_123))
    objections.record(demo, pid)
    model = ResultsModel()
    model.search(demo, "heardaloud")
    table = QTableView()
    qtbot.addWidget(table)
    table.setModel(model)
    table.show()
    qtbot.waitExposed(table)
    view = QAccessible.queryAccessibleInterface(table)
    heard = {}
    for i in range(view.childCount()):
        cell = view.child(i)
        where = cell.tableCellInterface()
        if where is not None:
            heard[(where.rowIndex(), where.columnIndex())] = cell.text(QAccessible.Text.Name)
    assert heard[(0, 0)] == nhs_number.display(nhs_number.synthetic(600_123))
    assert heard[(0, 1)].startswith("HEARDALOUD")
    assert heard[(0, 4)] == "Objects" and heard[(0, 5)] == ""
