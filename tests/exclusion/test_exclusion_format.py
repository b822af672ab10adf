"""Format v1 primitives: the fast NHS check, rows and manifest, strict parsing."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_optout_desktop.domain import nhs_number
from gp_optout_desktop.domain.exclusion_rules import ExclusionRow
from gp_optout_desktop.exclusion import format as fmt
from gp_optout_desktop.exclusion.errors import MalformedSetError, UnknownFormatVersionError

from excl_helpers import CHAIN, NHS, NOW, TYPE1, make_rows


@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
@settings(max_examples=3000)
def test_fast_nhs_check_agrees_with_domain_rule_on_digit_strings(s):
    assert fmt.nhs_valid(s) == nhs_number.is_valid(s)


@given(st.lists(st.one_of(st.text(alphabet="0123456789", min_size=10, max_size=10), st.sampled_from(NHS),
                          st.text(max_size=11), st.sampled_from(["1111111111", "0000000000", "٩٤٣٤٧٦٥٩١٩"])),
                max_size=6))
@settings(max_examples=3000)
def test_whole_column_nhs_check_agrees_with_the_one_at_a_time_check(numbers):
    assert fmt.all_nhs_valid(numbers) == all(map(fmt.nhs_valid, numbers))


def test_whole_column_nhs_check_finds_one_bad_number_among_many():
    numbers = list(NHS) * 2000
    assert fmt.all_nhs_valid(numbers)
    for at in (0, 1, 77_777, len(numbers) - 1):
        bad = numbers[:at] + ["9990000000"] + numbers[at + 1:]
        assert not fmt.all_nhs_valid(bad)
    assert not fmt.all_nhs_valid(numbers + [9990000018])


@given(st.text(max_size=12))
def test_fast_nhs_check_agrees_with_domain_rule_on_any_text(s):
    if nhs_number.normalise(s) == s:  # nhs_valid takes normalised input
        assert fmt.nhs_valid(s) == nhs_number.is_valid(s)


def test_fast_nhs_check_known_cases():
    assert fmt.nhs_valid("9434765919")
    assert not fmt.nhs_valid("9434765918")
    assert not fmt.nhs_valid("1111111111")  # passes Modulus 11 but never issued
    assert not fmt.nhs_valid("٩٤٣٤٧٦٥٩١٩")  # Arabic-Indic digits are not ASCII
    assert all(fmt.nhs_valid(n) for n in NHS)


@given(st.sets(st.sampled_from(NHS)), st.sampled_from([TYPE1, "881561000000100"]))
def test_rows_round_trip(numbers, code):
    rows = fmt.check_rows(make_rows(sorted(numbers), code))
    data = fmt.serialise_rows(rows)
    assert fmt.parse_rows(data) == rows
    assert data.startswith(fmt.LIST_HEADER.encode()) and data.endswith(b"\n") and b"\r" not in data


def test_empty_list_is_header_only():
    assert fmt.serialise_rows([]) == b"nhs_number,snomed_ct,effective_date\n"
    assert fmt.parse_rows(fmt.serialise_rows([])) == []


def test_check_rows_sorts_and_refuses_duplicates_and_invalid_numbers():
    rows = make_rows(NHS[:3])
    assert fmt.check_rows(reversed(rows)) == rows
    with pytest.raises(ValueError, match="same patient"):
        fmt.check_rows(rows + [ExclusionRow(NHS[0], TYPE1, date(2020, 1, 1))])
    with pytest.raises(ValueError, match="invalid NHS number"):
        fmt.check_rows([ExclusionRow("9990000000", TYPE1, date(2020, 1, 1))])


GOOD = (fmt.LIST_HEADER + f"{NHS[0]},{TYPE1},2024-01-01\n{NHS[1]},{TYPE1},2024-01-02\n").encode()


@pytest.mark.parametrize(
    "data, words",
    [
        (b"\xef\xbb\xbf" + GOOD, "outside plain ASCII"),
        (GOOD.replace(b"\n", b"\r\n"), "does not start with the header"),
        (GOOD.replace(b"02\n", b"02\r\n"), "CR characters"),
        (GOOD[:-1], "truncated"),
        (GOOD.replace(b"nhs_number", b"nhs"), "header"),
        (GOOD.replace(TYPE1.encode() + b",2024-01-02", b"2024-01-02"), "three fields"),
        (GOOD.replace(NHS[1].encode(), b"9990000000"), "Line 3 .* invalid NHS number"),
        (GOOD.replace(b"2024-01-02", b"2024-02-30"), "impossible effective date"),
        (GOOD.replace(b"2024-01-02", b"02/01/2024"), "malformed effective date"),
        (GOOD.replace(TYPE1.encode() + b",2024-01-02", b"9Nu0.,2024-01-02"), "SNOMED"),
        (fmt.LIST_HEADER.encode() + GOOD.split(b"\n", 1)[1].split(b"\n")[1] + b"\n" + GOOD.split(b"\n")[1] + b"\n", "out of order"),
        (GOOD + GOOD.split(b"\n")[2] + b"\n", "out of order or repeats"),
    ],
)
def test_parse_rows_refuses(data, words):
    with pytest.raises(MalformedSetError, match=words):
        fmt.parse_rows(data)
    with pytest.raises(MalformedSetError, match=words):  # the writer's re-read refuses it with the same words
        fmt.count_rows(data)


def _outcome(fn, data):
    try:
        return fn(data)
    except (MalformedSetError, ValueError, TypeError, AttributeError) as exc:
        return type(exc), str(exc)


# Bytes a corrupted or hand-edited list might hold: digits, the separators, a CR, a BOM byte.
_EDIT = st.tuples(st.integers(min_value=0, max_value=len(GOOD) + 40),
                  st.sampled_from([b"", b"0", b"1", b"9", b",", b"\n", b"-", b"\r", b"\xef", b"a", b" "]))


# Lines whose cells are each good or bad in one way, in any order: numbers repeated, out of
# order, failing the check digit, short; codes with a leading 0 or too short; dates impossible.
_LINE = st.tuples(st.sampled_from(NHS[:4] + ["9990000000", "999000001", "99900000181"]),
                  st.sampled_from([TYPE1, "0123456", "12345", "881561000000100"]),
                  st.sampled_from(["2024-01-01", "2024-02-30", "2024-1-01", "2023-12-31"]))


@given(st.lists(_LINE, max_size=5), st.lists(_EDIT, max_size=3))
@settings(max_examples=1500)
def test_whole_column_checks_agree_with_the_line_by_line_parse(lines, edits):
    """The fast path (issue 13) accepts exactly what the line-by-line loop accepts, with the same rows;
    anything else gets the loop's own message, from parse_rows and count_rows alike."""
    data = (fmt.LIST_HEADER + "".join(f"{a},{b},{c}\n" for a, b, c in lines)).encode()
    for at, text in edits:  # overwrite one byte, or insert when the position is past the end
        data = data[:at] + text + data[at + 1:] if at < len(data) else data + text
    fast = _outcome(fmt.parse_rows, data)
    counted = _outcome(fmt.count_rows, data)
    real = fmt._checked_columns
    fmt._checked_columns = lambda body: None  # the line-by-line loop alone
    try:
        slow = _outcome(fmt.parse_rows, data)
    finally:
        fmt._checked_columns = real
    assert fast == slow
    assert counted == (len(slow) if isinstance(slow, list) else slow)


