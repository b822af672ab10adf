"""The Import and Reconcile screens on a server register (ADR 0015 addendum, srvdata15): the real
main window, signed in as a practice manager on the real PostgreSQL the tests start, importing a
clinical system's CSV and reconciling against its export, then checked through the services
from another desk's session on the same practice."""

from __future__ import annotations

from datetime import date

import pytest

from gp_optout_desktop.domain.nhs_number import display, synthetic_range
from gp_optout_desktop.services import audit as audit_service, patients, reconcile
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.screens import _paths
from tests.coding.helpers import emis_export
from tests.ui.helpers import wait_idle
from tests.ui.test_server_screens import _screen, _signed_in, server  # noqa: F401  (server: the fixture)

pytestmark = pytest.mark.server
N = synthetic_range(760_000)[-4:]
HEADER = "NHS number,Surname,Forenames,DOB,Postcode,Read code,Date"
T1 = "827241000000103"


def test_a_manager_imports_and_reconciles_on_the_server(qtbot, settings, pg_db, server, tmp_path):  # noqa: F811
    window = _signed_in(qtbot, settings, pg_db, server.mo, "mo-password-1")

    screen = _screen(qtbot, window, "Import")
    good = tmp_path / "coded.csv"
    good.write_text(f"{HEADER}\n{N[0]},Imported,Ivy,01/01/1980,LS1 4AP,9Nu0.,06/01/2014\n"
                    f"{N[1]},Imported,Ifor,02/02/1981,LS1 4AP,9Nu0,07/01/2014\n", encoding="utf-8")
    _paths.set_next_path(good)
    screen.choose_button.click()
    wait_idle(qtbot, screen)
    assert screen.result.text().startswith("Checked, nothing written yet. The file has 2 rows: 2 new patients,"), \
        screen.status.text()
    assert patients.find(server.manager, "Imported") == []  # the check wrote nothing on the server
    dialogs.set_next_answer("Import")
    screen.import_button.click()
    wait_idle(qtbot, screen)
    assert screen.result.text().startswith("Imported 2 rows: 2 new patients added"), screen.status.text()
    found = patients.find(server.manager, "Imported")  # another desk's session sees them
    assert len(found) == 2
    ivy = patients.view(server.manager, patients.by_nhs(server.manager, N[0]).patient_id)
    assert ivy.statuses["type1"].active and ivy.history[0].coding_state == "confirmed"

    # A patient recorded at a desk, not yet coded: the export shows it coded, so it is confirmed.
    from gp_optout_desktop.services import objections

    pid = patients.add(server.manager, surname="Desk", forenames="Dora", dob="1975-05-05", postcode_raw="LS1 4AP",
                       nhs=N[2]).data["patient_id"]
    objections.record(server.manager, pid, effective=date(2026, 1, 5), received=date(2026, 1, 5))
    screen = _screen(qtbot, window, "Reconcile")
    assert screen.summary.text() == "The register has never been reconciled."
    export = tmp_path / "export.csv"
    export.write_bytes(emis_export([
        (N[0], "Imported", "Ivy", date(1980, 1, 1), "LS1 4AP", T1, date(2014, 1, 6)),
        (N[1], "Imported", "Ifor", date(1981, 2, 2), "LS1 4AP", T1, date(2014, 1, 7)),
        (N[2], "Desk", "Dora", date(1975, 5, 5), "LS1 4AP", T1, date(2026, 1, 5)),
        (N[3], "Gee", "Gwen", date(1990, 3, 3), "LS1 4AP", T1, date(2020, 3, 3)),  # (b): only in the clinical system
    ]))
    _paths.set_next_path(export)
    screen.choose_button.click()
    wait_idle(qtbot, screen)
    text = screen.summary.text()
    assert text.startswith("Reconciliation 1: 4 rows read from export.csv"), screen.status.text()
    assert "(b) 1 in the clinical system but not in the register" in text and "(d) 3 agreeing" in text
    assert screen.model.rowCount() == 4 and screen.import_button.isEnabled()
    assert patients.view(server.manager, pid).history[0].coding_state == "confirmed"  # by reconciliation 1

    report = tmp_path / "report.csv"
    _paths.set_next_path(report)
    screen.report_button.click()
    wait_idle(qtbot, screen)
    assert report.read_bytes().startswith(b"\xef\xbb\xbfcategory,") and display(N[3]).encode() in report.read_bytes()

    dialogs.set_next_answer("Import")
    screen.import_button.click()
    wait_idle(qtbot, screen)
    assert not screen.import_button.isEnabled()
    assert len(patients.find(server.manager, "Gee")) == 1
    assert reconcile.last_run_for(server.manager).run_id == 1
    actions = [r.action for r in audit_service.query(server.manager, limit=200)]
    assert {"import.objections", "reconcile.run", "reconcile.report"} <= set(actions)
    assert actions.count("import.objections") == 2  # the file, then (b) in one step
    window.lock()


