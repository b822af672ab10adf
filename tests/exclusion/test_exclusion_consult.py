"""Consult: filter candidates through a verified set; fail closed on any doubt."""

from __future__ import annotations

import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gp_optout_desktop.domain.exclusion_rules import EXCLUDE_ALL_EXCEPT_LISTED
from gp_optout_desktop.exclusion import consult as consult_mod
from gp_optout_desktop.exclusion import state
from gp_optout_desktop.exclusion.errors import (
    BadSignatureError,
    CandidateFileError,
    ExpiredError,
    HashMismatchError,
    MissingFileError,
    RevisionRollbackError,
    WrongPracticeError,
)

from excl_helpers import NHS, NOW, TYPE1_WITHDRAWN, export, fresh_state, make_rows

LISTED = NHS[:10]  # what export() lists by default
OTHERS = NHS[10:20]


def run(tmp_path, key, text: str | bytes, **kw):
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


def test_exclude_listed_keeps_everyone_else_in_order(tmp_path, key, listed):
    candidates = [OTHERS[0], LISTED[0], OTHERS[1], LISTED[5], OTHERS[2]]
    text = "nhs_number,surname_initial\n" + "".join(f"{n},A\n" for n in candidates)
    result, out = run(tmp_path, key, text)
    assert out.read_text() == "nhs_number,surname_initial\n" + "".join(f"{n},A\n" for n in OTHERS[:3])
    assert (result.candidates, result.allowed, result.held_back, result.held_back_by_set) == (5, 3, 2, 2)
    assert result.invalid_rows == ()


def test_exclude_all_except_listed_keeps_only_listed(tmp_path, key):
    export(tmp_path / "x", key, make_rows(NHS[:3], TYPE1_WITHDRAWN), mode=EXCLUDE_ALL_EXCEPT_LISTED)
    text = "NHS Number\n" + "".join(f"{n}\n" for n in [NHS[5], NHS[1], NHS[7], NHS[0]])
    result, out = run(tmp_path, key, text)
    assert out.read_text() == f"NHS Number\n{NHS[1]}\n{NHS[0]}\n"
    assert (result.allowed, result.held_back_by_set) == (2, 2)


def test_crlf_and_bom_from_windows_tools_are_kept(tmp_path, key, listed):
    text = "\ufeffPatient,NHS Number,Postcode\r\n" + "".join(f"p{i},{n},ZZ99 3VZ\r\n" for i, n in enumerate([LISTED[1], OTHERS[4]]))
    result, out = run(tmp_path, key, text)
    assert out.read_bytes() == f"\ufeffPatient,NHS Number,Postcode\r\np1,{OTHERS[4]},ZZ99 3VZ\r\n".encode("utf-8")
    assert result.allowed == 1


def test_quoted_fields_use_the_csv_parser(tmp_path, key, listed):
    text = 'name,nhs_number\r\n"Smith, Jo",' + LISTED[2] + '\r\n"O\'Brien, ""Al""",' + OTHERS[0] + "\r\n"
    result, out = run(tmp_path, key, text)
    assert out.read_bytes().decode() == 'name,nhs_number\r\n"O\'Brien, ""Al""",' + OTHERS[0] + "\r\n"
    assert result.allowed == 1


def test_formatted_numbers_are_normalised(tmp_path, key, listed):
    spaced = lambda n: f"{n[:3]} {n[3:6]} {n[6:]}"
    text = f"nhs_no\n{spaced(LISTED[3])}\n{OTHERS[1][:3]}-{OTHERS[1][3:6]}-{OTHERS[1][6:]}\n"
    result, out = run(tmp_path, key, text)
    assert out.read_text() == f"nhs_no\n{OTHERS[1][:3]}-{OTHERS[1][3:6]}-{OTHERS[1][6:]}\n"
    assert result.held_back_by_set == 1


def test_invalid_numbers_are_held_back_and_reported_by_row(tmp_path, key, listed):
    bad_check = OTHERS[0][:9] + str((int(OTHERS[0][9]) + 1) % 10)
    rows = [OTHERS[0], "", bad_check, "1111111111", OTHERS[1], "99900", "abc", f"{OTHERS[2]},y,extra"]
    text = "nhs_number,x\n" + "".join(f"{r},y\n" if "," not in r else f"{r}\n" for r in rows)
    result, out = run(tmp_path, key, text)
    assert out.read_text() == f"nhs_number,x\n{OTHERS[0]},y\n{OTHERS[1]},y\n"
    assert [r for r, _ in result.invalid_rows] == [3, 4, 5, 7, 8, 9]
    reasons = dict(result.invalid_rows)
    assert "Enter an NHS number" in reasons[3] and "check digit" in reasons[4] and "repeated digit" in reasons[5]
    assert "10 digits; this has 5" in reasons[7] and "digits only" in reasons[8] and "has 3 fields" in reasons[9]
    assert all(OTHERS[0] not in reason and bad_check not in reason for reason in reasons.values())
    assert (result.candidates, result.allowed, result.held_back) == (8, 2, 6)


