"""Reconciliation's reading and comparing in a process of its own (child_task, ADR 0014
addendum, hazard H-80), through a real encrypted register: the child finds exactly what the
app finds itself; a child that dies or fails says so in words and changes nothing; a register
changed while the export was compared is compared again, and refused after three tries."""

from __future__ import annotations

import operator
from datetime import date

import pytest

from gp_optout_desktop import child_task
from gp_optout_desktop.domain.import_rows import ImportRefused
from gp_optout_desktop.services import audit, objections, reconcile
from gp_optout_desktop.store import events as events_store

from .helpers import N, emis_export, fixed
from .test_reconcile import ROWS, _counts, _register


def _export(tmp_path, rows=ROWS):
    path = tmp_path / "export.csv"
    path.write_bytes(emis_export(rows))
    return path


def _audit_rows(manager) -> int:
    return manager.register.conn.execute("SELECT count(*) FROM audit").fetchone()[0]


def _nothing_changed(manager, before_revision, before_audit):
    assert manager.revision() == before_revision
    assert _audit_rows(manager) == before_audit  # not one row: no run, no confirmation


def test_the_child_finds_what_the_app_finds_and_the_run_is_recorded(manager, add_patient, tmp_path, apart):
    ids = _register(manager, add_patient)
    fixed(manager, date(2026, 11, 12))
    path = _export(tmp_path)
    reg = manager.register
    args = (reg.db.path, reg.data_key, path, None, manager.today())
    in_child = child_task.run(reconcile._plan, *args, what="the comparison")  # noqa: SLF001
    in_app = reconcile._plan(*args)  # noqa: SLF001
    assert in_child == in_app  # the same snapshot, the same findings, item by item
    assert [i.nhs for i in in_child.found.items] and in_child.revision == manager.revision()

    result = reconcile.reconcile(manager, path)  # the service, its comparison in a child
    groups, rows = _counts(result)
    assert groups == {"a": 2, "b": 1, "c": 1, "d": 2} and rows == {"b": 2, "c": 1, "d": 2}
    assert [e.coding_state for e in events_store.history(manager.register.conn, ids["A"])] == ["confirmed"]
    (run,) = audit.query(manager, action="reconcile.run")
    assert f"run={result.run_id} rows=5 a=2 b=1 c=1 d=2 confirmed=2" in run.detail


def test_a_refusal_in_the_child_comes_back_by_row_number_with_nothing_changed(manager, add_patient, tmp_path, apart):
    _register(manager, add_patient)
    fixed(manager, date(2026, 11, 12))
    bad = list(ROWS) + [(N[6], "Nobody", "Known", date(1981, 1, 1), "LS1 4AP", "12345", date(2026, 1, 1))]
    before_revision, before_audit = manager.revision(), _audit_rows(manager)
    with pytest.raises(ImportRefused, match="cannot be reconciled, so nothing was changed") as caught:
        reconcile.reconcile(manager, _export(tmp_path, bad))
    assert [p.row for p in caught.value.problems] == [7]
    assert "Nobody" not in str(caught.value) and "Nobody" not in " ".join(map(str, caught.value.problems))
    _nothing_changed(manager, before_revision, before_audit)


def test_a_killed_child_is_said_in_words_and_nothing_is_changed(manager, add_patient, tmp_path, apart):
    ids = _register(manager, add_patient)
    fixed(manager, date(2026, 11, 12))
    path = _export(tmp_path)
    before_revision, before_audit = manager.revision(), _audit_rows(manager)
    outcome = apart.killed_during(lambda: reconcile.reconcile(manager, path))
    error = outcome.get("error")
    assert isinstance(error, child_task.ChildTaskFailed), outcome
    assert str(error).startswith("The reconciliation's comparison stopped before it finished")
    assert "Nothing was changed" in str(error)
    _nothing_changed(manager, before_revision, before_audit)
    assert [e.coding_state for e in events_store.history(manager.register.conn, ids["A"])] != ["confirmed"]


def test_an_unexpected_failure_crosses_as_its_class_name_only(apart):
    """Its text might quote patient data (a KeyError holding an NHS number): only the class crosses."""
    with pytest.raises(child_task.ChildTaskFailed) as caught:
        child_task.run(operator.getitem, {}, "9990001236", what="a test read")
    assert str(caught.value).startswith("A test read failed (KeyError)")
    assert "999" not in str(caught.value)


def test_a_register_changed_during_the_comparison_is_compared_again(manager, add_patient, tmp_path, monkeypatch):
    """In the app (no child): the first comparison's snapshot is overtaken by an objection
    recorded at the desk; the run compares again and records against the newer register."""
    ids = _register(manager, add_patient)
    fixed(manager, date(2026, 11, 12))
    late = add_patient(manager, surname="Latecomer", nhs=N[7])
    real_plan, calls = reconcile._plan, []  # noqa: SLF001

    def overtaken_once(*args):
        plan = real_plan(*args)
        calls.append(plan.revision)
        if len(calls) == 1:
            objections.record(manager, late, effective=date(2026, 11, 12))  # the desk, meanwhile
        return plan

    monkeypatch.setattr(reconcile, "_plan", overtaken_once)
    result = reconcile.reconcile(manager, _export(tmp_path))
    assert len(calls) == 2 and calls[1] == calls[0] + 1
    assert ("a", N[7]) in {(i.category, i.nhs) for i in result.items}  # the newer objection: not coded
    assert len(audit.query(manager, action="reconcile.run")) == 1
    assert ids  # the register's other findings are as in test_reconcile


def test_a_register_that_keeps_changing_is_refused_in_words_with_nothing_written(manager, add_patient, tmp_path,
                                                                                monkeypatch):
    _register(manager, add_patient)
    fixed(manager, date(2026, 11, 12))
    real_plan = reconcile._plan  # noqa: SLF001
    extra = iter(range(10))

    def always_overtaken(*args):
        plan = real_plan(*args)
        objections.record(manager, add_patient(manager, surname=f"Busy{next(extra)}"), effective=date(2026, 11, 12))
        return plan

    monkeypatch.setattr(reconcile, "_plan", always_overtaken)
    with pytest.raises(reconcile.ReconcileRefused, match="changed while the export was being compared, 3 times"):
        reconcile.reconcile(manager, _export(tmp_path))
    assert audit.query(manager, action="reconcile.run") == []
    assert not any(e.confirmed_by for e in events_store.history(manager.register.conn, _first_patient(manager)))


def _first_patient(manager) -> int:
    return manager.register.conn.execute("SELECT min(id) FROM patients").fetchone()[0]


def test_a_long_answer_comes_back_whole_in_pieces(apart):
    """Long lists cross in pieces of CHUNK items (so unpickling never holds the UI thread's GIL
    for the whole answer); they come back whole, in order, and a list shared twice stays one list."""
    items = [(i, f"row {i}", date(2026, 1, 1 + i % 28)) for i in range(3 * child_task.CHUNK + 7)]
    sent = {"items": items, "again": items, "short": [1, 2, 3], "nested": [list(range(child_task.CHUNK + 1))]}
    got = child_task.run(dict, sent, what="a test read")
    assert got == sent
    assert got["again"] is got["items"]