@given(st.lists(st.tuples(st.sampled_from(NHS[:6] + ["9990000000", "999000001"]),
                          st.sampled_from([TYPE1, "0123456", "881561000000100"]),
                          st.sampled_from([date(2024, 1, 1), date(2023, 5, 6)])), max_size=6))
def test_check_rows_whole_columns_agree_with_the_row_by_row_loop(cells):
    rows = [ExclusionRow(*c) for c in cells]
    fast = _outcome(fmt.check_rows, rows)
    real = fmt._rows_pass
    fmt._rows_pass = lambda out: False
    try:
        slow = _outcome(fmt.check_rows, rows)
    finally:
        fmt._rows_pass = real
    assert fast == slow


def manifest(**kw):
    base = dict(
        practice_ods="F84003",
        generated_at=NOW,
        valid_until=NOW + timedelta(days=7),
        register_revision=3,
        mode="exclude-listed",
        row_count=2,
        list_sha256=fmt.sha256_hex(GOOD),
        audit_chain_head=CHAIN,
        signing_key_id="0123456789abcdef",
    )
    base.update(kw)
    return fmt.Manifest(**base)


def test_manifest_round_trip_and_bytes_are_deterministic():
    m = manifest(objectors_without_nhs_number=4)
    data = fmt.serialise_manifest(m)
    assert fmt.parse_manifest(data) == m
    assert fmt.serialise_manifest(fmt.parse_manifest(data)) == data
    assert data.endswith(b"}\n") and json.loads(data)["format_version"] == 2


def _edit(obj_change):
    obj = json.loads(fmt.serialise_manifest(manifest()))
    obj_change(obj)
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


