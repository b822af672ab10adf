"""Reading the practice's list of patients as a clinical system exports it: what each
status word means, each row problem by line (quoting nobody), merged and superseded NHS
numbers, and what each good row carries."""
from __future__ import annotations

from datetime import date

import pytest

from gp_optout_desktop.domain import practice_list
from gp_optout_desktop.domain.import_rows import ImportRefused
from gp_optout_desktop.domain.nhs_number import synthetic_range
from gp_optout_desktop.domain.practice_list import DECEASED, DEDUCTED, REGISTERED, TEMPORARY, read_list

TODAY = date(2026, 12, 1)
N = synthetic_range(8)
HEADER = "NHS Number,Surname,Forenames,Date of Birth,Postcode,Registration Status,Registration Date,Date of Death"


def read(*rows: str, header: str = HEADER):
    return read_list("\ufeff" + "\r\n".join([header, *rows]) + "\r\n", TODAY)


def problems(*rows: str, header: str = HEADER) -> list[str]:
    with pytest.raises(ImportRefused) as err:
        read(*rows, header=header)
    count = len(err.value.problems)
    assert str(err.value) == (f"{count} row{'s' if count != 1 else ''} cannot be imported, so nothing was imported. "
                              "Correct the file and try again.")
    return [str(p) for p in err.value.problems]


