"""Reading a clinical system's objection export, as the practice manager meets it: loosely
named columns, each date form exports use, one bad row and nothing imported with every
problem named by row (never quoting the patient), and what each good row carries."""
from __future__ import annotations

from datetime import date

import pytest

from gp_optout_desktop.domain import import_rows
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.import_rows import ImportRefused, parse_date, read_rows, sniff_delimiter
from gp_optout_desktop.domain.nhs_number import synthetic_range
from gp_optout_desktop.services.session import code_table

TODAY = date(2026, 12, 1)
N = synthetic_range(6)
HEADER = "NHS Number,Surname,Forename(s),Date of Birth,Postcode,Clinical Code,Code Date"


def read(*rows: str, header: str = HEADER, delimiter: str = ","):
    return read_rows("\r\n".join([header, *rows]) + "\r\n", code_table(), TODAY, delimiter)


def refused(*rows: str, header: str = HEADER) -> ImportRefused:
    with pytest.raises(ImportRefused) as err:
        read(*rows, header=header)
    assert err.value.field == "import"
    return err.value


def test_a_good_row_carries_the_patient_the_code_and_both_dates():
    [row] = read(f"{N[0]},Test,Bo,06/01/1970,ls1 4ap,9Nu0,02/02/2014")
    assert (row.row, row.kind, row.action, row.effective, row.added, row.case_folded) == (
        2, "type1", "register", date(2014, 2, 2), date(2014, 2, 2), False)
    assert (row.patient.nhs_number, row.patient.surname, row.patient.dob, row.patient.postcode) == (
        N[0], "Test", date(1970, 1, 6), "LS1 4AP")


def test_columns_are_found_by_loose_names_in_any_order_with_optional_ones():
    header = ("Clinical_Code;Event  Date;nhs_number;Family Name;First Names;DOB;Post Code;Title;Address 1;"
              "Address Line 2;address3;Date Entered")
    [row] = read(f"xaZ89;2014-02-02;{N[1]};Test;Bo;1970-01-06;LS1 4AP;Dr;1 Park Row;;Leeds;2014-03-01",
                 header=header, delimiter=";")
    assert (row.effective, row.added, row.case_folded) == (date(2014, 2, 2), date(2014, 3, 1), True)
    assert row.patient.title == "Dr" and row.patient.address == ("1 Park Row", "Leeds")


