"""The front desk's one line on what happens to a patient's GP data agrees with the
exclusion rule itself (row_for), for every combination, and warns when the register
cannot protect the patient (no NHS number to list)."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from gp_optout_desktop.domain import codes
from gp_optout_desktop.domain.codes import parse_code_table
from gp_optout_desktop.domain.events import INCLUDE, Event
from gp_optout_desktop.domain.exclusion_rules import (
    EXCLUDE_ALL_EXCEPT_LISTED, EXCLUDE_LISTED, extraction_effect, row_for,
)
from gp_optout_desktop.paths import resource

CODES = parse_code_table(resource("codes.json").read_text(encoding="utf-8"))
DAY = date(2017, 5, 1)


def _events(type1: bool, type2: bool, include: bool) -> list[Event]:
    out = []
    for n, (kind, on) in enumerate(((codes.TYPE1, type1), (codes.TYPE2, type2), (INCLUDE, include))):
        if on:
            out.append(Event(kind, codes.REGISTER, DAY, DAY, "desk", "reception", None, seq=n + 1))
    return out


@pytest.mark.parametrize("type1,type2,include,on,numbered", list(itertools.product([False, True], repeat=5)))
def test_the_words_agree_with_the_exclusion_rule(type1, type2, include, on, numbered):
    events = _events(type1, type2, include)
    effect = extraction_effect(objects=type1, included=include, practice_wide_on=on, has_nhs_number=numbered,
                               type2_only=type2 and not type1)
    listed = numbered and row_for(events, EXCLUDE_ALL_EXCEPT_LISTED if on else EXCLUDE_LISTED, CODES) is not None
    # Normal mode lists whom to keep; practice-wide mode lists whom to extract.
    kept = listed if not on else not listed
    assert effect.kept_in_practice == kept, effect.words
    unprotected = not numbered and (type1 if not on else (include and not type1))
    signpost = not on and type2 and not type1  # Type 2 only: never listed; the desk signposts the NDOO
    assert effect.warning == (unprotected or signpost)
    if signpost:
        assert "National Data Opt-out" in effect.words and not effect.kept_in_practice


def test_an_objector_without_an_nhs_number_is_a_warning_not_reassurance():
    effect = extraction_effect(objects=True, included=False, practice_wide_on=False, has_nhs_number=False)
    assert not effect.kept_in_practice and effect.warning and "Add their NHS number" in effect.words
