"""Typed dates as a desk form uses them: the error names the field the user typed into,
and only a two-digit year is ever moved back a century."""
from __future__ import annotations

from datetime import date

import pytest

from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.typed_date import HINT, parse_typed_date

TODAY = date(2026, 12, 1)


@pytest.mark.parametrize("typed, message", [
    ("yesterday", HINT),
    ("", HINT),
    ("31/02/2020", f"There is no such date. {HINT}"),
    ("2020-02-30", f"There is no such date. {HINT}"),
])
def test_the_error_names_the_field_it_came_from(typed, message):
    with pytest.raises(ValidationError) as err:
        parse_typed_date(typed, TODAY, "signed")
    assert str(err.value) == message
    assert err.value.field == "signed"


def test_without_a_field_name_the_error_is_on_the_date_field():
    with pytest.raises(ValidationError) as err:
        parse_typed_date("not a date", TODAY)
    assert err.value.field == "date"


def test_nothing_typed_is_refused_like_an_empty_field():
    with pytest.raises(ValidationError) as err:
        parse_typed_date(None, TODAY, "dob")
    assert str(err.value) == HINT


@pytest.mark.parametrize("typed, expected", [
    ("2030-01-06", date(2030, 1, 6)),      # a full year is taken as typed, even in the future
    ("06/01/2030", date(2030, 1, 6)),
    ("1/12/26", date(2026, 12, 1)),        # two digits: today itself is not the future
    ("2/12/26", date(1926, 12, 2)),        # two digits, one day ahead: a century back
])
def test_only_a_two_digit_year_in_the_future_moves_back_a_century(typed, expected):
    assert parse_typed_date(typed, TODAY) == expected