def test_blank_lines_are_not_candidates(tmp_path, key, listed):
    result, out = run(tmp_path, key, f"nhs_number\n\n{OTHERS[0]}\n\n")
    assert result.candidates == 1 and out.read_text() == f"nhs_number\n{OTHERS[0]}\n"


def test_header_only_gives_header_only(tmp_path, key, listed):
    result, out = run(tmp_path, key, "nhs_number\r\n")
    assert out.read_bytes() == b"nhs_number\r\n" and result.candidates == 0


@pytest.mark.parametrize(
    "text, words",
    [
        ("patient_id,postcode\n1,ZZ99 3VZ\n", "no NHS number column.*'patient_id', 'postcode'"),
        ("nhs_number,NHS No\n", "more than one NHS number column"),
        ("", "empty"),
        (b"nhs_number\n\xff\xfe\n", "not UTF-8"),
        ('nhs_number\n"unterminated\n', "not well-formed CSV"),
    ],
)
def test_unreadable_candidate_files_fail_with_empty_output(tmp_path, key, listed, text, words):
    (tmp_path / "allowed.csv").write_text("stale list from yesterday\n")
    with pytest.raises(CandidateFileError, match=words):
        run(tmp_path, key, text)
    assert (tmp_path / "allowed.csv").read_bytes() == b""


def test_missing_candidate_file(tmp_path, key, listed):
    with pytest.raises(CandidateFileError, match="does not exist"):
        consult_mod.filter_candidates(tmp_path / "x", key.public_key(), tmp_path / "none.csv", tmp_path / "out.csv", practice_ods="F84003", state_path=fresh_state(), now=NOW)


def test_output_may_not_overwrite_the_input(tmp_path, key, listed):
    src = tmp_path / "c.csv"
    src.write_text(f"nhs_number\n{OTHERS[0]}\n")
    with pytest.raises(CandidateFileError, match="must not be the candidate file"):
        consult_mod.filter_candidates(tmp_path / "x", key.public_key(), src, src, practice_ods="F84003", state_path=fresh_state(), now=NOW)
    assert src.read_text() == f"nhs_number\n{OTHERS[0]}\n"


def _tamper_list(tmp_path):
    gen = next(p for p in (tmp_path / "x").iterdir() if p.is_dir())
    (gen / "exclusions.csv").write_bytes((gen / "exclusions.csv").read_bytes()[:-30])


def _remove_pointer(tmp_path):
    (tmp_path / "x" / "CURRENT").unlink()


@pytest.mark.parametrize(
    "spoil, kwargs, error, words",
    [
        (_remove_pointer, {}, MissingFileError, "no CURRENT file"),
        (_tamper_list, {}, HashMismatchError, "altered or truncated"),
        (None, {"practice_ods": "B82001"}, WrongPracticeError, "not B82001"),
        (None, {"now": NOW.replace(month=4)}, ExpiredError, "expired"),
    ],
)
def test_any_exclusion_set_failure_empties_the_output(tmp_path, key, listed, spoil, kwargs, error, words):
    if spoil:
        spoil(tmp_path)
    (tmp_path / "allowed.csv").write_text("stale list from yesterday\n")
    with pytest.raises(error, match=words):
        run(tmp_path, key, f"nhs_number\n{OTHERS[0]}\n", **kwargs)
    assert (tmp_path / "allowed.csv").read_bytes() == b""


def test_wrong_public_key_empties_the_output(tmp_path, key, other_key, listed):
    src = tmp_path / "c.csv"
    src.write_text(f"nhs_number\n{OTHERS[0]}\n")
    with pytest.raises(BadSignatureError):
        consult_mod.filter_candidates(tmp_path / "x", other_key.public_key(), src, tmp_path / "allowed.csv", practice_ods="F84003", state_path=fresh_state(), now=NOW)
    assert (tmp_path / "allowed.csv").read_bytes() == b""


def test_state_records_revision_and_refuses_rollback(tmp_path, key):
    seen = tmp_path / "seen.json"
    export(tmp_path / "x", key, revision=7)
    run(tmp_path, key, f"nhs_number\n{OTHERS[0]}\n", state_path=seen)
    assert state.highest_seen(seen, "F84003") == 7
    assert json.loads(seen.read_text())["practices"]["F84003"]["highest_revision"] == 7
    # An older set put back (the writer itself refuses to go backwards: an old copy of the folder restored).
    export(tmp_path / "old", key, revision=6)
    shutil.rmtree(tmp_path / "x")
    shutil.copytree(tmp_path / "old", tmp_path / "x")
    with pytest.raises(RevisionRollbackError, match="revision 6, older than revision 7"):
        run(tmp_path, key, f"nhs_number\n{OTHERS[0]}\n", state_path=seen)
    assert (tmp_path / "allowed.csv").read_bytes() == b""


