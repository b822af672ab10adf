"""Who the exclusion file lists, row by row, and what the desk is told about it: the code and
date each listed patient carries in each mode, what a date in the past sees, and the exact
words (with the warning flag) for every combination a patient can be in."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from gp_optout_desktop.domain import codes, exclusion_rules as rules
from gp_optout_desktop.domain.events import INCLUDE, Event
from gp_optout_desktop.domain.exclusion_rules import ExclusionRow, Effect
from gp_optout_desktop.domain.nhs_number import synthetic_range
from gp_optout_desktop.services.session import code_table

N = synthetic_range(5)

AT = datetime(2026, 3, 9, 10, tzinfo=timezone.utc)
T1_REGISTER = "827241000000103"
T1_WITHDRAW = "827261000000102"


def ev(kind, action, effective: date, seq: int) -> Event:
    return Event(kind, action, effective, effective, "desk", "reception", AT, seq=seq)


OBJECTS = [ev(codes.TYPE1, codes.REGISTER, date(2025, 5, 1), 1)]
WITHDREW = OBJECTS + [ev(codes.TYPE1, codes.WITHDRAW, date(2025, 9, 1), 2)]
INCLUDED = [ev(INCLUDE, codes.REGISTER, date(2025, 6, 1), 3)]
TYPE2 = [ev(codes.TYPE2, codes.REGISTER, date(2017, 5, 1), 4)]


def test_each_listed_patient_carries_the_code_and_date_of_what_decided_it():
    histories = {N[0]: OBJECTS, N[1]: INCLUDED, N[2]: WITHDREW + INCLUDED,
                 N[3]: TYPE2, N[4]: OBJECTS + INCLUDED}
    t = code_table()
    assert rules.expected_rows(histories, rules.EXCLUDE_LISTED, t) == [
        ExclusionRow(N[0], T1_REGISTER, date(2025, 5, 1)),
        ExclusionRow(N[4], T1_REGISTER, date(2025, 5, 1)),
    ]
    assert rules.expected_rows(histories, rules.EXCLUDE_ALL_EXCEPT_LISTED, t) == [
        ExclusionRow(N[1], T1_WITHDRAW, date(2025, 6, 1)),
        ExclusionRow(N[2], T1_WITHDRAW, date(2025, 6, 1)),
    ]


def test_a_file_for_a_past_date_sees_only_what_was_in_force_then():
    histories = {N[0]: WITHDREW, N[1]: INCLUDED}
    t = code_table()
    assert rules.expected_rows(histories, rules.EXCLUDE_LISTED, t, as_of=date(2025, 8, 31)) == [
        ExclusionRow(N[0], T1_REGISTER, date(2025, 5, 1))]
    assert rules.expected_rows(histories, rules.EXCLUDE_LISTED, t, as_of=date(2025, 9, 1)) == []
    assert rules.expected_rows(histories, rules.EXCLUDE_ALL_EXCEPT_LISTED, t, as_of=date(2025, 5, 31)) == []


def test_an_unknown_mode_is_refused_by_name():
    with pytest.raises(ValueError) as err:
        rules.row_for(OBJECTS, "exclude-some", code_table())
    assert str(err.value) == "unknown mode 'exclude-some'"


ADD_NUMBER_INCLUDED = ("Asked to be included, but no NHS number is recorded, so the exclusion file cannot list them "
                       "and the practice's own extracts leave them out. Add their NHS number.")
ADD_NUMBER_OBJECTS = ("Objects, but no NHS number is recorded, so the exclusion file cannot list them and the "
                      "practice's own extracts could include them. Add their NHS number now.")

# (objects, included, practice-wide on, has an NHS number, type 2 only) -> what the desk reads
EFFECTS = [
    (False, True, True, False, False, Effect(True, ADD_NUMBER_INCLUDED, True)),
    (False, True, True, True, False, Effect(False, "The practice's own extracts may include them: they asked to be "
                                                   "included despite the practice-wide opt-out.")),
    (True, True, True, True, False, Effect(True, "The practice's own extracts leave them out: the exclusion file "
                                                 "applies their own objection and the practice-wide opt-out.")),
    (False, False, True, True, False, Effect(True, "The practice's own extracts leave them out: the exclusion file "
                                                   "applies the practice-wide opt-out.")),
    (True, False, False, False, False, Effect(False, ADD_NUMBER_OBJECTS, True)),
    (True, False, False, True, False, Effect(True, "The practice's own extracts leave them out: the exclusion file "
                                                   "lists them.")),
    (False, False, False, True, True, Effect(False, "The practice's own extracts may include them. "
                                                    + rules.TYPE2_ONLY_WORDS, True)),
    (False, True, False, True, False, Effect(False, "The practice's own extracts may include them: the exclusion "
                                                    "file does not list them.")),
]


@pytest.mark.parametrize("objects, included, on, numbered, type2_only, expected", EFFECTS)
def test_what_the_desk_reads_about_the_exclusion_file(objects, included, on, numbered, type2_only, expected):
    got = rules.extraction_effect(objects=objects, included=included, practice_wide_on=on,
                                  has_nhs_number=numbered, type2_only=type2_only)
    assert got == expected
    assert got.warning is expected.warning


def test_the_type2_words_name_the_cut_off_and_the_national_opt_out():
    assert rules.TYPE2_ONLY_WORDS == (
        "Legacy Type 2 objection only: Type 2 never stopped GP data leaving the practice, so the exclusion file "
        "does not list them. Type 2 codes added by 11 Oct 2018 became the National Data Opt-out; tell the patient "
        "to check or set it themselves.")
