"""The cohort file for the national check (exclusion/cohort.py), as the practice gives it:
NHS numbers read in file order once each, however the column is named or the numbers typed,
and a file the national service would reject refused whole, naming rows only."""
from __future__ import annotations

import pytest

from excl_helpers import NHS
from gp_optout_desktop.exclusion.cohort import read_cohort
from gp_optout_desktop.exclusion.errors import CandidateFileError


def cohort(tmp_path, text: str | bytes):
    path = tmp_path / "cohort.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def refused(tmp_path, text) -> str:
    with pytest.raises(CandidateFileError) as err:
        read_cohort(cohort(tmp_path, text))
    return str(err.value)


def test_numbers_in_file_order_once_each_however_typed(tmp_path):
    spaced = f"{NHS[2][:3]} {NHS[2][3:6]} {NHS[2][6:]}"
    text = f"\ufeffName,NHS_No\r\nA,{NHS[1]}\r\n\r\nB, {spaced} \r\nC,{NHS[0]}\r\nD,{NHS[1]}\r\n"
    assert read_cohort(cohort(tmp_path, text)) == [NHS[1], NHS[2], NHS[0]]


def test_a_missing_unreadable_or_empty_file_is_named(tmp_path):
    missing = tmp_path / "none.csv"
    with pytest.raises(CandidateFileError) as err:
        read_cohort(missing)
    assert str(err.value) == f"The cohort file {missing} does not exist."
    with pytest.raises(CandidateFileError) as err:
        read_cohort(tmp_path)
    assert str(err.value) == f"The cohort file {tmp_path} cannot be read (Is a directory)."
    assert refused(tmp_path, b"nhs_number\n\xff\n") == "The cohort file is not UTF-8 text (bad byte at offset 11)."
    assert refused(tmp_path, " \r\n") == ("The cohort file is empty: it needs a header row naming the NHS number "
                                        "column.")


def test_a_file_without_one_nhs_number_column_is_refused(tmp_path):
    assert refused(tmp_path, f"Name,Number\nA,{NHS[0]}\n") == (
        "The candidate file has no NHS number column (a header such as 'nhs_number' or 'NHS Number'); its header "
        "is: 'Name', 'Number'.")
    assert refused(tmp_path, f"NHS Number,nhs.no\n{NHS[0]},{NHS[0]}\n") == (
        "The candidate file has more than one NHS number column; keep exactly one.")


def test_every_bad_row_is_named_and_nothing_is_accepted(tmp_path):
    text = f"nhs_number,name\n{NHS[0]},A\n9990000011,B\n{NHS[1]}\nX,D\n"
    assert refused(tmp_path, text) == (
        "3 row(s) of the cohort file cannot be sent to the national check, so nothing was written (the service "
        "rejects a whole file for one bad row): row 3: Not a valid NHS number: the check digit does not match (a "
        "digit may be mistyped); row 4: has 1 fields; the header has 2; row 5: An NHS number has digits only "
        "(spaces and hyphens are ignored).")


def test_at_most_twenty_bad_rows_are_listed_and_the_rest_counted(tmp_path):
    text = "nhs_number\n" + "12345\n" * 21
    message = refused(tmp_path, text)
    assert message.startswith("21 row(s) of the cohort file cannot be sent")
    assert "row 21: An NHS number has 10 digits; this has 5; and 1 more." in message
    assert "row 22:" not in message and message.endswith("; and 1 more.")
    twenty = refused(tmp_path, "nhs_number\n" + "12345\n" * 20)
    assert "more" not in twenty and twenty.endswith("row 21: An NHS number has 10 digits; this has 5.")


def test_a_file_that_is_not_well_formed_csv_is_refused(tmp_path):
    assert refused(tmp_path, f'nhs_number,name\n{NHS[0]},"unclosed\n') == (
        "The cohort file is not well-formed CSV: unexpected end of data.")