def test_a_gp_turns_the_practice_wide_opt_out_on_and_off_on_the_server(qtbot, settings, pg_db, server):  # noqa: F811
    """Its code rows have a server home (server schema V6): turning it on lists a practice-wide add for
    each patient on the coding worklist, turning it off lists the removals; the screen shows both."""
    from gp_optout_desktop.domain import roles
    from gp_optout_desktop.services import coding, exclusion

    for i in range(2):
        patients.add(server.manager, surname=f"Wide{i}", forenames="Will", dob="1960-01-01", postcode_raw="LS1 4AP",
                     nhs=N[i])
    doc = server.add_user("doc", "doc-password-1", roles.GP)
    window = _signed_in(qtbot, settings, pg_db, doc, "doc-password-1")
    screen = _screen(qtbot, window, "Practice-wide opt-out")
    assert "OFF" in screen.state.text() and screen.coding.text().startswith("In the clinical system: 0 ")

    screen.reason.setText("Partners' decision, practice meeting")
    dialogs.set_next_answer("Turn it on")
    screen.change_button.click()
    wait_idle(qtbot, screen)
    assert "ON" in screen.state.text(), screen.status.text()
    assert screen.coding.text().startswith("In the clinical system: 2 practice-wide Type 1 codes to add, 0 to remove")
    listed = [(i.source, i.op, i.nhs_number) for i in coding.worklist(server.manager).items]
    assert sorted(listed) == [("practice-wide", "add", N[0]), ("practice-wide", "add", N[1])]

    screen.reason.setText("Decision reversed")
    dialogs.set_next_answer("Turn it off")
    screen.change_button.click()
    wait_idle(qtbot, screen)
    assert "OFF" in screen.state.text() and not exclusion.practice_optout_status(server.manager).on
    assert screen.coding.text().startswith("In the clinical system: 0 practice-wide Type 1 codes to add, 2 to remove")
    actions = [r[3] for r in server.audit()]
    assert actions.count("coding.practice_wide.add") == 1 and actions.count("coding.practice_wide.remove") == 1
    window.lock()


def test_a_manager_sees_the_overview_and_works_the_coding_screen_on_the_server(qtbot, settings, pg_db, server,  # noqa: F811
                                                                              tmp_path):
    """Their services were on the seam (serverreads); the coding target now is too, so both
    screens run on the server: the counts, the worklist, the target saved, the CSV written."""
    from gp_optout_desktop.services import coding, objections

    for i in range(3):
        pid = patients.add(server.manager, surname=f"Coded{i}", forenames="Cat", dob="1960-01-01",
                           postcode_raw="LS1 4AP", nhs=N[i]).data["patient_id"]
        objections.record(server.manager, pid)
    window = _signed_in(qtbot, settings, pg_db, server.mo, "mo-password-1")
    screen = _screen(qtbot, window, "Overview")
    assert screen.status.text() == "" and screen.tiles["patients"].figure.text() == "3"

    screen = _screen(qtbot, window, "Coding")
    assert screen.status.text() == "" and screen.model.rowCount() == 3 and screen.target.value() == 5
    screen.target.setValue(8)
    screen.target_button.click()
    wait_idle(qtbot, screen)
    assert coding.target_days(server.manager) == 8, screen.status.text()
    out = tmp_path / "worklist.csv"
    _paths.set_next_path(out)
    screen.csv_button.click()
    wait_idle(qtbot, screen)
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 4 and lines[0].startswith("ref,action,source,nhs_number")
    actions = [r[3] for r in server.audit()]
    assert "settings.coding_target" in actions and "coding.worklist.csv" in actions
    window.lock()