def test_one_date_column_named_date_recorded_is_both_dates():
    header = "NHS Number,Surname,Forenames,Date of Birth,Postcode,Code,Date Recorded"
    [row] = read(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,9Nu0.,2014-02-02", header=header)
    assert row.effective == row.added == date(2014, 2, 2)


def test_a_header_missing_columns_names_them_all():
    err = refused(header="NHS Number,Surname,Code")
    assert str(err) == ("The first line must name the columns; missing: forenames, date of birth, postcode, code "
                        "date. Nothing was imported.")


@pytest.mark.parametrize("text, message", [
    ("", "The file is empty. Nothing was imported."),
    ("\ufeff", "The file is empty. Nothing was imported."),
    (HEADER + "\r\n\r\n  ,  \r\n", "The file has a header but no rows. Nothing was imported."),
])
def test_a_file_with_nothing_to_import(text, message):
    with pytest.raises(ImportRefused) as err:
        read_rows(text, code_table(), TODAY)
    assert str(err.value) == message and err.value.problems == ()


def test_every_bad_row_is_named_by_its_line_and_nothing_is_imported():
    err = refused(
        f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,9Nu0.,2014-02-02",
        f",Test,Bo,1970-01-06,LS1 4AP,9Nu0.,2014-02-02",
        f"{N[1]},Test,Bo,1970-01-06,LS1 4AP,9Nu0.,2014-02-31",
        f"{N[2]},Test,Bo,1970-01-06,LS1 4AP,9Nu0.,2027-01-01",
        f"{N[3]},Test,Bo,1970-01-06,QQ1 1QQ,9Nu0.,2014-02-02",
        f"{N[4]},Test,Bo,1970-01-06,LS1 4AP,9Nu4.,2018-10-12",
        f"{N[5]},Test,Bo,1970-01-06,LS1 4AP,9Nu0.",
    )
    assert str(err) == "6 rows cannot be imported, so nothing was imported. Correct the file and try again."
    assert [str(p) for p in err.problems] == [
        "Row 3: the NHS number is missing",
        "Row 4: the code date is not a date (use dd/mm/yyyy or yyyy-mm-dd)",
        "Row 5: the code date is in the future",
        "Row 6: it is not a UK postcode: the first part does not match any UK format.",
        "Row 7: a Type 2 objection added to the record after 11 Oct 2018 (the clinical system's date) was not "
        "processed nationally and cannot be recorded: take the row out, and send the patient the 'Type 2 recorded "
        "in error' letter (from the patient's record), which signposts the National Data Opt-out",
        "Row 8: the code date is missing",
    ]


def test_one_bad_row_is_counted_in_the_singular():
    err = refused(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,9Nu0.,")
    assert str(err) == "1 row cannot be imported, so nothing was imported. Correct the file and try again."


def test_a_date_recorded_in_the_future_is_its_own_problem():
    header = HEADER + ",Date Added"
    err = refused(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,9Nu0.,2014-02-02,2026-12-02", header=header)
    assert [str(p) for p in err.problems] == ["Row 2: the date recorded is in the future"]
    err = refused(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,9Nu0.,2014-02-02,02/13/2014", header=header)
    assert [str(p) for p in err.problems] == ["Row 2: the date recorded is not a date (use dd/mm/yyyy or yyyy-mm-dd)"]


def test_a_type2_added_on_the_cut_off_day_is_read():
    [row] = read(f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,9Nu4.,11/10/2018")
    assert (row.kind, row.added) == ("type2", date(2018, 10, 11))


def test_a_file_longer_than_the_limit_is_refused_before_reading_on(monkeypatch):
    monkeypatch.setattr(import_rows, "MAX_ROWS", 2)
    rows = [f"{n},Test,Bo,1970-01-06,LS1 4AP,9Nu0.,2014-02-02" for n in N[:3]]
    assert len(read(*rows[:2])) == 2
    err = refused(*rows)
    assert str(err) == "The file has more than 2 rows. Nothing was imported."


def test_a_row_that_breaks_the_csv_is_named():
    # A cell far longer than any real one (a broken export): the CSV reader gives up there.
    text = HEADER + "\r\n" + f"{N[0]},Test,Bo,1970-01-06,LS1 4AP,9Nu0.,2014-02-02\r\n{N[1]}," + "x" * 200_000 + "\r\n"
    with pytest.raises(ImportRefused) as err:
        read_rows(text, code_table(), TODAY)
    [problem] = err.value.problems
    assert str(problem) == "Row 3: not readable as CSV (field larger than field limit (131072))"


@pytest.mark.parametrize("typed, day", [
    ("2014-02-03", date(2014, 2, 3)), ("3/2/2014", date(2014, 2, 3)), ("03-Feb-2014", date(2014, 2, 3)),
    ("3-feb-2014", date(2014, 2, 3)), ("03-02-2014", date(2014, 2, 3)), ("03.02.2014", date(2014, 2, 3)),
    ("03 Feb 2014", date(2014, 2, 3)), ("03/02/14", date(2014, 2, 3)), (" 03  Feb   2014 ", date(2014, 2, 3)),
])
def test_each_date_form_exports_use(typed, day):
    assert parse_date(typed, "code date") == day


@pytest.mark.parametrize("typed", ["2014-02-30", "30/02/2014", "30-Feb-2014", "03-Fbr-2014", "", "yesterday"])
def test_a_date_that_does_not_exist_is_refused_on_its_field(typed):
    with pytest.raises(ValidationError) as err:
        parse_date(typed, "date of birth")
    assert str(err.value) == "the date of birth is not a date (use dd/mm/yyyy or yyyy-mm-dd)"
    assert err.value.field == "date of birth"


@pytest.mark.parametrize("first_line, delimiter", [
    ("NHS Number,Surname,Code", ","), ("NHS Number;Surname;Code", ";"), ("NHS Number\tSurname\tCode", "\t"),
    ('"Surname; Forenames",NHS Number', ","), ("\ufeffNHS;Surname,Code;Date", ";"), ("NHS Number", ","),
    ("a,b;c", ","),
    # Separators inside a quoted column name are part of the name, not separators.
    ('"Surname, Forenames, Title";NHS Number;Code', ";"),
])
def test_the_separator_is_the_one_the_header_uses_most(first_line, delimiter):
    assert sniff_delimiter(first_line + "\n1,2;3\t4\n") == delimiter


def test_the_rows_cells_do_not_decide_the_separator():
    # A semicolon export (Excel where the decimal mark is a comma) whose addresses hold commas:
    # the header alone says what separates the columns.
    text = "NHS Number;Surname;Address\n" + "1;Test;Flat 1, 2 Park Row, Leeds, LS1 4AP\n" * 3
    assert sniff_delimiter(text) == ";"


def test_empty_columns_before_the_names_count_towards_the_separator():
    # Tabs before the first name are empty tab-separated columns, not padding to strip: the
    # header splits more often on tabs, so the file is read as tab-separated (and refused for
    # its missing columns, with nothing read into the wrong ones).
    assert sniff_delimiter("\t\t\tNHS Number;Surname\n") == "\t"
    assert sniff_delimiter("\ufeff\t\t\tNHS Number;Surname\n") == "\t"


def test_an_address_cell_with_a_line_break_inside_its_quotes_is_kept_as_written():
    # A clinical system may export a multi-line address in one quoted cell: CSV keeps the
    # cell's line break as the file has it, and the row stays one row.
    header = HEADER + ",Address Line 1,Address Line 2"
    [row] = read(f'{N[2]},Test,Bo,06/01/1970,LS1 4AP,9Nu0,02/02/2014,"Flat 2\r\nPark House",Leeds', header=header)
    assert row.patient.address == ("Flat 2\r\nPark House", "Leeds")


def test_every_address_line_is_kept():
    header = HEADER + ",Address Line 1,Address Line 2,Address Line 3"
    [row] = read(f"{N[2]},Test,Bo,06/01/1970,LS1 4AP,9Nu0,02/02/2014,Flat 2,1 Park Row,Leeds", header=header)
    assert row.patient.address == ("Flat 2", "1 Park Row", "Leeds")


def test_a_date_of_birth_that_is_not_a_date_is_named_as_such():
    err = refused(f"{N[3]},Test,Bo,31/02/1970,LS1 4AP,9Nu0,02/02/2014")
    assert [str(p) for p in err.problems] == ["Row 2: the date of birth is not a date (use dd/mm/yyyy or yyyy-mm-dd)"]


def test_an_export_with_old_mac_line_endings_is_read_row_by_row():
    text = "\r".join([HEADER, f"{N[4]},Test,Bo,06/01/1970,LS1 4AP,9Nu0,02/02/2014",
                      f"{N[5]},Test,Al,07/01/1970,LS1 4AP,9Nu0,03/02/2014"]) + "\r"
    rows = read_rows(text, code_table(), TODAY)
    assert [(r.row, r.patient.nhs_number) for r in rows] == [(2, N[4]), (3, N[5])]


def test_a_file_whose_first_line_is_not_csv_is_refused_saying_so():
    # A wrong file chosen (one enormous first "field"): refused before any row is read.
    with pytest.raises(ImportRefused) as err:
        read_rows('"' + "x" * 200_000 + '"\n', code_table(), TODAY)
    assert str(err.value) == ("The first line is not CSV (field larger than field limit (131072)). Nothing was "
                              "imported.")


def test_a_blank_line_in_the_middle_loses_no_row_after_it():
    rows = read(f"{N[0]},Test,Bo,06/01/1970,LS1 4AP,9Nu0,02/02/2014", "", ",,,,,,",
                f"{N[1]},Test,Al,07/01/1970,LS1 4AP,9Nu0,03/02/2014")
    assert [(r.row, r.patient.nhs_number) for r in rows] == [(2, N[0]), (5, N[1])]


def test_the_row_limit_counts_bad_rows_too(monkeypatch):
    # A file of millions of bad rows is refused for its size, not read to its end.
    monkeypatch.setattr(import_rows, "MAX_ROWS", 3)
    err = refused(f"{N[0]},Test,Bo,06/01/1970,LS1 4AP,9Nu0,02/02/2014", f"{N[1]},,Al,07/01/1970,LS1 4AP,9Nu0,03/02/2014",
                  f"{N[2]},,Al,07/01/1970,LS1 4AP,9Nu0,03/02/2014", f"{N[3]},Test,Al,07/01/1970,LS1 4AP,9Nu0,03/02/2014")
    assert str(err) == "The file has more than 3 rows. Nothing was imported."


def test_reconciliation_is_told_the_line_of_each_late_type2_row():
    late: list[int] = []
    text = "\r\n".join([HEADER, f"{N[0]},Test,Bo,06/01/1970,LS1 4AP,9Nu0,02/02/2014",
                        f"{N[1]},Test,Al,07/01/1970,LS1 4AP,9Nu4.,12/10/2018",
                        f"{N[2]},Test,Cy,08/01/1970,LS1 4AP,9Nu4.,01/03/2020"]) + "\r\n"
    rows = read_rows(text, code_table(), TODAY, late_type2=late)
    assert [r.row for r in rows] == [2] and late == [3, 4]
