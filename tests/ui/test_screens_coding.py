"""Coding and Reconcile screens through a real register: the worklist with overdue rows
highlighted, export and checklist for managers, view only for receptionists; a reconciliation
from a chosen file (Windows-1252 refused until chosen), its findings, the report and the one-step
import; the overview's reconciliation tile red while (a) holds codes past the target."""

from __future__ import annotations

from datetime import date

from pypdf import PdfReader

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.nhs_number import display
from gp_optout_desktop.services import objections, session as session_service, users
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.bus import ChangeBus
from gp_optout_desktop.ui.models.coding_model import OVERDUE_BACKGROUND
from gp_optout_desktop.ui.screens import SCREENS, _paths, coding as coding_screen, overview as overview_screen
from gp_optout_desktop.ui.screens import reconcile as reconcile_screen
from PySide6.QtCore import Qt
from tests.coding.helpers import N, emis_export, fixed, systmone_export
from tests.ui.helpers import wait_idle

T1 = "827241000000103"


def _two_objectors(manager, add_patient):
    fixed(manager, date(2026, 11, 2))
    old = add_patient(manager, surname="Ap Rhys", forenames="Siân", dob="1950-02-03", nhs=N[0])
    objections.record(manager, old)
    fixed(manager, date(2026, 11, 12))
    new = add_patient(manager, surname="Bell", forenames="Tom", dob="1980-01-01", nhs=N[1])
    objections.record(manager, new)
    return old, new


def test_worklist_screen_highlights_overdue_and_exports(qtbot, manager, add_patient, tmp_path):
    _two_objectors(manager, add_patient)
    screen = coding_screen.create(lambda: manager, ChangeBus())
    qtbot.addWidget(screen)
    screen.show()
    wait_idle(qtbot, screen)
    m = screen.model
    assert m.rowCount() == 2
    assert m.text(0, 0).startswith("OVERDUE") and m.text(0, 2) == display(N[0]) and m.text(0, 3) == "Siân Ap Rhys"
    assert m.data(m.index(0, 3), Qt.BackgroundRole) == OVERDUE_BACKGROUND
    assert m.data(m.index(1, 3), Qt.BackgroundRole) is None and not m.text(1, 0).startswith("OVERDUE")
    assert T1 in m.text(0, 5) and m.text(0, 6) == "9Nu0. / XaZ89" and m.text(0, 8) == "Pending"
    assert "1 past the coding target" in screen.summary.text()
    assert screen.csv_button.isVisible() and screen.target.value() == 5

    out = tmp_path / "w.csv"
    _paths.set_next_path(out)
    screen.csv_button.click()
    wait_idle(qtbot, screen)
    assert display(N[0]) in out.read_text(encoding="utf-8-sig") and "Coding worklist written" in screen.status.text()
    pdf = tmp_path / "c.pdf"
    _paths.set_next_path(pdf)
    screen.pdf_button.click()
    wait_idle(qtbot, screen)
    assert "OVERDUE" in PdfReader(pdf).pages[0].extract_text()

    screen.target.setValue(10)
    screen.target_button.click()
    wait_idle(qtbot, screen)
    assert not m.text(0, 0).startswith("OVERDUE")  # the change reloaded the screen


def test_receptionist_sees_the_worklist_without_export(qtbot, manager, add_patient, register_dir):
    _two_objectors(manager, add_patient)
    users.add(manager, "desk", roles.RECEPTIONIST, "desk-password-1")
    manager.lock()
    desk = session_service.unlock(register_dir, "desk", "desk-password-1")
    screen = coding_screen.create(lambda: desk, ChangeBus())
    qtbot.addWidget(screen)
    screen.show()
    wait_idle(qtbot, screen)
    assert screen.model.rowCount() == 2
    assert not screen.csv_button.isVisible() and not screen.target_button.isVisible()
    titles = {s.title for s in SCREENS if roles.allowed(roles.RECEPTIONIST, s.permission)}
    assert "Coding" in titles and "Reconcile" not in titles
    desk.lock()


