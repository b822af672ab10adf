"""Importing the objections coded in the clinical system, through a real encrypted register:
all rows or none, matched by NHS number, already-recorded events skipped, statuses by the
latest event, nothing echoed about a patient in the problems; then the exclusion file."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.import_rows import ImportRefused
from gp_optout_desktop.domain.nhs_number import display, synthetic_range
from gp_optout_desktop.exclusion.reader import read_export
from gp_optout_desktop.exclusion.signing import load_public_key_pem
from gp_optout_desktop.services import audit, exclusion, importer, letters, patients, session as session_service, users

N = synthetic_range(620_000)[-8:]  # above every other test's numbers

HEADER = "NHS Number,Surname,Forename(s),Date of Birth,Postcode,Address Line 1,Clinical Code,Code Date"


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\ufeff" + "\r\n".join((header, *rows)) + "\r\n"  # as a Windows tool writes it


GOOD = csv_text(
    f"{display(N[0])},Ó Súilleabháin,Siân,03/02/1950,LL30 1AA,Tŷ Gwyn,9Nu0.,06/01/2014",
    f"{N[0]},Ó Súilleabháin,Siân,03/02/1950,LL30 1AA,Tŷ Gwyn,XaZ8a,2016-05-01",   # withdrew later (CTV3)
    f"{N[1]},Evans,Ifan,1975-01-01,ls1 4ap,,9Nu4,12/03/2015",                      # Type 2, before the cut-off
    f"{N[2]},O'Brien-Jones,Megan,09/09/1982,CF10 1AA,,827241000000103,2021-06-20",  # SNOMED CT
    f"{N[3]},Known,Pat,1960-06-06,M1 1AE,,9Nu0,2019-01-01",                         # already in the register
    "",
)


def _fixed(session, day=date(2025, 3, 20)):
    session.clock = lambda: datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)


def test_import_adds_patients_and_coded_history_with_no_letters(manager, add_patient, tmp_path):
    _fixed(manager)
    known = add_patient(manager, surname="Known", forenames="Pat", dob="1960-06-06", postcode="M1 1AE", nhs=N[3])
    plan = importer.check(manager, GOOD)
    assert (plan.rows, plan.patients_new, plan.patients_known, plan.events_new, plan.events_known) == (5, 3, 1, 5, 0)
    assert patients.find(manager, "Evans") == []  # the check wrote nothing

    change = importer.import_objections(manager, GOOD)
    assert change.summary.startswith("Imported 5 rows: 3 new patients added, 1 already in the register; "
                                     "5 coded events added, 0 already recorded (skipped).")
    siân = patients.view(manager, patients.by_nhs(manager, N[0]).patient_id)
    assert siân.patient.surname == "Ó Súilleabháin" and siân.patient.address == ("Tŷ Gwyn",)
    assert not siân.statuses["type1"].active  # the withdrawal is the latest event
    assert [(e.action, e.via) for e in siân.history] == [("register", "import"), ("withdraw", "import")]
    assert all(e.coded_at is not None and e.coded_by == "pm" for e in siân.history)  # they came from the clinical system
    assert all(e.coding_state == "confirmed" and e.confirmed_by == "import" for e in siân.history)
    assert patients.view(manager, patients.by_nhs(manager, N[1]).patient_id).statuses["type2"].active
    assert patients.view(manager, known).statuses["type1"].active
    assert letters.pending(manager) == []  # answered when they were first made
    rows = audit.query(manager, action="import.objections")
    assert len(rows) == 1 and "rows=5 patients_new=3 events_new=5" in rows[0].detail

    # Importing the same file again changes nothing.
    again = importer.import_objections(manager, GOOD)
    assert again.data["plan"].events_new == 0 and again.data["plan"].events_known == 5

    # The exclusion file lists exactly the patients whose latest event is an objection.
    exclusion.export(manager, tmp_path / "x")
    key = load_public_key_pem(exclusion.public_key_pem(manager)[0])
    listed = {r.nhs_number for r in read_export(tmp_path / "x", key, practice_ods="F84003",
                                                state_path=tmp_path / "state.json", now=manager.now()).rows}
    assert listed == {N[2], N[3]}  # N[1] has only a legacy Type 2: never listed (format version 2)


def test_one_bad_row_and_nothing_is_imported_with_every_problem_named_by_row(manager, add_patient):
    _fixed(manager)
    add_patient(manager, surname="Clash", forenames="Ann", dob="1970-01-01", nhs=N[7])
    revision, count = manager.revision(), len(patients.find(manager, "a"))
    bad = csv_text(
        f"{N[4]},Good,Row,1980-01-01,LS1 4AP,,9Nu0.,2014-02-02",
        "9990000011,Bad,Check,1980-01-01,LS1 4AP,,9Nu0.,2014-02-02",       # check digit
        f"{N[5]},Scr,Code,1980-01-01,LS1 4AP,,93C3.,2014-02-02",            # a Summary Care Record code
        f"{N[6]},Late,Typetwo,1980-01-01,LS1 4AP,,9Nu4.,2019-01-01",        # Type 2 after the cut-off
        f"{N[4]},Good,Row,1981-01-01,LS1 4AP,,9Nu1.,2015-02-02",            # same number, other birth date
        f"{N[7]},Clash,Ann,1971-01-01,LS1 4AP,,9Nu0.,2014-02-02",           # the register disagrees
        f"{N[5]},Future,Date,1980-01-01,LS1 4AP,,9Nu0.,2099-01-01",
        f"{N[5]},No,Postcode,1980-01-01,QQ1 1QQ,,9Nu0.,2014-02-02",
    )
    with pytest.raises(ImportRefused) as refused:
        importer.import_objections(manager, bad)
    problems = [str(p) for p in refused.value.problems]
    assert problems[0] == "Row 3: Not a valid NHS number: the check digit does not match (a digit may be mistyped)."
    assert problems[1] == ("Row 4: 93C3. is not a GP data objection code: it means 'Summary Care Record consent "
                           "preference (not a GP data objection)'.")
    assert problems[2].startswith("Row 5: a Type 2 objection added to the record after 11 Oct 2018")
    assert problems[3] == "Row 8: the code date is in the future"
    assert problems[4].startswith("Row 9: it is not a UK postcode")
    # The row checks pass first; matching against the register is the second stage.
    assert len(problems) == 5 and manager.revision() == revision
    text = " ".join(problems)
    for secret in (*N, "Clash", "QQ1"):
        assert secret not in text
    fixed = csv_text(f"{N[4]},Good,Row,1980-01-01,LS1 4AP,,9Nu0.,2014-02-02",
                     f"{N[4]},Good,Row,1981-01-01,LS1 4AP,,9Nu1.,2015-02-02",
                     f"{N[7]},Clash,Ann,1971-01-01,LS1 4AP,,9Nu0.,2014-02-02")
    with pytest.raises(ImportRefused) as refused:
        importer.import_objections(manager, fixed)
    assert [str(p) for p in refused.value.problems] == [
        "Row 3: the same NHS number as row 2 with another date of birth",
        "Row 4: the register has this NHS number with another date of birth: check which is right before importing"]
    assert manager.revision() == revision and len(patients.find(manager, "a")) == count


def test_rows_are_named_by_the_number_a_spreadsheet_shows_when_an_address_holds_a_line_break(manager):
    """An address cell may hold a line break inside its quotes (one row over two lines of the
    file): the problems still name rows as the user finds them, the header being row 1."""
    _fixed(manager)
    revision = manager.revision()
    bad = csv_text(
        '9990000011,Bad,Check,1980-01-01,LS1 4AP,"Flat 2\r\nPark House",9Nu0.,2014-02-02',  # row 2: lines 2 and 3
        f"{N[5]},Scr,Code,1980-01-01,LS1 4AP,,93C3.,2014-02-02",                           # row 3: line 4
        f'{N[4]},Good,Row,1980-01-01,LS1 4AP,"Upper flat\n1 High Street",9Nu0.,2014-02-02',  # row 4: lines 5 and 6
        f"{N[6]},Late,Typetwo,1980-01-01,LS1 4AP,,9Nu4.,2019-01-01",                       # row 5: line 7
    )
    with pytest.raises(ImportRefused) as refused:
        importer.import_objections(manager, bad)
    problems = [str(p) for p in refused.value.problems]
    assert [p.split(":", 1)[0] for p in problems] == ["Row 2", "Row 3", "Row 5"]
    assert problems[0] == "Row 2: Not a valid NHS number: the check digit does not match (a digit may be mistyped)."
    clash = csv_text(
        f'{N[4]},Good,Row,1980-01-01,LS1 4AP,"Upper flat\n1 High Street",9Nu0.,2014-02-02',  # row 2
        f"{N[4]},Good,Row,1981-01-01,LS1 4AP,,9Nu1.,2015-02-02")                            # row 3
    with pytest.raises(ImportRefused) as refused:
        importer.import_objections(manager, clash)
    assert [str(p) for p in refused.value.problems] == [
        "Row 3: the same NHS number as row 2 with another date of birth"]
    assert manager.revision() == revision


@pytest.mark.parametrize("text, reason", [
    ("", "The file is empty"),
    ("NHS Number,Surname\r\n", "missing: forenames, date of birth, postcode, clinical code, code date"),
    (HEADER + "\r\n", "no rows"),
])
def test_files_that_are_not_an_objection_list_are_refused(manager, text, reason):
    with pytest.raises(ImportRefused, match=reason):
        importer.import_objections(manager, text)


def test_only_the_practice_manager_may_import(manager, register_dir):
    users.add(manager, "desk", roles.RECEPTIONIST, "desk-password")
    manager.lock()
    desk = session_service.unlock(register_dir, "desk", "desk-password")
    try:
        with pytest.raises(PermissionError, match="may not import objections"):
            importer.import_objections(desk, GOOD)
        assert patients.find(desk, "Evans") == []
    finally:
        desk.lock()


def test_cli_check_then_import_and_a_bad_file(cli_pm, tmp_path):
    run = cli_pm
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(GOOD, encoding="utf-8", newline="")  # the \r\n as written, on Windows too
    code, out, err = run("import", "--from", str(good), "--check")
    assert code == 0 and "nothing written. The file has 5 rows: 4 new patients, 0 already" in out, err
    assert run("patient", "find", "Evans")[0] == 1  # not there yet
    code, out, err = run("import", "--from", str(good))
    assert code == 0 and out.startswith("Imported 5 rows: 4 new patients added"), err
    code, _, err = run("import", "--from", str(tmp_path / "missing.csv"))
    assert code == 2 and "missing.csv cannot be read" in err and "Nothing was imported" in err
    bad.write_bytes(b"\xff\xfe\x00not utf-8")
    code, _, err = run("import", "--from", str(bad))
    assert code == 2 and "is not UTF-8 text" in err
    bad.write_text(csv_text(f"{N[4]},Bad,Code,1980-01-01,LS1 4AP,,ZZZZ,2014-02-02"), encoding="utf-8", newline="")
    code, out, err = run("import", "--from", str(bad))
    assert code == 2 and "1 row cannot be imported, so nothing was imported" in err
    assert "Row 2: 'ZZZZ' is not a Type 1 or Type 2" in err and N[4] not in err and "Traceback" not in err


# ---- Type 2 cut-off on the clinical system's date; letter case (issue 10 sections 5 and 6) --------

@pytest.mark.parametrize("added, allowed", [("10/10/2018", True), ("11/10/2018", True), ("12/10/2018", False)])
def test_imported_type2_cutoff_is_on_the_clinical_systems_date_added(manager, added, allowed):
    """A Type 2 signed in 2017 and added to the clinical record on ``added``: the cut-off is on the
    day it was added there, and the event keeps that day (not the day of the import)."""
    _fixed(manager)
    text = csv_text(f"{N[4]},Late,Two,1980-01-01,LS1 4AP,,9Nu4.,2017-03-03,{added}",
                    header=HEADER + ",Date Recorded")
    if allowed:
        importer.import_objections(manager, text)
        event = patients.view(manager, patients.by_nhs(manager, N[4]).patient_id).history[0]
        assert event.effective == date(2017, 3, 3) and event.added_on == date(2018, 10, int(added[:2]))
        assert event.added_on != manager.today()
    else:
        revision = manager.revision()
        with pytest.raises(ImportRefused) as refused:
            importer.import_objections(manager, text)
        assert str(refused.value.problems[0]).startswith("Row 2: a Type 2 objection added to the record after "
                                                         "11 Oct 2018 (the clinical system's date)")
        assert "National Data Opt-out" in str(refused.value.problems[0])
        assert manager.revision() == revision


@pytest.mark.parametrize("code_date, allowed", [("2018-10-10", True), ("2018-10-11", True), ("2018-10-12", False)])
def test_imported_type2_with_one_date_uses_it_as_the_date_added(manager, code_date, allowed):
    _fixed(manager)
    text = csv_text(f"{N[5]},Late,Two,1980-01-01,LS1 4AP,,XaaVL,{code_date}")
    if allowed:
        importer.import_objections(manager, text)
        event = patients.view(manager, patients.by_nhs(manager, N[5]).patient_id).history[0]
        assert event.added_on == date.fromisoformat(code_date) and event.received == event.added_on
    else:
        with pytest.raises(ImportRefused, match="cannot be imported"):
            importer.import_objections(manager, text)


def test_a_ctv3_code_matched_only_by_ignoring_case_is_said_in_the_check_summary(manager):
    _fixed(manager)
    text = csv_text(f"{N[0]},Case,Folded,1950-02-03,LL30 1AA,,9Nu0.,2014-01-06",
                    f"{N[0]},Case,Folded,1950-02-03,LL30 1AA,,XaZ8A,2016-05-01",    # upper-case A: not the table's
                    f"{N[1]},Exact,Case,1975-01-01,LS1 4AP,,XaZ89,2015-03-12")
    plan = importer.check(manager, text)
    assert plan.case_folded_rows == (3,)
    summary = plan.describe(done=False)
    assert "1 row (3) matched a code in the table only by ignoring letter case" in summary
    assert "verify" in summary and N[0] not in summary
    change = importer.import_objections(manager, text)
    assert "only by ignoring letter case" in change.summary
    assert "case_folded=1" in audit.query(manager, action="import.objections")[0].detail
    exact = importer.check(manager, csv_text(f"{N[2]},Exact,Only,1982-09-09,CF10 1AA,,XaZ8a,2016-05-01"))
    assert exact.case_folded_rows == () and "letter case" not in exact.describe(done=False)


@pytest.mark.parametrize("code", ["9Nd1.", "9Nd1", "XaKII", "9M1..", "9M1", "XaJrC", "9NdH.", "XaNwT"])
def test_other_consent_codes_are_refused_by_name(manager, code):
    _fixed(manager)
    with pytest.raises(ImportRefused) as refused:
        importer.import_objections(manager, csv_text(f"{N[6]},Other,Consent,1980-01-01,LS1 4AP,,{code},2014-02-02"))
    assert str(refused.value.problems[0]) == (f"Row 2: {code} is not a GP data objection code: it means 'another "
                                              "consent code (not a GP data objection)'.")