@pytest.mark.parametrize(
    "change, error, words",
    [
        (lambda o: o.update(format_version=3), UnknownFormatVersionError, "version 3"),
        (lambda o: o.update(format_version=1), UnknownFormatVersionError, "version 1, which this reader refuses"),
        (lambda o: o.update(format_version="1"), UnknownFormatVersionError, "version '1'"),
        (lambda o: o.update(format="something-else"), MalformedSetError, "not an exclusion set"),
        (lambda o: o.pop("valid_until"), MalformedSetError, "lacks the field.*valid_until"),
        (lambda o: o.update(extra=1), MalformedSetError, "does not define: extra"),
        (lambda o: o.update(row_count=True), MalformedSetError, "row_count"),
        (lambda o: o.update(row_count=-1), MalformedSetError, "row_count"),
        (lambda o: o.update(register_revision=1.5), MalformedSetError, "1.5; every number in it is a whole number"),
        (lambda o: o.update(register_revision=10**12), MalformedSetError, "register_revision"),
        (lambda o: o.update(register_revision="5"), MalformedSetError, "register_revision"),
        (lambda o: o.update(practice_ods=84003), MalformedSetError, "practice_ods is not a string"),
        (lambda o: o.update(mode=["exclude-listed"]), MalformedSetError, "mode is not a string"),
        (lambda o: o.update(objectors_without_nhs_number=None), MalformedSetError, "objectors_without_nhs_number"),
        (lambda o: o.update(mode="exclude-all-except-listed", objectors_without_nhs_number=2), MalformedSetError,
         "must be 0 in exclude-all-except-listed"),
        (lambda o: o.update(signing_key_id="0123456789ABCDEF"), MalformedSetError, "signing_key_id"),
        (lambda o: o.update(valid_until="2025-04-02T09:30:01Z"), MalformedSetError, "maximum of 31 days"),
        (lambda o: o.update(valid_until="2025-02-30T09:30:00Z"), MalformedSetError, "not a real date"),
        (lambda o: o.update(mode="exclude-none"), MalformedSetError, "mode"),
        (lambda o: o.update(practice_ods="f84003"), MalformedSetError, "upper-case"),
        (lambda o: o.update(practice_ods="F8400"), MalformedSetError, "ODS"),
        (lambda o: o.update(list_sha256="AB" * 32), MalformedSetError, "list_sha256"),
        (lambda o: o.update(generated_at="2025-03-01 09:30:00"), MalformedSetError, "generated_at"),
        (lambda o: o.update(valid_until=o["generated_at"]), MalformedSetError, "valid_until is not after"),
        (lambda o: o.update(list_file="../../etc/passwd"), MalformedSetError, "list file"),
        (lambda o: o.update(national_list=None), MalformedSetError, "does not define: national_list"),
        (lambda o: o.update(audit_chain_head=""), MalformedSetError, "audit_chain_head"),
        # issue 11 finding 6: a malformed audit_chain_head was accepted
        (lambda o: o.update(audit_chain_head="not-a-head"), MalformedSetError, "audit_chain_head"),
        (lambda o: o.update(audit_chain_head="12:" + "0F" * 32), MalformedSetError, "audit_chain_head"),
        (lambda o: o.update(audit_chain_head="0f" * 32), MalformedSetError, "audit_chain_head"),
        (lambda o: o.update(audit_chain_head="012:" + "0f" * 32), MalformedSetError, "audit_chain_head"),
        (lambda o: o.update(audit_chain_head="12:" + "0f" * 31), MalformedSetError, "audit_chain_head"),
        (lambda o: o.update(audit_chain_head=12), MalformedSetError, "audit_chain_head is not a string"),
    ],
)
def test_parse_manifest_refuses(change, error, words):
    with pytest.raises(error, match=words):
        fmt.parse_manifest(_edit(change))


def test_parse_manifest_refuses_non_json():
    with pytest.raises(MalformedSetError, match="outside plain ASCII"):
        fmt.parse_manifest(b"\x00\xff")
    with pytest.raises(MalformedSetError, match="not valid JSON"):
        fmt.parse_manifest(b"{not json")


def test_serialise_manifest_refuses_bad_fields():
    with pytest.raises(ValueError, match="ODS"):
        fmt.serialise_manifest(manifest(practice_ods="nope"))
    with pytest.raises(ValueError, match="timezone-aware"):
        fmt.serialise_manifest(manifest(generated_at=NOW.replace(tzinfo=None), valid_until=NOW.replace(tzinfo=None) + timedelta(1)))


def test_national_shape():
    data = fmt.serialise_national(NHS[:3])
    assert data == "".join(f"{n},\n" for n in NHS[:3]).encode()
    assert fmt.parse_national(data) == NHS[:3]
    assert fmt.parse_national(b"") == []
    with pytest.raises(MalformedSetError, match="Line 2"):
        fmt.parse_national(data.replace(f"{NHS[1]},".encode(), f"{NHS[1]}".encode() + b";"))
    with pytest.raises(MalformedSetError, match="truncated"):
        fmt.parse_national(data[:-2])
