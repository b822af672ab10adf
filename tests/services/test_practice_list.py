"""The register follows the practice list: registration states, merges, re-registration,
no letters to the deceased or deducted, all rows or none, re-runnable (real register)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from gp_optout_desktop.domain import nhs_number
from gp_optout_desktop.domain.import_rows import ImportRefused
from gp_optout_desktop.services import exclusion, letters, objections, patients, practice_list, session as sess
from gp_optout_desktop.store import registration as reg_store

N = [nhs_number.synthetic(720_000 + i) for i in range(12)]
HEADER = "NHS Number,Surname,Forename,Date of Birth,Address Line 1,Postcode,Registration Status,Registration Date,Date of Death,Previous NHS Number\n"


def csv(*rows: str) -> str:
    return HEADER + "".join(r + "\n" for r in rows)


def row(nhs, surname, dob="01/02/1970", status="Registered", registered="01/01/2001", died="", previous="",
        forename="Alex", address="1 Park Row", postcode="LS1 4AP") -> str:
    return ",".join((nhs, surname, forename, dob, address, postcode, status, registered, died, previous))


@pytest.fixture
def fixed(manager):
    manager.clock = lambda: datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
    return manager


def status_of(session, nhs) -> str:
    pid = patients.by_nhs(session, nhs).patient_id
    with session.register.reading() as conn:
        return reg_store.get(conn, pid).status


def test_a_list_adds_updates_and_sets_each_state_all_at_once(fixed, add_patient):
    known = add_patient(fixed, surname="Known", forenames="Kim", dob="1970-02-01", nhs=N[0], address=["Old Road"])
    text = csv(row(N[0], "Known", forename="Kim", address="1 New Road"),
               row(N[1], "Leaver", status="Deducted"),
               row(N[2], "Gone", status="Deceased", died="03/03/2026"),
               row(N[3], "Visitor", status="Temporary resident"),
               row(N[4], "Newcomer"))
    plan = practice_list.check(fixed, text)
    assert (plan.rows, plan.patients_new, plan.details_updated) == (5, 4, 1)
    assert patients.find(fixed, "Leaver") == []  # the check wrote nothing

    change = practice_list.import_list(fixed, text)
    assert "5 rows: 4 new patients added" in change.summary
    assert patients.view(fixed, known).patient.address == ("1 New Road",)
    assert [status_of(fixed, n) for n in N[:5]] == ["registered", "deducted", "deceased", "temporary", "registered"]

    again = practice_list.check(fixed, text)  # re-runnable: the same file changes nothing
    assert (again.patients_new, again.details_updated, again.status_changed, again.merged) == (0, 0, {}, 0)


def test_deceased_and_deducted_patients_get_no_letters_but_keep_their_history(fixed, add_patient):
    ids = [add_patient(fixed, surname=s, dob="1970-02-01", nhs=n) for s, n in (("Alive", N[0]), ("Dies", N[1]),
                                                                               ("Leaves", N[2]))]
    for pid in ids:
        objections.record(fixed, pid)
    assert len(letters.pending(fixed)) == 3
    practice_list.import_list(fixed, csv(row(N[0], "Alive"), row(N[1], "Dies", status="Died", died="01/11/2026"),
                                         row(N[2], "Leaves", status="Left")))
    assert [p.patient_name for p in letters.pending(fixed)] == ["Alex Alive"]
    assert patients.view(fixed, ids[1]).statuses["type1"].active  # the history stays, for retention
    # Fail safe: a deducted objector stays in the exclusion file until the practice says otherwise.
    listed = {r.nhs_number for r in exclusion.snapshot(fixed).rows}
    assert {N[0], N[1], N[2]} <= listed


def test_a_superseded_number_moves_the_history_to_the_new_record(fixed, add_patient):
    old = add_patient(fixed, surname="Merge", dob="1970-02-01", nhs=N[5])
    new = add_patient(fixed, surname="Merge", dob="1970-02-01", nhs=N[6])
    objections.record(fixed, old)
    change = practice_list.import_list(fixed, csv(row(N[6], "Merge", previous=N[5])))
    assert "1 superseded NHS number moved to the new number" in change.summary
    view = patients.view(fixed, new)
    assert view.statuses["type1"].active and len(view.history) == 1
    assert patients.view(fixed, old).history == [] and status_of(fixed, N[5]) == "merged"
    assert len(letters.pending(fixed)) == 1 and letters.pending(fixed)[0].patient_id == new
    from gp_optout_desktop.services import audit
    assert [r.action for r in audit.query(fixed, action="patient.merge")] == ["patient.merge"]
    assert practice_list.check(fixed, csv(row(N[6], "Merge", previous=N[5]))).merged == 0  # done once


def test_a_superseded_number_on_the_only_record_is_replaced(fixed, add_patient):
    only = add_patient(fixed, surname="Renumber", dob="1970-02-01", nhs=N[7])
    objections.record(fixed, only)
    practice_list.import_list(fixed, csv(row(N[8], "Renumber", previous=N[7])))
    assert patients.by_nhs(fixed, N[8]).patient_id == only
    assert patients.view(fixed, only).statuses["type1"].active


def test_a_returning_patient_is_flagged_as_re_registered(fixed, add_patient):
    add_patient(fixed, surname="Return", dob="1970-02-01", nhs=N[9])
    practice_list.import_list(fixed, csv(row(N[9], "Return", status="Deducted")))
    change = practice_list.import_list(fixed, csv(row(N[9], "Return", registered="20/11/2026")))
    assert "1 returning patient flagged as re-registered" in change.summary
    pid = patients.by_nhs(fixed, N[9]).patient_id
    with fixed.register.reading() as conn:
        reg = reg_store.get(conn, pid)
    assert reg.status == "registered" and reg.reregistered_on == date(2026, 11, 30) and reg.since == date(2026, 11, 20)


def test_patients_missing_from_the_file_are_counted_never_deducted(fixed, add_patient):
    add_patient(fixed, surname="Absent", dob="1970-02-01", nhs=N[10])
    change = practice_list.import_list(fixed, csv(row(N[11], "Present")))
    assert "1 registered patient in the register is not in this file and stayed as they were" in change.summary
    assert status_of(fixed, N[10]) == "registered"


@pytest.mark.parametrize("bad, reason", [
    (row(N[0], "Ghost", status="Deceased"), "a deceased patient needs the date of death"),
    (row(N[0], "Ghost", died="01/01/2026"), "the status is not deceased"),
    (row(N[0], "Ghost", status="Wandering"), "registration status is not one of"),
    (row("9990000000", "Ghost"), "NHS number"),
    (row(N[0], "Ghost", registered="01/01/2099"), "registration date is in the future"),
    (row(N[0], "Ghost", previous=N[0]), "previous NHS number is the same"),
])
def test_one_bad_row_and_nothing_is_imported_with_no_patient_echoed(fixed, bad, reason):
    revision = fixed.revision()
    with pytest.raises(ImportRefused) as refused:
        practice_list.import_list(fixed, csv(row(N[4], "Goodrow"), bad))
    assert [p.row for p in refused.value.problems] == [3] and reason in str(refused.value.problems[0])
    assert "Ghost" not in str(refused.value.problems[0]) and "Goodrow" not in str(refused.value)
    assert fixed.revision() == revision and patients.find(fixed, "Goodrow") == []


def test_rows_are_named_by_the_number_a_spreadsheet_shows_when_an_address_holds_a_line_break(fixed):
    """An address cell with a line break inside its quotes is one row over two lines of the
    file: problems, and the row a repeated number was first seen in, still count rows as a
    spreadsheet shows them (the header is row 1)."""
    revision = fixed.revision()
    text = csv(row(N[4], "Goodrow", address='"Upper flat\n1 High Street"'),          # row 2: lines 2 and 3
               row(N[5], "Ghost", status="Wandering"),                                # row 3: line 4
               row(N[4], "Goodrow", address='"Upper flat\n1 High Street"'))          # row 4: lines 5 and 6
    with pytest.raises(ImportRefused) as refused:
        practice_list.import_list(fixed, text)
    problems = [str(p) for p in refused.value.problems]
    assert [p.split(":", 1)[0] for p in problems] == ["Row 3", "Row 4"]
    assert problems[1] == "Row 4: the same NHS number as row 2"
    assert fixed.revision() == revision and patients.find(fixed, "Goodrow") == []


def test_another_date_of_birth_or_a_resurrection_is_refused(fixed, add_patient):
    add_patient(fixed, surname="Clash", dob="1980-01-01", nhs=N[0])
    with pytest.raises(ImportRefused, match="cannot be imported"):
        practice_list.import_list(fixed, csv(row(N[0], "Clash")))
    add_patient(fixed, surname="Late", dob="1970-02-01", nhs=N[1])
    practice_list.import_list(fixed, csv(row(N[1], "Late", status="Deceased", died="01/06/2026")))
    with pytest.raises(ImportRefused) as refused:
        practice_list.import_list(fixed, csv(row(N[1], "Late")))
    assert "as deceased but the file does not" in str(refused.value.problems[0])


def test_a_receptionist_cannot_import_the_list(manager, register_dir):
    from gp_optout_desktop.services import users
    users.add(manager, "desk9", "receptionist", "desk9-password-1")
    manager.lock()
    desk = sess.unlock(register_dir, "desk9", "desk9-password-1")
    try:
        with pytest.raises(PermissionError, match="import the practice's patient list"):
            practice_list.check(desk, csv(row(N[0], "Anyone")))
    finally:
        desk.lock()


def test_the_cli_checks_then_imports(cli_pm, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(csv(row(N[0], "Clilist"), row(N[1], "Cligone", status="Deceased", died="01/01/2026")),
                    encoding="utf-8")
    code, out, _ = cli_pm("practice-list", "import", "--from", str(path), "--check")
    assert code == 0 and "Checked, nothing written" in out and "2 new patients would be added" in out
    code, out, _ = cli_pm("practice-list", "import", "--from", str(path))
    assert code == 0 and "2 new patients added" in out and "Clilist" not in out
    path.write_text(csv(row(N[0], "Clilist", status="Unknownish")), encoding="utf-8")
    code, _, err = cli_pm("practice-list", "import", "--from", str(path))
    assert code == 2 and "Row 2:" in err and "Clilist" not in err


def test_an_objector_who_left_can_be_told_their_objection_travels(fixed, add_patient, tmp_path):
    from gp_optout_desktop.domain.errors import ValidationError
    from tests.letters.helpers import pdf_text

    leaver = add_patient(fixed, surname="Mover", dob="1970-02-01", nhs=N[0])
    stays = add_patient(fixed, surname="Stayer", dob="1970-02-01", nhs=N[1])
    objections.record(fixed, leaver)
    objections.record(fixed, stays)
    with pytest.raises(ValidationError, match="has not left the practice"):
        letters.queue_transferred(fixed, N[1])
    practice_list.import_list(fixed, csv(row(N[0], "Mover", status="Transferred out"), row(N[1], "Stayer")))
    assert [p.patient_id for p in letters.pending(fixed)] == [stays]  # the leaver's own letter is held
    change = letters.queue_transferred(fixed, N[0])
    assert "travels with the record by GP2GP" in change.summary
    queued = [p for p in letters.pending(fixed) if p.patient_id == leaver]
    assert [p.kind for p in queued] == ["transferred"]
    out = tmp_path / "moved.pdf"
    letters.print_batch(fixed, out, letter_ids=[queued[0].letter_id])
    text = " ".join("".join(pdf_text(out)).split())
    for expected in ("no longer registered with", "GP2GP", "Please check with your new practice",
                     "may be discontinued", "safeguarding"):
        assert expected in text, expected


def test_the_moving_letter_needs_a_type1_objection(fixed, add_patient):
    from gp_optout_desktop.domain.errors import ValidationError

    add_patient(fixed, surname="Noobj", dob="1970-02-01", nhs=N[2])
    practice_list.import_list(fixed, csv(row(N[2], "Noobj", status="Deducted")))
    with pytest.raises(ValidationError, match="no Type 1 objection"):
        letters.queue_transferred(fixed, N[2])
