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


# ---- issue 16, the full run of 2026-12-02: what the first survivors showed untested ------------

@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("header", ["nhs_number", "nhs_number,x"])
def test_the_last_row_of_a_file_without_a_final_line_break_is_still_a_candidate(tmp_path, key, listed, newline,
                                                                                  header):
    cells = "" if header == "nhs_number" else ",a"
    lines = [header, f"{OTHERS[0]}{cells}", f"{LISTED[0]}{cells}", f"{OTHERS[1]}{cells}"]
    result, out = run(tmp_path, key, newline.join(lines))  # no line break after the last row
    assert (result.candidates, result.allowed, result.invalid_rows) == (3, 2, ())
    assert out.read_bytes().decode() == newline.join([header, f"{OTHERS[0]}{cells}", f"{OTHERS[1]}{cells}"]) + newline


@pytest.mark.parametrize("width", [1, 4])
def test_a_file_whose_every_row_is_not_the_headers_width_extracts_nobody(tmp_path, key, listed, width):
    # A column lost (or two added) on every row by the search that made the file: no row can
    # be trusted to have its NHS number where the header says, so every row is held back.
    rows = [",".join([n] + ["a"] * (width - 1)) for n in OTHERS[:3]]
    result, out = run(tmp_path, key, "\n".join(["nhs_number,x", *rows]) + "\n")
    assert (result.candidates, result.allowed, result.held_back_by_set) == (3, 0, 0)
    assert result.invalid_rows == tuple((i, f"has {width} fields; the header has 2.") for i in (2, 3, 4))
    assert out.read_text() == "nhs_number,x\n"


@pytest.mark.parametrize("header, row", [
    ("nhs_number,surname,postcode", "{n},Test,LS1 4AP"),
    ("id,nhs_number,surname,postcode", "7,{n},Test,LS1 4AP"),
    ("surname,postcode,nhs_number", "Test,LS1 4AP,{n}"),
])
def test_the_nhs_number_is_read_from_its_own_column_wherever_it_is(tmp_path, key, listed, header, row):
    lines = [header] + [row.format(n=n) for n in (OTHERS[0], LISTED[0], OTHERS[1], LISTED[1])]
    result, out = run(tmp_path, key, "\n".join(lines) + "\n")
    assert (result.candidates, result.allowed, result.held_back_by_set, result.invalid_rows) == (4, 2, 2, ())
    assert out.read_text() == "\n".join([header, lines[1], lines[3]]) + "\n"


def test_a_quoted_cell_with_a_line_break_inside_is_copied_as_it_was(tmp_path, key, listed):
    text = (f'nhs_number,address\r\n{OTHERS[0]},"1 Park Row\r\nLeeds"\r\n{LISTED[0]},"2 Park Row\r\nLeeds"\r\n'
            f'{OTHERS[1]},"3 Park Row\nLeeds"\r\n')
    result, out = run(tmp_path, key, text)
    assert (result.candidates, result.allowed) == (3, 2)
    assert out.read_bytes() == (f'nhs_number,address\r\n{OTHERS[0]},"1 Park Row\r\nLeeds"\r\n'
                                f'{OTHERS[1]},"3 Park Row\nLeeds"\r\n').encode()


def test_blank_lines_in_a_quoted_file_are_no_candidates_and_the_rows_after_them_are_read(tmp_path, key, listed):
    text = f'"nhs_number","x"\n"{OTHERS[0]}","a"\n\n"{LISTED[0]}","b"\n\n\n"{OTHERS[1]}","c"\n'
    result, out = run(tmp_path, key, text)
    assert (result.candidates, result.allowed, result.held_back_by_set, result.invalid_rows) == (3, 2, 1, ())
    assert out.read_text() == f"nhs_number,x\n{OTHERS[0]},a\n{OTHERS[1]},c\n"


def test_an_empty_cell_of_a_one_column_file_quoted_throughout_is_a_blank_line(tmp_path, key, listed):
    # Tools that quote every field (Python's QUOTE_ALL, some report writers) write an empty
    # cell as "": it is no candidate, as a blank line in an unquoted file is none.
    text = f'"nhs_number"\n"{OTHERS[0]}"\n""\n"{OTHERS[1]}"\n'
    result, out = run(tmp_path, key, text)
    assert (result.candidates, result.allowed, result.invalid_rows) == (2, 2, ())
    assert out.read_text() == f"nhs_number\n{OTHERS[0]}\n{OTHERS[1]}\n"


def test_an_invalid_number_in_a_quoted_file_is_held_back_with_its_row_and_reason(tmp_path, key, listed):
    text = f'"nhs_number","x"\n"{OTHERS[0]}","a"\n"12345","b"\n"{OTHERS[0][:9]}0","c"\n'
    result, out = run(tmp_path, key, text)
    assert result.invalid_rows == (
        (3, "An NHS number has 10 digits; this has 5."),
        (4, "Not a valid NHS number: the check digit does not match (a digit may be mistyped)."),
    )
    assert (result.candidates, result.allowed, result.held_back_by_set) == (3, 1, 0)
    assert out.read_text() == f"nhs_number,x\n{OTHERS[0]},a\n"


def test_an_output_that_cannot_be_emptied_is_logged_and_the_first_error_still_reported(tmp_path, key, caplog):
    src = tmp_path / "c.csv"
    src.write_text(f"nhs_number\n{OTHERS[0]}\n")
    out = tmp_path / "allowed.csv"
    out.mkdir()  # a folder where the output file should be: it cannot be replaced by an empty file
    with caplog.at_level("WARNING"), pytest.raises(MissingFileError) as err:
        consult_mod.filter_candidates(tmp_path / "no-set", key.public_key(), src, out,
                                      practice_ods="F84003", state_path=fresh_state(), now=NOW)
    assert str(err.value) == f"The exclusion folder {tmp_path / 'no-set'} does not exist."
    [record] = [r for r in caplog.records if r.name == consult_mod.__name__]
    message = record.getMessage()
    assert message.startswith("The consult output could not be emptied after a refused consult (IsADirectoryError")
    assert OTHERS[0] not in message


