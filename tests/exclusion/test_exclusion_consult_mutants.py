"""Consulting a set (exclusion/consult.py) as the extraction operator runs it: the counts
they report, the exact reasons for rows held back and files refused, and every kind of
candidate file (one column or several, blank lines, quoted, Windows) filtered the same way."""
from __future__ import annotations

import gc

import pytest

from excl_helpers import NHS, NOW, TYPE1_WITHDRAWN, export, fresh_state, make_rows
from gp_optout_desktop.exclusion import consult as consult_mod
from gp_optout_desktop.exclusion.errors import CandidateFileError, MissingFileError

LISTED = NHS[:10]
OTHERS = NHS[10:20]


def run(tmp_path, key, text, **kw):
    src = tmp_path / "candidates.csv"
    src.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    out = tmp_path / "allowed.csv"
    kw.setdefault("now", NOW)
    kw.setdefault("practice_ods", "F84003")
    kw.setdefault("state_path", fresh_state())
    return consult_mod.filter_candidates(tmp_path / "x", key.public_key(), src, out, **kw), out


@pytest.fixture
def listed(tmp_path, key):
    export(tmp_path / "x", key)


def refused(tmp_path, key, text, message):
    (tmp_path / "allowed.csv").write_text("stale list from yesterday\n")
    with pytest.raises(CandidateFileError) as err:
        run(tmp_path, key, text)
    assert str(err.value) == message
    assert (tmp_path / "allowed.csv").read_bytes() == b""


def test_the_counts_reported_for_a_run(tmp_path, key, listed):
    text = "nhs_number\n" + "\n".join([LISTED[0], OTHERS[0], "12345", LISTED[1], OTHERS[1]]) + "\n"
    result, out = run(tmp_path, key, text)
    assert (result.candidates, result.allowed, result.held_back_by_set, result.held_back) == (5, 2, 2, 3)
    assert result.invalid_rows == ((4, "An NHS number has 10 digits; this has 5."),)
    assert result.out_path == out and result.manifest.register_revision == 5
    assert out.read_text() == f"nhs_number\n{OTHERS[0]}\n{OTHERS[1]}\n"


@pytest.mark.parametrize("text, message", [
    ("patient_id,postcode\n1,ZZ99 3VZ\n", "The candidate file has no NHS number column (a header such as 'nhs_number' "
                                          "or 'NHS Number'); its header is: 'patient_id', 'postcode'."),
    ("nhs_number,NHS-No\n", "The candidate file has more than one NHS number column; keep exactly one."),
    (" \n", "The candidate file is empty: it needs a header row naming the NHS number column."),
    ("\ufeff", "The candidate file is empty: it needs a header row naming the NHS number column."),
    (b"nhs_number\n\xff\xfe\n", "The candidate file is not UTF-8 text (bad byte at offset 11)."),
    ('nhs_number\n"unterminated\n', "The candidate file is not well-formed CSV: unexpected end of data."),
])
def test_a_file_that_cannot_be_filtered_is_refused_and_the_output_emptied(tmp_path, key, listed, text, message):
    refused(tmp_path, key, text, message)


def test_a_missing_candidate_file_and_the_output_over_the_input(tmp_path, key, listed):
    with pytest.raises(CandidateFileError) as err:
        consult_mod.filter_candidates(tmp_path / "x", key.public_key(), tmp_path / "none.csv", tmp_path / "out.csv",
                                      practice_ods="F84003", state_path=fresh_state(), now=NOW)
    assert str(err.value) == f"The candidate file {tmp_path / 'none.csv'} does not exist."
    src = tmp_path / "c.csv"
    src.write_text(f"nhs_number\n{OTHERS[0]}\n")
    with pytest.raises(CandidateFileError) as err:
        consult_mod.filter_candidates(tmp_path / "x", key.public_key(), src, tmp_path / "." / "c.csv",
                                      practice_ods="F84003", state_path=fresh_state(), now=NOW)
    assert str(err.value) == "The output file must not be the candidate file itself."
    assert src.read_text() == f"nhs_number\n{OTHERS[0]}\n"


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("quoted", [False, True])
def test_a_row_of_the_wrong_width_is_held_back_in_either_parser(tmp_path, key, listed, newline, quoted):
    name = '"nhs_number"' if quoted else "nhs_number"
    lines = [f"{name},x", f"{OTHERS[0]},a", f"{OTHERS[1]},b,c", f"{OTHERS[2]}"]
    result, out = run(tmp_path, key, newline.join(lines) + newline)
    assert result.invalid_rows == ((3, "has 3 fields; the header has 2."), (4, "has 1 fields; the header has 2."))
    assert out.read_bytes().decode() == newline.join(["nhs_number,x", f"{OTHERS[0]},a"]) + newline


def test_a_one_column_file_with_blank_lines_and_typed_numbers(tmp_path, key, listed):
    spaced = f"{OTHERS[1][:3]} {OTHERS[1][3:6]} {OTHERS[1][6:]}"
    result, out = run(tmp_path, key, f"NHS Number\n{OTHERS[0]}\n\n{spaced}\n{LISTED[0]}\n\nabc\n")
    assert (result.candidates, result.allowed) == (4, 2)
    assert result.invalid_rows == ((7, "An NHS number has digits only (spaces and hyphens are ignored)."),)
    assert out.read_text() == f"NHS Number\n{OTHERS[0]}\n{spaced}\n"


def test_typed_numbers_in_a_wide_file_without_blank_lines(tmp_path, key, listed):
    spaced = f"{OTHERS[1][:3]}-{OTHERS[1][3:6]}-{OTHERS[1][6:]}"
    result, out = run(tmp_path, key, f"x,nhs_number\na,{LISTED[0]}\nb,{spaced}\nc,{OTHERS[0]}\n")
    assert (result.candidates, result.allowed, result.invalid_rows) == (3, 2, ())
    assert out.read_text() == f"x,nhs_number\nb,{spaced}\nc,{OTHERS[0]}\n"


def test_in_practice_wide_mode_only_the_listed_are_kept_in_every_parser(tmp_path, key):
    export(tmp_path / "x", key, make_rows(LISTED[:2], code=TYPE1_WITHDRAWN), mode="exclude-all-except-listed")
    for text in (f"nhs_number\n{LISTED[0]}\n{OTHERS[0]}\n\n", f'"nhs_number"\n"{LISTED[0]}"\n{OTHERS[0]}\n',
                 f"nhs_number,x\n{LISTED[0]},1\n{OTHERS[0]},2\n{LISTED[1][:3]} {LISTED[1][3:]},3\n"):
        result, out = run(tmp_path, key, text)
        assert result.allowed == text.count(LISTED[0]) + text.count(LISTED[1][:3] + " ")
        assert OTHERS[0] not in out.read_text() and LISTED[0] in out.read_text()


def test_the_collector_is_left_as_it_was_found(tmp_path, key, listed):
    assert gc.isenabled()
    run(tmp_path, key, f"nhs_number\n{OTHERS[0]}\n")
    assert gc.isenabled()
    gc.disable()
    try:
        run(tmp_path, key, f"nhs_number\n{OTHERS[0]}\n")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_failure_with_the_output_folder_gone_still_reports_the_first_error(tmp_path, key):
    src = tmp_path / "c.csv"
    src.write_text(f"nhs_number\n{OTHERS[0]}\n")
    with pytest.raises(MissingFileError):
        consult_mod.filter_candidates(tmp_path / "no-set", key.public_key(), src, tmp_path / "gone" / "out.csv",
                                      practice_ods="F84003", state_path=fresh_state(), now=NOW)
    assert not (tmp_path / "gone").exists()
