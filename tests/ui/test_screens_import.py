"""Import screen: choose a CSV, it is checked with nothing written, the rows that cannot be
imported are listed by number only, then an import after confirmation; managers only. The same
with the reading in a process of its own, as the desktop app runs it (ADR 0014 addendum 5), and
a child killed halfway said on the screen with nothing imported."""

from __future__ import annotations

from gp_optout_desktop import child_task
from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.nhs_number import display, synthetic_range
from gp_optout_desktop.services import audit as audit_service, patients
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.bus import ChangeBus
from gp_optout_desktop.ui.screens import SCREENS, _paths, import_objections as import_screen
from tests.ui.helpers import wait_idle

N = synthetic_range(640_000)[-3:]
HEADER = "NHS number,Surname,Forenames,DOB,Postcode,Read code,Date"


def test_check_then_import_and_a_refused_file(qtbot, manager, tmp_path):
    _check_then_import_and_a_refused_file(qtbot, manager, tmp_path)


def test_check_then_import_and_a_refused_file_read_in_a_process_of_its_own(qtbot, manager, tmp_path, apart):
    _check_then_import_and_a_refused_file(qtbot, manager, tmp_path)


def test_a_killed_child_is_said_on_the_screen_and_nothing_is_imported(qtbot, manager, tmp_path, apart):
    screen = import_screen.create(lambda: manager, ChangeBus())
    qtbot.addWidget(screen)
    screen.show()
    good = tmp_path / "good.csv"
    good.write_text(f"{HEADER}\n{N[1]},Imported,Ivy,01/01/1980,LS1 4AP,9Nu0.,06/01/2014\n", encoding="utf-8")
    _paths.set_next_path(good)
    screen.choose_button.click()
    wait_idle(qtbot, screen)
    assert screen.import_button.isEnabled()
    revision = manager.revision()
    dialogs.set_next_answer("Import")
    screen.import_button.click()
    qtbot.waitUntil(lambda: bool(child_task._live), timeout=20000)  # noqa: SLF001 - the import's child, started
    for child in list(child_task._live):  # noqa: SLF001 - killed as the OS does when memory runs out
        child.kill()
    wait_idle(qtbot, screen)
    assert "The import's reading of the file stopped before it finished" in screen.status.text()
    assert "Nothing was changed" in screen.status.text()
    assert patients.find(manager, "Imported") == [] and manager.revision() == revision
    assert audit_service.query(manager, action="import.") == []


def _check_then_import_and_a_refused_file(qtbot, manager, tmp_path):
    screen = import_screen.create(lambda: manager, ChangeBus())
    qtbot.addWidget(screen)
    screen.show()
    assert not screen.import_button.isEnabled() and not screen.check_button.isEnabled()
    assert "9Nu0." in " ".join(w.text() for w in screen.findChildren(type(screen.file_label)))

    _paths.set_next_path(tmp_path / "gone.csv")  # moved away after it was chosen
    screen.choose_button.click()
    wait_idle(qtbot, screen)
    assert "gone.csv cannot be read" in screen.status.text() and not screen.import_button.isEnabled()

    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\n{display(N[0])},Bad,Row,01/01/1980,LS1 4AP,93C3.,06/01/2014\n", encoding="utf-8")
    _paths.set_next_path(bad)
    screen.choose_button.click()
    wait_idle(qtbot, screen)
    assert "1 row cannot be imported" in screen.status.text()
    assert screen.problems.toPlainText().startswith("Row 2: 93C3. is not a GP data objection code")
    assert N[0] not in screen.problems.toPlainText() and not screen.import_button.isEnabled()

    good = tmp_path / "good.csv"
    good.write_text(f"{HEADER}\n{N[1]},Imported,Ivy,01/01/1980,LS1 4AP,9Nu0.,06/01/2014\n"
                    f"{N[2]},Imported,Ifor,02/02/1981,LS1 4AP,9Nu0,07/01/2014\n", encoding="utf-8")
    _paths.set_next_path(good)
    screen.choose_button.click()
    wait_idle(qtbot, screen)
    assert screen.result.text().startswith("Checked, nothing written yet. The file has 2 rows: 2 new patients,")
    assert screen.problems.toPlainText() == "" and screen.import_button.isEnabled()
    assert patients.find(manager, "Imported") == []

    dialogs.set_next_answer("Cancel")
    screen.import_button.click()
    assert patients.find(manager, "Imported") == []
    dialogs.set_next_answer("Import")
    screen.import_button.click()
    wait_idle(qtbot, screen)
    assert screen.result.text().startswith("Imported 2 rows: 2 new patients added")
    assert len(patients.find(manager, "Imported")) == 2 and not screen.import_button.isEnabled()
    assert [r.action for r in audit_service.query(manager, action="import.")] == ["import.objections"]
    screen.clear()  # locking forgets the file and the result
    assert screen.path is None and screen.result.text() == "" and not screen.check_button.isEnabled()


def test_import_screen_is_the_practice_managers(manager):
    spec = next(s for s in SCREENS if s.title == import_screen.TITLE)
    assert [r for r in roles.ROLES if roles.allowed(r, spec.permission)] == [roles.MANAGER]
