"""The exclusion file format (exclusion/format.py) as a consumer's operator meets it when a
set is refused: each reason in full words, the line named, never a patient; the manifest's
every field checked; times kept in UTC whatever the PC's zone."""
from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from excl_helpers import CHAIN, NHS, NOW, TYPE1
from gp_optout_desktop.domain.exclusion_rules import ExclusionRow
from gp_optout_desktop.exclusion import format as fmt
from gp_optout_desktop.exclusion.errors import MalformedSetError, UnknownFormatVersionError
from test_exclusion_format import GOOD, _edit, manifest

HEAD = "The manifest's audit_chain_head is not '0:genesis' or a sequence number, ':' and 64 or 128 lower-case hex digits."


@pytest.mark.parametrize("data, message", [
    (b"\xef\xbb\xbf" + GOOD, "The list file has characters outside plain ASCII (a BOM or a corrupted byte)."),
    (GOOD.replace(b"nhs_number", b"nhs"),
     "The list file does not start with the header line 'nhs_number,snomed_ct,effective_date'."),
    (GOOD.replace(b"02\n", b"02\r\n"), "The list file has CR characters; the format uses LF line endings only."),
    (GOOD[:-1], "The list file does not end with a line feed: it may be truncated."),
    (GOOD.replace(TYPE1.encode() + b",2024-01-02", b"2024-01-02"),
     "Line 3 of the list file does not have exactly three fields."),
    (GOOD.replace(NHS[1].encode(), b"9990000000"), "Line 3 of the list file has an invalid NHS number."),
    (GOOD.replace(b"2024-01-02", b"2024-02-30"), "Line 3 of the list file has an impossible effective date."),
    (GOOD.replace(b"2024-01-02", b"02/01/2024"), "Line 3 of the list file has a malformed effective date."),
    (GOOD.replace(TYPE1.encode() + b",2024-01-02", b"9Nu0.,2024-01-02"),
     "Line 3 of the list file has a malformed SNOMED CT code."),
    (GOOD + GOOD.split(b"\n")[2] + b"\n",
     "Line 4 of the list file is out of order or repeats a patient (rows must be sorted, one per patient)."),
])
def test_a_bad_list_file_is_refused_naming_the_line(data, message):
    with pytest.raises(MalformedSetError) as err:
        fmt.parse_rows(data)
    assert str(err.value) == message


def test_the_list_reads_back_every_row_with_its_code_and_date():
    rows = fmt.parse_rows(GOOD)
    assert rows == [ExclusionRow(NHS[0], TYPE1, date(2024, 1, 1)), ExclusionRow(NHS[1], TYPE1, date(2024, 1, 2))]
    assert fmt.parse_rows(fmt.LIST_HEADER.encode()) == []


@pytest.mark.parametrize("rows, message", [
    ([ExclusionRow("9990000000", TYPE1, date(2024, 1, 1))], "row 1 of the export has an invalid NHS number"),
    ([ExclusionRow(NHS[1], TYPE1, date(2024, 1, 1)), ExclusionRow(NHS[0], "9Nu0.", date(2024, 1, 1))],
     "row 1 of the export has a malformed SNOMED CT code"),   # positions count after sorting
    ([ExclusionRow(NHS[0], TYPE1, datetime(2024, 1, 1, tzinfo=timezone.utc))], "row 1 of the export has no effective date"),
    ([ExclusionRow(NHS[0], TYPE1, "2024-01-01")], "row 1 of the export has no effective date"),
    ([ExclusionRow(NHS[0], TYPE1, date(2024, 1, 1)), ExclusionRow(NHS[0], TYPE1, date(2024, 1, 2))],
     "rows 1 and 2 of the export are the same patient"),
])
def test_rows_the_writer_refuses_are_named_by_position(rows, message):
    with pytest.raises(ValueError) as err:
        fmt.check_rows(rows)
    assert str(err.value) == message