def test_reconcile_screen_runs_reports_and_imports(qtbot, manager, add_patient, tmp_path):
    _two_objectors(manager, add_patient)
    bus = ChangeBus()
    screen = reconcile_screen.create(lambda: manager, bus)
    overview = overview_screen.create(lambda: manager, bus)
    for w in (screen, overview):
        qtbot.addWidget(w)
        w.show()
    wait_idle(qtbot, screen, overview)
    assert "never been reconciled" in screen.summary.text() and not screen.problems.isVisible()
    assert overview.tiles["reconciled"].figure.text() == "Never"

    export = tmp_path / "s1.csv"
    export.write_bytes(systmone_export([
        (N[1], "Bell", "Tom", date(1980, 1, 1), "LS1 4AP", "XaZ89", date(2026, 11, 12)),
        (N[2], "Cole", "Siân", date(1970, 7, 7), "LS1 4AP", "XaZ89", date(2019, 4, 1)),  # GP2GP, (b)
    ]))
    _paths.set_next_path(export)
    screen.choose_button.click()
    wait_idle(qtbot, screen)
    assert "--encoding cp1252" in screen.status.text() and "Siân" not in screen.status.text()
    assert screen.model.rowCount() == 0 and not screen.report_button.isEnabled()

    screen.encoding.setCurrentIndex(1)  # Windows-1252
    screen.again_button.click()
    wait_idle(qtbot, screen, overview)
    assert screen.model.rowCount() == 3
    groups = [screen.model.text(r, 0) for r in range(3)]
    assert groups == ["(a) NOT CODED", "(b) Not in the register", "(d) Agrees"]
    assert screen.model.data(screen.model.index(0, 0), Qt.BackgroundRole) is not None
    assert "semicolon-separated" in screen.summary.text() and "1 code newly confirmed" in screen.status.text()
    assert overview.tiles["reconciled"].figure.styleSheet()  # red: Siân's code is past the target
    assert "(a) 1 not coded" in overview.tiles["reconciled"].caption.text()

    report = tmp_path / "report.csv"
    _paths.set_next_path(report)
    screen.report_button.click()
    wait_idle(qtbot, screen)
    assert display(N[2]) in report.read_text(encoding="utf-8-sig")

    assert screen.import_button.isEnabled()
    dialogs.set_next_answer("Import")
    screen.import_button.click()
    wait_idle(qtbot, screen)
    assert "Imported 1 row" in screen.status.text() and not screen.import_button.isEnabled()


def test_reconcile_screen_lists_bad_rows_by_number_only(qtbot, manager, tmp_path):
    screen = reconcile_screen.create(lambda: manager, ChangeBus())
    qtbot.addWidget(screen)
    screen.show()
    wait_idle(qtbot, screen)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(emis_export([(N[3], "Secret", "Name", date(1970, 1, 1), "LS1 4AP", "93C3.", date(2020, 1, 1))]))
    _paths.set_next_path(bad)
    screen.choose_button.click()
    wait_idle(qtbot, screen)
    assert screen.problems.isVisible()
    assert screen.problems.toPlainText().startswith("Row 2: 93C3. is not a GP data objection code")
    assert "Secret" not in screen.problems.toPlainText() + screen.status.text()
    assert "nothing was changed" in screen.status.text()


def test_practice_wide_screen_says_what_is_left_to_code(qtbot, manager, add_patient, register_dir):
    from gp_optout_desktop.services import exclusion
    from gp_optout_desktop.ui.screens import practice_optout

    for n in range(3):
        add_patient(manager, surname=f"P{n}", nhs=N[20 + n])
    objections.record(manager, add_patient(manager, surname="Own", nhs=N[23]))
    users.add(manager, "drgp", roles.GP, "gp-password-1")
    manager.lock()
    gp = session_service.unlock(register_dir, "drgp", "gp-password-1")
    screen = practice_optout.create(lambda: gp, ChangeBus())
    qtbot.addWidget(screen)
    screen.show()
    wait_idle(qtbot, screen)
    dialogs.set_next_answer("Turn it on")
    screen.reason.setText("Partners' decision")
    screen.change_button.click()
    wait_idle(qtbot, screen)
    qtbot.waitUntil(lambda: "3 practice-wide Type 1 codes to add" in screen.coding.text(), timeout=10000)
    assert "3 practice-wide codes to add" in screen.status.text()
    gp.lock()