def test_blank_lines_anywhere_in_a_file_without_a_final_line_break_lose_no_row(tmp_path, key, listed):
    text = f"nhs_number\n\n{OTHERS[0]}\n{LISTED[0]}\n\n{OTHERS[1]}"
    result, out = run(tmp_path, key, text)
    assert (result.candidates, result.allowed, result.held_back_by_set, result.invalid_rows) == (3, 2, 1, ())
    assert out.read_text() == f"nhs_number\n{OTHERS[0]}\n{OTHERS[1]}\n"


@pytest.mark.parametrize("header, row", [
    ("nhs_number,surname,postcode", "{n},Test,LS1 4AP"),
    ("id,nhs_number,surname,postcode", "7,{n},Test,LS1 4AP"),
    ("surname,postcode,nhs_number", "Test,LS1 4AP,{n}"),
])
def test_the_nhs_number_column_is_found_in_a_file_with_blank_lines_and_short_rows(tmp_path, key, listed, header, row):
    short = ",".join(["x"] * (header.count(",")))  # one field too few: held back, the rest still read
    lines = [header, row.format(n=OTHERS[0]), "", row.format(n=LISTED[0]), short, row.format(n=OTHERS[1])]
    result, out = run(tmp_path, key, "\n".join(lines) + "\n")
    assert (result.candidates, result.allowed, result.held_back_by_set) == (4, 2, 1)
    assert result.invalid_rows == ((5, f"has {header.count(',')} fields; the header has {header.count(',') + 1}."),)
    assert out.read_text() == "\n".join([header, lines[1], lines[5]]) + "\n"


@pytest.mark.parametrize("typed", ["{a}{b} {c}", "{a}-{b}{c}", "{a}{b}{c} ", " {a}{b}{c}", "{a} {b} {c}"])
@pytest.mark.parametrize("blank_line", [False, True])
def test_a_number_typed_with_a_space_or_hyphen_is_read_in_every_parser(tmp_path, key, listed, typed, blank_line):
    n = OTHERS[0]
    shown = typed.format(a=n[:3], b=n[3:6], c=n[6:])
    lines = ["nhs_number,x", f"{shown},a", *([""] if blank_line else []), f"{LISTED[0]},b"]
    result, out = run(tmp_path, key, "\n".join(lines) + "\n")
    assert (result.candidates, result.allowed, result.invalid_rows) == (2, 1, ())
    assert out.read_text() == f"nhs_number,x\n{shown},a\n"


def test_a_header_without_an_nhs_number_column_is_shown_up_to_its_first_20_names(tmp_path, key, listed):
    header = [f"col{i}" for i in range(1, 26)]
    refused(tmp_path, key, ",".join(header) + "\n1" + ",1" * 24 + "\n",
            "The candidate file has no NHS number column (a header such as 'nhs_number' or 'NHS Number'); its "
            "header is: " + ", ".join(repr(h) for h in header[:20]) + ".")


@pytest.mark.parametrize("lines, ends, written", [
    # Rows appended by another tool with other line endings: every row is still read, and the
    # allowed list is written throughout with the header line's ending.
    (["nhs_number,x", f"{OTHERS[0]},a", f"{LISTED[0]},b", f"{OTHERS[1]},c"], ["\n", "\r\n", "\n", "\n"], "\n"),
    (["nhs_number,x", f"{OTHERS[0]},a", f"{LISTED[0]},b", f"{OTHERS[1]},c"], ["\r\n", "\n", "\n", "\n"], "\r\n"),
    (["nhs_number", OTHERS[0], LISTED[0], OTHERS[1]], ["\n", "\n", "\n", "\r"], "\n"),  # an old Mac ending last
])
def test_a_file_with_mixed_line_endings_is_written_with_its_headers_ending(tmp_path, key, listed, lines, ends,
                                                                           written):
    result, out = run(tmp_path, key, "".join(line + end for line, end in zip(lines, ends)))
    assert (result.candidates, result.allowed, result.invalid_rows) == (3, 2, ())
    assert out.read_bytes() == "".join(line + written for line in (lines[0], lines[1], lines[3])).encode()


def test_a_single_row_ending_in_a_bare_carriage_return_is_written_without_it(tmp_path, key, listed):
    # The one row of a file saved with an old Mac line ending after it: the allowed list has
    # the number alone on its line, not followed by a stray CR a later tool would read as part of it.
    result, out = run(tmp_path, key, f"nhs_number\n{OTHERS[0]}\r")
    assert (result.candidates, result.allowed, result.invalid_rows) == (1, 1, ())
    assert out.read_bytes() == f"nhs_number\n{OTHERS[0]}\n".encode()


def test_a_file_with_old_mac_line_endings_is_read_row_by_row(tmp_path, key, listed):
    # Carriage returns only (classic Mac OS, some old report writers): each is a line end.
    result, out = run(tmp_path, key, f"nhs_number,x\r{OTHERS[0]},a\r{LISTED[0]},b\r{OTHERS[1]},c\r")
    assert (result.candidates, result.allowed, result.held_back_by_set, result.invalid_rows) == (3, 2, 1, ())
    assert out.read_text().splitlines() == ["nhs_number,x", f"{OTHERS[0]},a", f"{OTHERS[1]},c"]