@pytest.mark.parametrize("change, error, message", [
    (lambda o: o.update(format_version=3), UnknownFormatVersionError,
     "The exclusion set is format version 3; this reader understands version 2 only."),
    (lambda o: o.update(format_version=1), UnknownFormatVersionError,
     "The exclusion set is format version 1, which this reader refuses (version 1 listed legacy Type 2-only patients "
     "as blocked and was read leniently): export the set again with this version of gp-optout-desktop (format "
     "version 2)."),
    (lambda o: o.update(format_version="2"), UnknownFormatVersionError,
     "The exclusion set is format version '2'; this reader understands version 2 only."),
    (lambda o: o.update(format_version=True), UnknownFormatVersionError,
     "The exclusion set is format version True; this reader understands version 2 only."),
    (lambda o: o.update(format="something-else"), MalformedSetError,
     "The manifest does not say format 'gp-optout-exclusion': this is not an exclusion set."),
    (lambda o: (o.pop("valid_until"), o.pop("mode")), MalformedSetError, "The manifest lacks the field(s): mode, valid_until."),
    (lambda o: o.update(extra=1, another=2), MalformedSetError,
     "The manifest has field(s) version 2 does not define: another, extra."),
    (lambda o: o.update(row_count=True), MalformedSetError,
     "The manifest's row_count is not a whole number of zero or more."),
    (lambda o: o.update(register_revision=-1), MalformedSetError,
     "The manifest's register_revision is not a whole number of zero or more."),
    (lambda o: o.update(register_revision=10**12), MalformedSetError,
     "The manifest's register_revision is not a whole number from 0 to 999999999999."),
    (lambda o: o.update(register_revision=1.5), MalformedSetError,
     "The manifest holds the number 1.5; every number in it is a whole number."),
    (lambda o: o.update(objectors_without_nhs_number=-2), MalformedSetError,
     "The manifest's objectors_without_nhs_number is not a whole number of zero or more."),
    (lambda o: o.update(mode="exclude-all-except-listed", objectors_without_nhs_number=2), MalformedSetError,
     "The manifest's objectors_without_nhs_number must be 0 in exclude-all-except-listed mode."),
    (lambda o: o.update(signing_key_id="0123456789ABCDEF"), MalformedSetError,
     "The manifest's signing_key_id is not 16 lower-case hex digits."),
    (lambda o: o.update(valid_until="2025-04-01T09:30:01Z"), MalformedSetError,
     "The manifest's validity (31 days, 0:00:01) is longer than the format's maximum of 31 days."),
    (lambda o: o.update(valid_until="2025-02-30T09:30:00Z"), MalformedSetError,
     "The manifest field 'valid_until' is not a real date and time."),
    (lambda o: o.update(generated_at="2025-03-01 09:30:00"), MalformedSetError,
     "The manifest field 'generated_at' is not a UTC time like 2025-01-31T09:30:00Z."),
    (lambda o: o.update(mode="exclude-none"), MalformedSetError,
     "The manifest's mode 'exclude-none' is not one of exclude-listed, exclude-all-except-listed."),
    (lambda o: o.update(practice_ods="f84003"), MalformedSetError,
     "The manifest's practice ODS code is not one upper-case letter and five digits."),
    (lambda o: o.update(practice_ods="F8400"), MalformedSetError,
     "The manifest's practice ODS code is not one letter and five digits."),
    (lambda o: o.update(list_sha256="AB" * 32), MalformedSetError,
     "The manifest's list_sha256 is not 64 lower-case hex digits."),
    (lambda o: o.update(valid_until=o["generated_at"]), MalformedSetError,
     "The manifest's valid_until is not after generated_at."),
    (lambda o: o.update(list_file="../../etc/passwd"), MalformedSetError,
     "The manifest names the list file '../../etc/passwd'; the format always uses 'exclusions.csv'."),
    (lambda o: o.update(audit_chain_head="12:" + "0F" * 32), MalformedSetError, HEAD),
    (lambda o: o.update(audit_chain_head=12), MalformedSetError, "The manifest's audit_chain_head is not a string."),
    (lambda o: o.update(signing_key_id=None), MalformedSetError, "The manifest's signing_key_id is not a string."),
])
def test_a_bad_manifest_is_refused_with_its_reason(change, error, message):
    with pytest.raises(error) as err:
        fmt.parse_manifest(_edit(change))
    assert type(err.value) is error and str(err.value) == message


@pytest.mark.parametrize("head", ["0:genesis", "1:" + "0f" * 32, "123456789012345678:" + "ab" * 64])
def test_every_audit_head_the_register_writes_is_accepted(head):
    m = manifest(audit_chain_head=head)
    assert fmt.parse_manifest(fmt.serialise_manifest(m)) == m