def test_mixed_line_endings_take_the_csv_path(tmp_path, key, listed):
    text = f"nhs_number\r\n{OTHERS[0]}\n{LISTED[0]}\r\n{OTHERS[1]}\r\n"
    result, out = run(tmp_path, key, text)
    assert out.read_bytes() == f"nhs_number\r\n{OTHERS[0]}\r\n{OTHERS[1]}\r\n".encode()
    assert (result.candidates, result.allowed) == (3, 2)


_candidate = st.one_of(
    st.sampled_from(LISTED + OTHERS),  # valid, listed or not
    st.sampled_from(OTHERS).map(lambda n: f"{n[:3]} {n[3:6]} {n[6:]}"),  # typed with spaces
    st.sampled_from(["", "12345", "1111111111", "9990000000", "abc"]),  # invalid
)


@given(cands=st.lists(st.tuples(_candidate, st.booleans(), st.booleans()), max_size=25),
       crlf=st.booleans(), mode_all=st.booleans())
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_candidate_file_is_filtered_exactly(tmp_path_factory, key, cands, crlf, mode_all):
    """Reference model: keep a row iff its normalised NHS number is valid and the mode allows it;
    every other row is held back, invalid ones reported by row; the fast and general paths agree."""
    work = tmp_path_factory.mktemp("prop")
    mode = EXCLUDE_ALL_EXCEPT_LISTED if mode_all else "exclude-listed"
    export(work / "x", key, make_rows(LISTED, TYPE1_WITHDRAWN if mode_all else "827241000000103"), mode=mode)
    nl = "\r\n" if crlf else "\n"
    lines, expect_kept, expect_invalid = [], [], []
    rowno = 1
    for cand, blank_before, extra_field in cands:
        if blank_before:  # a blank line is no candidate but still counts as a row
            lines.append("")
            rowno += 1
        rowno += 1
        line = f"{cand},x,extra" if extra_field and cand else f"{cand},x"
        lines.append(line)
        nhs = cand.replace(" ", "")
        if extra_field and cand:
            expect_invalid.append(rowno)
        elif nhs in LISTED or nhs in OTHERS:
            if (nhs in LISTED) == mode_all:
                expect_kept.append(line)
        else:
            expect_invalid.append(rowno)
    text = "nhs_number,other" + nl + "".join(line + nl for line in lines)
    result, out = run(work, key, text)
    assert out.read_bytes().decode() == "nhs_number,other" + nl + "".join(k + nl for k in expect_kept)
    assert [r for r, _ in result.invalid_rows] == expect_invalid
    assert result.candidates == len(cands) and result.allowed == len(expect_kept)


def test_a_bad_number_deep_in_a_long_file_is_found_in_its_chunk(tmp_path, key, listed):
    """Long files are checked a chunk at a time (consult._CHUNK numbers at C speed); a chunk
    holding one bad or spaced number is checked number by number: the same rows held back
    and kept as if every number were checked on its own."""
    from gp_optout_desktop.domain.nhs_number import synthetic_range

    many = synthetic_range(consult_mod._CHUNK * 2 + 7)
    bad_at, spaced_at = consult_mod._CHUNK + 3, 2 * consult_mod._CHUNK + 1
    numbers = list(many)
    numbers[bad_at] = numbers[bad_at][:9] + str((int(numbers[bad_at][9]) + 1) % 10)
    numbers[spaced_at] = f"{numbers[spaced_at][:3]} {numbers[spaced_at][3:6]} {numbers[spaced_at][6:]}"
    numbers[10] = LISTED[0]
    text = "row,nhs_number\n" + "".join(f"{i},{n}\n" for i, n in enumerate(numbers))
    result, out = run(tmp_path, key, text)
    assert [row for row, _ in result.invalid_rows] == [bad_at + 2]
    listed_rows = {i for i, n in enumerate(numbers) if n in LISTED}
    assert 10 in listed_rows
    expected = ["row,nhs_number"] + [f"{i},{n}" for i, n in enumerate(numbers) if i not in listed_rows | {bad_at}]
    assert out.read_text().splitlines() == expected  # the spaced number kept as written
    assert f"{spaced_at},{numbers[spaced_at]}" in expected
    assert (result.candidates, result.held_back_by_set) == (len(numbers), len(listed_rows))