@pytest.mark.parametrize("word, state", [
    ("Registered", REGISTERED), ("GMS", REGISTERED), ("R", REGISTERED), ("Transferred  Out", DEDUCTED),
    ("ex-patient", DEDUCTED), ("D", DEDUCTED), ("Died", DECEASED), ("temporary_resident", TEMPORARY), ("T", TEMPORARY),
])
def test_each_status_word_clinical_systems_use(word, state):
    died = "2026-01-01" if state == DECEASED else ""
    [row] = read(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,{word},,{died}")
    assert row.status == state


def test_a_good_row_carries_its_dates_and_line():
    [row] = read(f"{N[0]},Test,Bo,06/01/1970,ls1 4ap,deceased,01/02/1990,2026-11-30")
    assert (row.row, row.status, row.since, row.died_on, row.previous_nhs) == (
        2, DECEASED, date(1990, 2, 1), date(2026, 11, 30), None)
    assert (row.patient.nhs_number, row.patient.postcode) == (N[0], "LS1 4AP")


def test_a_merged_record_names_the_superseded_number():
    header = "NHS Number,Surname,Forenames,DOB,Postcode,Status,Previous NHS Number"
    [row] = read(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,registered,{N[1]}", header=header)
    assert row.previous_nhs == N[1]


def test_each_row_problem_is_named_by_line_without_quoting_the_patient():
    found = problems(
        f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,registered,,",
        f"{N[1]},Test,Bo,1970-01-06,LS1 4AP,,,",
        f"{N[2]},Test,Bo,1970-01-06,LS1 4AP,moved away,,",
        f"{N[3]},Test,Bo,1970-01-06,LS1 4AP,deceased,,",
        f"{N[4]},Test,Bo,1970-01-06,LS1 4AP,registered,,2026-01-01",
        f"{N[5]},Test,Bo,1970-01-06,LS1 4AP,registered,2026-12-02,",
        f"{N[6]},Test,Bo,1970-01-06,LS1 4AP,deceased,,1969-12-31",
        f"{N[7]},Test,Bo,1970-01-06,QQ1 1QQ,registered,,",
        f"{N[0]},Again,Bo,1970-01-06,LS1 4AP,registered,,",
    )
    assert found == [
        "Row 3: the registration status is missing",
        "Row 4: the registration status is not one of registered, deducted, deceased or temporary",
        "Row 5: a deceased patient needs the date of death",
        "Row 6: a date of death is given but the status is not deceased",
        "Row 7: the registration date is in the future",
        "Row 8: the date of death is before the date of birth",
        # The desk's sentence quotes the postcode typed; a problem list never quotes a patient.
        "Row 9: it is not a UK postcode: the first part does not match any UK format.",
        "Row 10: the same NHS number as row 2",
    ]


def test_a_registration_date_before_birth_and_a_death_in_the_future_are_refused():
    assert problems(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,registered,1970-01-05,") == [
        "Row 2: the registration date is before the date of birth"]
    assert problems(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,deceased,,2026-12-02") == [
        "Row 2: the date of death is in the future"]
    [row] = read(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,deceased,1970-01-06,2026-12-01")
    assert row.since == date(1970, 1, 6) and row.died_on == TODAY


def test_a_superseded_number_that_is_also_a_patient_or_itself_is_refused():
    header = "NHS Number,Surname,Forenames,DOB,Postcode,Status,Old NHS Number"
    assert problems(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,registered,{N[1]}",
                    f"{N[1]},Test,Cy,1971-01-06,LS1 4AP,registered,", header=header) == [
        "Row 2: the previous NHS number is also listed as a patient in row 3: a superseded number is not a patient"]
    assert problems(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,registered,{N[0]}", header=header) == [
        "Row 2: the previous NHS number is the same as the NHS number"]
    assert problems(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,registered,9990000011", header=header) == [
        "Row 2: Not a valid NHS number: the check digit does not match (a digit may be mistyped)."]


@pytest.mark.parametrize("text, message", [
    ("", "The file is empty. Nothing was imported."),
    ("NHS Number,Surname,Status\r\n", "The first line must name the columns; missing: forenames, date of birth, "
                                     "postcode. Nothing was imported."),
    (HEADER + "\r\n,,\r\n", "The file has a header but no rows. Nothing was imported."),
])
def test_a_file_with_nothing_to_import(text, message):
    with pytest.raises(ImportRefused) as err:
        read_list(text, TODAY)
    assert str(err.value) == message


def test_a_list_longer_than_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(practice_list, "MAX_ROWS", 1)
    assert len(read(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,registered,,")) == 1
    with pytest.raises(ImportRefused) as err:
        read(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,registered,,", f"{N[1]},Test,Bo,1970-01-06,LS1 4AP,registered,,")
    assert str(err.value) == "The file has more than 1 rows. Nothing was imported."


def test_a_row_that_breaks_the_csv_is_named():
    text = HEADER + "\r\n" + f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,registered,,\r\n{N[1]}," + "x" * 200_000 + "\r\n"
    with pytest.raises(ImportRefused) as err:
        read_list(text, TODAY)
    assert [str(p) for p in err.value.problems] == ["Row 3: not readable as CSV (field larger than field limit (131072))"]


def test_a_date_that_is_not_a_date_is_named_by_its_column():
    assert problems(f"{N[0]},Test,Bo,1970-13-06,LS1 4AP,registered,,",
                    f"{N[1]},Test,Bo,1970-01-06,LS1 4AP,registered,yesterday,",
                    f"{N[2]},Test,Bo,1970-01-06,LS1 4AP,deceased,,31/02/2020") == [
        "Row 2: the date of birth is not a date (use dd/mm/yyyy or yyyy-mm-dd)",
        "Row 3: the registration date is not a date (use dd/mm/yyyy or yyyy-mm-dd)",
        "Row 4: the date of death is not a date (use dd/mm/yyyy or yyyy-mm-dd)"]


def test_title_and_address_lines_are_kept_and_short_rows_read_as_empty():
    header = HEADER + ",Title,Address Line 1,Address Line 2"
    [row] = read(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,registered,,,Dr,1 Park Row", header=header)
    assert row.patient.title == "Dr" and row.patient.address == ("1 Park Row",)


def test_every_address_line_is_kept_in_order():
    header = HEADER + ",Address Line 1,Address Line 2,Address Line 3"
    [row] = read(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,registered,,,1 Park Row,Headingley,Leeds", header=header)
    assert row.patient.address == ("1 Park Row", "Headingley", "Leeds")


def test_an_address_cell_with_a_line_break_inside_its_quotes_is_kept_as_written_and_counted_as_one_row():
    # A clinical system may export a multi-line address in one quoted cell: CSV keeps the
    # cell's line break as the file has it, the row stays one row, and the next is row 3.
    header = HEADER + ",Address Line 1,Address Line 2"
    rows = read(f'{N[0]},Test,Bo,1970-01-06,LS1 4AP,registered,,,"Flat 2\r\nPark House",Leeds',
                f"{N[1]},Test,Cy,1970-01-07,LS1 4AP,registered,,,1 Park Row,Leeds", header=header)
    assert rows[0].patient.address == ("Flat 2\r\nPark House", "Leeds") and [r.row for r in rows] == [2, 3]


def test_a_list_with_old_mac_line_endings_is_read_row_by_row():
    # Lines ended by a bare CR (an old Mac program's export): each is a row of its own.
    text = "\r".join([HEADER, f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,registered,,",
                      f"{N[1]},Test,Cy,1970-01-07,LS1 4AP,registered,,"]) + "\r"
    assert [(r.row, r.patient.nhs_number) for r in read_list(text, TODAY)] == [(2, N[0]), (3, N[1])]


def test_a_blank_line_in_the_middle_does_not_end_the_list():
    rows = read(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,registered,,", ",,,,,,,",
                f"{N[1]},Test,Cy,1971-01-06,LS1 4AP,registered,,")
    assert [(r.row, r.patient.nhs_number) for r in rows] == [(2, N[0]), (4, N[1])]


def test_rows_after_a_repeated_nhs_number_are_still_checked():
    assert problems(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,registered,,",
                    f"{N[0]},Again,Bo,1970-01-06,LS1 4AP,registered,,",
                    f"{N[1]},Test,Bo,1970-01-06,LS1 4AP,moved away,,") == [
        "Row 3: the same NHS number as row 2",
        "Row 4: the registration status is not one of registered, deducted, deceased or temporary"]


def test_the_row_limit_counts_bad_rows_too(monkeypatch):
    # A file of millions of bad rows must be refused by size, not listed problem by problem.
    monkeypatch.setattr(practice_list, "MAX_ROWS", 2)
    with pytest.raises(ImportRefused) as err:
        read(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,moved away,,", f"{N[1]},Test,Bo,1970-01-06,LS1 4AP,registered,,",
             f"{N[2]},Test,Bo,1970-01-06,LS1 4AP,registered,,")
    assert str(err.value) == "The file has more than 2 rows. Nothing was imported."


def test_a_header_that_breaks_the_csv_is_refused_with_the_reason():
    with pytest.raises(ImportRefused) as err:
        read_list("NHS Number," + "x" * 200_000 + "\r\n", TODAY)
    assert str(err.value) == ("The first line is not CSV (field larger than field limit (131072)). "
                              "Nothing was imported.")


def test_a_registration_date_before_a_birth_date_in_the_future_says_before_birth():
    # Registered today, born tomorrow (a typo in the birth year): the sentence names the real fault.
    assert problems(f"{N[0]},Test,Bo,2026-12-02,LS1 4AP,registered,2026-12-01,")[0] == (
        "Row 2: the registration date is before the date of birth")