def test_a_manifest_valid_for_exactly_31_days_is_accepted():
    m = manifest(valid_until=NOW + timedelta(days=31))
    assert fmt.parse_manifest(fmt.serialise_manifest(m)).valid_until == NOW + timedelta(days=31)


@pytest.mark.parametrize("data, message", [
    (b'{"a": NaN}', "The manifest holds NaN, which is not JSON."),
    (b'{"a": -Infinity}', "The manifest holds -Infinity, which is not JSON."),
    (b'{"a": 1, "a": 2}', "The manifest has the field 'a' more than once."),
    (b'{"a": 1.0}', "The manifest holds the number 1.0; every number in it is a whole number."),
    (b'{"a": "\xc3\xa9"}', "The manifest has characters outside plain ASCII."),
    (b'{"a": ', "The manifest is not valid JSON."),
    (b"[" * 100_000, "The manifest is not valid JSON."),
])
def test_json_a_lenient_parser_would_read_differently_is_refused(data, message):
    with pytest.raises(MalformedSetError) as err:
        fmt.strict_json(data)
    assert str(err.value) == message


def test_the_same_json_rules_name_the_file_they_read():
    with pytest.raises(MalformedSetError) as err:
        fmt.strict_json(b'{"a": NaN}', "state file")
    assert str(err.value) == "The state file holds NaN, which is not JSON."


def test_a_manifest_not_in_the_writers_exact_form_is_refused():
    data = fmt.serialise_manifest(manifest())
    with pytest.raises(MalformedSetError) as err:
        fmt.parse_manifest(data.replace(b"  ", b"    "))
    assert str(err.value) == ("The manifest is not in the canonical form (sorted keys, two-space indent, final line "
                              "feed) that the writer produces.")


def test_the_writer_refuses_to_serialise_a_bad_manifest_with_the_first_reason():
    with pytest.raises(ValueError) as err:
        fmt.serialise_manifest(manifest(practice_ods="F8400", mode="exclude-none"))
    assert str(err.value) == "The manifest's practice ODS code is not one letter and five digits."
    with pytest.raises(ValueError) as err:
        fmt.format_ts(datetime(2025, 3, 1, 9, 30))
    assert str(err.value) == "timestamps in the exclusion file must be timezone-aware"


@pytest.fixture
def pc_in_tokyo(monkeypatch):
    if not hasattr(time, "tzset"):
        pytest.skip("the process zone can only be changed where time.tzset exists (not Windows)")
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_are_kept_in_utc_whole_seconds_whatever_the_pcs_zone(pc_in_tokyo):
    tokyo = datetime(2025, 3, 1, 18, 30, 5, 999_000, tzinfo=timezone(timedelta(hours=9)))
    kept = fmt.utc_seconds(tokyo)
    assert kept.utcoffset() == timedelta(0) and (kept.hour, kept.second, kept.microsecond) == (9, 5, 0)
    assert fmt.format_ts(tokyo) == "2025-03-01T09:30:05Z"
    assert fmt.parse_ts("2025-03-01T09:30:05Z", "generated_at") == kept


def test_the_generation_folder_carries_the_manifests_revision_and_time():
    name = fmt.generation_name(42, NOW, "0a1b2c3d")
    assert name == "g000000000042-20250301T093000Z-0a1b2c3d" and fmt.GENERATION_RE.fullmatch(name)
    assert fmt.generation_matches(name, manifest(register_revision=42))
    assert not fmt.generation_matches(name, manifest(register_revision=43))
    assert not fmt.generation_matches(name, manifest(register_revision=42, generated_at=NOW + timedelta(seconds=1),
                                                     valid_until=NOW + timedelta(days=2)))


def test_the_national_check_shape():
    assert fmt.serialise_national([NHS[0], NHS[1]]) == f"{NHS[0]},\n{NHS[1]},\n".encode()
    assert fmt.parse_national(f"{NHS[0]},\n{NHS[1]},\n".encode()) == [NHS[0], NHS[1]]
    assert fmt.parse_national(b"") == []
    for data, message in [
        ("é".encode(), "The national-check list has characters outside plain ASCII."),
        (f"{NHS[0]}\n".encode(), "The national-check list does not end with ',' and a line feed: it may be truncated."),
        (f"{NHS[0]},\n9990000000,\n".encode(),
         "Line 2 of the national-check list is not a valid NHS number followed by a comma."),
        (f"{NHS[0]},,\n".encode(), "Line 1 of the national-check list is not a valid NHS number followed by a comma."),
        (f"{NHS[0][:9]},\n".encode(), "Line 1 of the national-check list is not a valid NHS number followed by a comma."),
    ]:
        with pytest.raises(MalformedSetError) as err:
            fmt.parse_national(data)
        assert str(err.value) == message


