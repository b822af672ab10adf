"""Property: consulting a signed exclusion set lets through exactly the candidates a reference
model allows, whichever way the candidate file is written, in both modes.

Spreadsheets and clinical-system exports quote fields (a note with a comma or a line break
in it, the NHS number itself in quotes, a quoted header); a file with any quote in it is
read by the csv module, one without by a faster splitter. Both must give the same answer.
The modes: per patient ("exclude-listed": the set lists objectors, everyone else may be
extracted) and practice-wide ("exclude-all-except-listed": the practice has opted everyone
out and the set lists only those who asked to be included).

Reference model, per candidate row: it may be extracted only if its NHS number (spaces
allowed) is valid AND the mode allows it (listed = allowed in practice-wide mode, listed =
held back per patient); an invalid number is held back and reported by its row (the header
is row 1, a record with a line break inside is still one row); a file the csv module cannot
read leaves an empty output and an error, never a partial list.
"""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gp_optout_desktop.domain.exclusion_rules import EXCLUDE_ALL_EXCEPT_LISTED, EXCLUDE_LISTED
from gp_optout_desktop.exclusion import consult
from gp_optout_desktop.exclusion.errors import CandidateFileError

from excl_helpers import NHS, NOW, TYPE1, TYPE1_WITHDRAWN, export, fresh_state, make_rows

LISTED = NHS[:8]
OTHERS = NHS[8:16]
INVALID = ["", "12345", "1111111111", "9990000000", "abc", "999-000-00"]

number = st.one_of(
    st.sampled_from(LISTED), st.sampled_from(OTHERS),
    st.sampled_from(LISTED + OTHERS).map(lambda n: f"{n[:3]} {n[3:6]} {n[6:]}"),  # as typed
    st.sampled_from(LISTED + OTHERS).map(lambda n: f" {n} "),  # padded (only kept whole inside quotes)
    st.sampled_from(INVALID),
)
NOTES = ["x", "a, b", "line one\nline two", 'said "no"', "", "crlf\r\ninside"]
row = st.fixed_dictionaries({
    "nhs": number,
    "quote_nhs": st.booleans(),
    "note": st.sampled_from(NOTES),
    "quote_note": st.booleans(),
    "blank_before": st.booleans(),
})


def _field(value: str, quoted: bool) -> str:
    return '"' + value.replace('"', '""') + '"' if quoted else value


def _needs_quotes(value: str) -> bool:
    return any(c in value for c in ',"\r\n') or value != value.strip()


def _model(nhs: str, practice_wide: bool) -> str:
    """'kept', 'held' (by the set) or 'invalid'."""
    digits = nhs.strip().replace(" ", "")
    if digits not in LISTED and digits not in OTHERS:
        return "invalid"
    return "kept" if (digits in LISTED) == practice_wide else "held"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, max_size=20), practice_wide=st.booleans(), plain=st.booleans(), crlf=st.booleans(),
       nhs_first=st.booleans(), quote_header=st.booleans(), broken=st.booleans())
@example(rows=[{"nhs": LISTED[0], "quote_nhs": True, "note": "x", "quote_note": False, "blank_before": False},
               {"nhs": OTHERS[0], "quote_nhs": True, "note": "x", "quote_note": False, "blank_before": False}],
         practice_wide=True, plain=False, crlf=False, nhs_first=True, quote_header=False, broken=False)
@example(rows=[{"nhs": OTHERS[1], "quote_nhs": False, "note": "a, b", "quote_note": True, "blank_before": False},
               {"nhs": LISTED[1], "quote_nhs": False, "note": "x", "quote_note": False, "blank_before": False}],
         practice_wide=False, plain=False, crlf=True, nhs_first=False, quote_header=True, broken=False)
def test_quoted_and_unquoted_candidates_are_filtered_as_the_model_says(tmp_path_factory, key, rows, practice_wide,
                                                                       plain, crlf, nhs_first, quote_header, broken):
    work = tmp_path_factory.mktemp("quoted")
    mode = EXCLUDE_ALL_EXCEPT_LISTED if practice_wide else EXCLUDE_LISTED
    export(work / "x", key, make_rows(LISTED, TYPE1_WITHDRAWN if practice_wide else TYPE1), mode=mode)
    nl = "\r\n" if crlf else "\n"

    header = ["NHS Number", "Notes"] if nhs_first else ["Notes", "NHS Number"]
    lines = [",".join(_field(h, quote_header and not plain) for h in header)]
    expect_kept, expect_invalid, rowno = [], [], 1
    for r in rows:
        nhs, note = r["nhs"], r["note"]
        if plain:  # nothing quoted anywhere: only values the fast path can carry
            if _needs_quotes(nhs) or _needs_quotes(note):
                continue
            fields = [nhs, note]
            quoted = [False, False]
        else:
            fields = [nhs, note]
            quoted = [r["quote_nhs"] or _needs_quotes(nhs), r["quote_note"] or _needs_quotes(note)]
        if r["blank_before"]:
            lines.append("")
            rowno += 1
        rowno += 1
        cells = fields if nhs_first else fields[::-1]
        marks = quoted if nhs_first else quoted[::-1]
        lines.append(",".join(_field(v, q) for v, q in zip(cells, marks)))
        verdict = _model(nhs, practice_wide)
        if verdict == "kept":
            expect_kept.append(cells)
        elif verdict == "invalid":
            expect_invalid.append(rowno)
    if broken:  # an unterminated quote: the csv module cannot tell where the record ends
        lines.append(_field(LISTED[0], False) + ',"never closed')
    text = nl.join(lines) + nl
    if not plain and not broken:  # the generator itself is well-formed CSV
        assert [x for x in csv.reader(io.StringIO(text, newline=""))][0] == header

    src, out = work / "candidates.csv", work / "allowed.csv"
    src.write_bytes(text.encode("utf-8"))
    out.write_bytes(b"a stale list from an earlier run\n")

    def run():
        return consult.filter_candidates(work / "x", key.public_key(), src, out, practice_ods="F84003",
                                         state_path=fresh_state(), now=NOW)

    if broken:
        with pytest.raises(CandidateFileError, match="not well-formed CSV"):
            run()
        assert out.read_bytes() == b"", "fail closed: no stale or partial list is left to pick up"
        return
    result = run()
    written = out.read_bytes().decode("utf-8")
    got = list(csv.reader(io.StringIO(written, newline="")))
    assert got[0] == header
    assert got[1:] == expect_kept
    assert written.endswith(nl), "the input's own line endings"
    assert [r for r, _reason in result.invalid_rows] == expect_invalid
    assert result.candidates == rowno - 1 - sum(1 for line in lines[1:] if line == "")
    assert result.allowed == len(expect_kept)
    assert result.held_back_by_set == result.candidates - result.allowed - len(expect_invalid)
    assert result.manifest.mode == mode
