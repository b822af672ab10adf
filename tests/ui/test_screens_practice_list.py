"""Practice list screen (practice manager; ui/screens/practice_list.py): choose the clinical
system's list of registered patients, see in counts what it would change with nothing written,
then bring the register up to date (all rows or none), off the UI thread; rows that cannot be
imported are listed by number only. On the register file (the screen alone) and on the real
PostgreSQL (the real window signed in to the server)."""

from __future__ import annotations

import pytest

from gp_optout_desktop.domain.nhs_number import synthetic_range
from gp_optout_desktop.services import audit as audit_service, patients, practice_list
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.bus import ChangeBus
from gp_optout_desktop.ui.screens import _paths, practice_list as list_screen
from tests.ui.helpers import wait_idle

N = synthetic_range(790_000)[-4:]
HEADER = "NHS Number,Surname,Forename,Date of Birth,Address Line 1,Postcode,Registration Status,Date of Death"


def _list(tmp_path, name: str, *rows: str):
    path = tmp_path / name
    path.write_text(HEADER + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def _choose(qtbot, screen, path) -> None:
    _paths.set_next_path(path)
    screen.choose_button.click()
    wait_idle(qtbot, screen)


def _check_then_apply(qtbot, screen, session, tmp_path, known_pid: int, absent_pid: int) -> None:
    """The same steps on either engine: a refused file, a checked one, a cancel, the import."""
    assert not screen.import_button.isEnabled() and not screen.check_button.isEnabled()
    bad = _list(tmp_path, "bad.csv", f"{N[0]},Listed,Lee,01/02/1970,1 Park Row,LS1 4AP,Registered,",
                f"{N[1]},Broken,Bea,31/02/1970,1 Park Row,LS1 4AP,Somewhere,")
    _choose(qtbot, screen, bad)
    problems = screen.problems.toPlainText()
    assert problems.startswith("Row 3:") and N[1] not in problems and "Broken" not in problems
    assert not screen.import_button.isEnabled()

    known = patients.view(session, known_pid).patient
    good = _list(tmp_path, "list.csv", f"{N[0]},Listed,Lee,01/02/1970,1 Park Row,LS1 4AP,Registered,",
                 f"{known.nhs_number},{known.surname},{known.forenames},{known.dob:%d/%m/%Y},1 Park Row,"
                 f"{known.postcode},Deducted,")
    _choose(qtbot, screen, good)
    text = screen.result.text()
    assert text.startswith("Checked, nothing written yet. The file has 2 rows: 1 new patient would be added"), text
    assert "1 would be now left the practice (deducted)" in text
    assert "1 registered patient in the register is not in this file and stayed as they were" in text
    assert screen.import_button.isEnabled() and patients.find(session, "Listed") == []

    dialogs.set_next_answer("Cancel")
    screen.import_button.click()
    assert patients.find(session, "Listed") == []
    dialogs.set_next_answer("Import the list")
    screen.import_button.click()
    wait_idle(qtbot, screen)
    assert screen.result.text().startswith("Imported the practice list. 2 rows: 1 new patient added"), \
        screen.status.text()
    assert len(patients.find(session, "Listed")) == 1 and not screen.import_button.isEnabled()
    assert [r.action for r in audit_service.query(session, action="import.practice_list")] == \
        ["import.practice_list"]
    again = practice_list.check(session, good.read_text(encoding="utf-8"))
    assert (again.patients_new, again.status_changed) == (0, {})  # applied once, all of it
    assert patients.view(session, absent_pid).patient.surname  # not in the file: untouched, still there
    screen.clear()
    assert screen.path is None and screen.result.text() == "" and not screen.check_button.isEnabled()


def test_a_manager_brings_the_register_up_to_date_on_the_register_file(qtbot, manager, add_patient, tmp_path):
    known = add_patient(manager, surname="Leaving", forenames="Lou", dob="1966-06-06")
    absent = add_patient(manager, surname="Absent", forenames="Ann", dob="1977-07-07")
    screen = list_screen.create(lambda: manager, ChangeBus())
    qtbot.addWidget(screen)
    screen.show()
    _check_then_apply(qtbot, screen, manager, tmp_path, known, absent)


@pytest.mark.server
def test_a_manager_brings_the_register_up_to_date_on_the_server(qtbot, settings, pg_db, tmp_path):
    from tests.ui.test_server_screens import _screen, _signed_in

    from gp_optout_desktop.domain import roles
    from tests.server import accounts

    reg = accounts.Register(pg_db)
    try:
        mo = reg.add_user("mo", "mo-password-1", roles.MANAGER)
        window = _signed_in(qtbot, settings, pg_db, mo, "mo-password-1")
        session = window.session
        ids = [patients.add(session, surname=s, forenames=f, dob=d, postcode_raw="LS1 4AP",
                            nhs=n).data["patient_id"]
               for s, f, d, n in (("Leaving", "Lou", "1966-06-06", N[2]), ("Absent", "Ann", "1977-07-07", N[3]))]
        screen = _screen(qtbot, window, "Practice list")
        _check_then_apply(qtbot, screen, session, tmp_path, *ids)
        window.session.lock()
    finally:
        reg.close()