def test_the_mode_in_words():
    assert fmt.MODE_WORDS == {
        "exclude-listed": "extract everyone except the listed patients",
        "exclude-all-except-listed": "extract nobody except the listed patients (practice-wide opt-out in force)"}
    assert json.loads(fmt.serialise_manifest(manifest(audit_chain_head=CHAIN)))["audit_chain_head"] == CHAIN


# ---- the fast column checks (issue 13) against the line-by-line rules (issue 16) ------------

def _list(*lines: str) -> bytes:
    return (fmt.LIST_HEADER + "".join(line + "\n" for line in lines)).encode()


A, B, C = (f"{n},{TYPE1},2024-01-0{i}" for i, n in enumerate(NHS[:3], start=1))


@pytest.mark.parametrize("data, message", [
    (_list(A, "", B), "Line 3 of the list file does not have exactly three fields."),   # a blank line between rows
    (_list(A, B, ""), "Line 4 of the list file does not have exactly three fields."),   # a blank line at the end
    (_list(A, f"{NHS[1]},{TYPE1} ,2024-01-02"), "Line 3 of the list file has a malformed SNOMED CT code."),
    (_list(A, f"{NHS[1]},{TYPE1},2024-01-02 x"), "Line 3 of the list file has a malformed effective date."),
])
def test_blank_lines_and_spaces_are_refused_naming_the_line_by_the_parse_and_the_count(data, message):
    for read in (fmt.parse_rows, fmt.count_rows):
        with pytest.raises(MalformedSetError) as err:
            read(data)
        assert str(err.value) == message


@pytest.mark.parametrize("data", [
    _list(A, B, C), _list(), _list(A),
    _list(A, B, C).replace(b"\n", b"\r\n", 2),            # CRLF after the header's line only
    _list(A, B, C).replace(b"\n", b"\r\n"),                # CRLF throughout
    _list(A, C, B), _list(A, A), _list(B, A),              # order and duplicates
    _list(A, f"{NHS[1][:9]}{(int(NHS[1][9]) + 1) % 10},{TYPE1},2024-01-02"),   # a wrong check digit
    _list(A, f"0000000000,{TYPE1},2024-01-02"), _list(f"9999999999,{TYPE1},2024-01-02"),  # repeated digits
    _list(A, f"{NHS[1][:9]}x,{TYPE1},2024-01-02"),
    _list(A, f"{NHS[1]},0123456,2024-01-02"), _list(A, f"{NHS[1]},12345,2024-01-02"),
    _list(A, f"{NHS[1]},{TYPE1},2024-02-30"), _list(A, f"{NHS[1]},{TYPE1},2024-1-02"),
    _list(A, f"{NHS[1]},{TYPE1}"), _list(A, f"{NHS[1]},{TYPE1},2024-01-02,"), _list(A, B)[:-1],
])
def test_the_count_agrees_with_the_full_parse_on_every_kind_of_list(data):
    # The writer's re-read counts rows with the fast column checks; it must refuse exactly what
    # the full parse refuses, with its sentence, and count what the parse reads.
    try:
        rows = fmt.parse_rows(data)
    except MalformedSetError as exc:
        with pytest.raises(MalformedSetError) as err:
            fmt.count_rows(data)
        assert str(err.value) == str(exc)
    else:
        assert fmt.count_rows(data) == len(rows)


def _check_digit_ten() -> str:
    # A 999 number whose check digit would have to be 10: no valid number has these nine digits.
    for stem in range(999_000_000, 999_001_000):
        digits = str(stem)
        if sum(int(d) * w for d, w in zip(digits, range(10, 1, -1))) % 11 == 1:
            return digits
    raise AssertionError("no stem found")


