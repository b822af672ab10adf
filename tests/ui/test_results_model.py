"""The results table model, tested without any widget (Vorta's pattern)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from gp_optout_desktop.domain import nhs_number
from gp_optout_desktop.services import patients
from gp_optout_desktop.ui.models.results_model import COLUMNS, ResultsModel


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
    assert model.data(model.index(0, 0), Qt.ItemDataRole.UserRole) == pid
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
    assert model.data(model.index(0, 4), Qt.ItemDataRole.ToolTipRole) == "Type 1 objection in force"


def test_nothing_found_and_empty_query(demo):
    model = ResultsModel()
    model.search(demo, "Nosuchsurnameanywhere")
    assert model.rowCount() == 0 and model.summary() == "No patient found."
    model.search(demo, "   ")
    assert model.rowCount() == 0 and model.summary() == ""
