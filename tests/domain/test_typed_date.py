"""One date field, typed the ways people type: day first, two-digit years resolved to the past."""

from __future__ import annotations

from datetime import date

import pytest

from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.typed_date import parse_typed_date

TODAY = date(2026, 12, 1)


@pytest.mark.parametrize("typed, expected", [
    ("06/01/1970", date(1970, 1, 6)), ("6/1/1970", date(1970, 1, 6)), ("1/2/85", date(1985, 2, 1)),
    ("01021985", date(1985, 2, 1)), ("010285", date(1985, 2, 1)), ("6.1.1970", date(1970, 1, 6)),
    ("6-1-70", date(1970, 1, 6)), ("1970-01-06", date(1970, 1, 6)), (" 06 01 1970 ", date(1970, 1, 6)),
    ("1/12/26", date(2026, 12, 1)), ("2/12/26", date(1926, 12, 2)), ("05/05/05", date(2005, 5, 5)),
    ("29/02/2024", date(2024, 2, 29)),
])
def test_typed_forms(typed, expected):
    assert parse_typed_date(typed, TODAY) == expected


@pytest.mark.parametrize("typed", ["", "31/02/2020", "29/02/2023", "1970/01/06", "6/1", "abc", "0601197", "13-13-13"])
def test_refused_with_the_hint(typed):
    with pytest.raises(ValidationError, match="dd/mm/yyyy"):
        parse_typed_date(typed, TODAY, "dob")