def test_the_whole_column_nhs_check_agrees_with_the_one_by_one_check():
    ten = _check_digit_ten()
    numbers = list(NHS[:20]) + [ten + d for d in "0123456789"] + [str(d) * 10 for d in range(10)] + [
        NHS[0][:9] + str((int(NHS[0][9]) + k) % 10) for k in range(1, 10)] + ["999000001", "99900000011", "999000001x"]
    for n in numbers:
        assert fmt.all_nhs_valid([n]) == fmt.nhs_valid(n), n
        assert fmt.all_nhs_valid(list(NHS[:5]) + [n] + list(NHS[5:9])) == fmt.nhs_valid(n), n
    assert fmt.all_nhs_valid(list(NHS)) and fmt.all_nhs_valid([])
    assert not fmt.all_nhs_valid([NHS[0], 9990000018]) and not fmt.all_nhs_valid([NHS[0], None])


@pytest.mark.parametrize("count", [1, 2, 3])
def test_ten_digit_snomed_codes_are_never_read_as_nhs_numbers(count):
    # A SNOMED CT code may be ten digits, and one may even pass the NHS number check; the column
    # split must still take the first field of each line as the patient.
    code = NHS[-1]
    lines = [f"{n},{code},2024-01-0{i}" for i, n in enumerate(NHS[:count], start=1)]
    rows = fmt.parse_rows(_list(*lines))
    assert rows == [ExclusionRow(n, code, date(2024, 1, i)) for i, n in enumerate(NHS[:count], start=1)]
    assert fmt.count_rows(_list(*lines)) == count


@pytest.mark.parametrize("rows, message", [
    ([ExclusionRow(NHS[0], TYPE1, [2024, 1, 1])], "row 1 of the export has no effective date"),
    ([ExclusionRow(NHS[1], TYPE1, date(2024, 1, 1)), ExclusionRow(NHS[0], TYPE1, {"2024": 1})],
     "row 1 of the export has no effective date"),
    ([ExclusionRow(NHS[0], TYPE1, date(2024, 1, 1)), ExclusionRow(NHS[0], TYPE1, None)],
     "row 2 of the export has no effective date"),   # the same patient twice: sorted by NHS number alone
    ([ExclusionRow(NHS[0], "9Nu0.", date(2024, 1, 1)), ExclusionRow(NHS[0], TYPE1, date(2024, 1, 1))],
     "row 1 of the export has a malformed SNOMED CT code"),
    # a code the column check cannot even put in a set: the row checks still name the first bad row
    ([ExclusionRow(NHS[0], "9Nu0.", date(2024, 1, 1)), ExclusionRow(NHS[1], [TYPE1], date(2024, 1, 1))],
     "row 1 of the export has a malformed SNOMED CT code"),
    ([ExclusionRow(NHS[0], TYPE1, None), ExclusionRow(NHS[1], [TYPE1], date(2024, 1, 1))],
     "row 1 of the export has no effective date"),
])
def test_rows_the_column_checks_cannot_take_are_named_by_the_row_checks(rows, message):
    with pytest.raises(ValueError) as err:
        fmt.check_rows(rows)
    assert str(err.value) == message


def test_good_rows_pass_in_nhs_number_order_whatever_order_they_come_in():
    rows = [ExclusionRow(n, TYPE1, date(2024, 1, 1 + i % 28)) for i, n in enumerate(NHS)]
    assert fmt.check_rows(reversed(rows)) == rows
    assert fmt.check_rows([]) == []


def test_the_highest_revision_a_generation_name_holds_is_accepted():
    data = fmt.serialise_manifest(manifest(register_revision=fmt.MAX_REVISION))
    assert fmt.parse_manifest(data).register_revision == 10**12 - 1


@pytest.mark.parametrize("change, message", [
    (dict(row_count=-1), "The manifest's row_count is not a whole number of zero or more."),
    (dict(row_count=True), "The manifest's row_count is not a whole number of zero or more."),
    (dict(objectors_without_nhs_number=-2),
     "The manifest's objectors_without_nhs_number is not a whole number of zero or more."),
    (dict(format_version=3), "The manifest's format_version is not 2."),
])
def test_the_writer_refuses_a_manifest_with_a_bad_count_or_version_in_words(change, message):
    with pytest.raises(ValueError) as err:
        fmt.serialise_manifest(manifest(**change))
    assert str(err.value) == message
