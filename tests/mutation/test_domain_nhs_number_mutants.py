"""NHS numbers as the desk and the imports see them: every refusal's sentence and field (the
form highlights the field the error names), what typing noise is ignored and what is not,
and the synthetic 999 numbers the demo and the tests stand on."""
from __future__ import annotations

import pytest

from gp_optout_desktop.domain import nhs_number
from gp_optout_desktop.domain.errors import ValidationError


@pytest.mark.parametrize("raw, message", [
    ("", "Enter an NHS number (10 digits)."),
    (" - ", "Enter an NHS number (10 digits)."),
    ("943 476 591X", "An NHS number has digits only (spaces and hyphens are ignored)."),
    ("９４３４７６５９１９", "An NHS number has digits only (spaces and hyphens are ignored)."),  # full-width digits
    ("94347659", "An NHS number has 10 digits; this has 8."),
    ("5555555555", "An NHS number of one repeated digit is never issued."),
    ("9990000001", "Not a valid NHS number: these first nine digits are never issued."),
    ("9434765918", "Not a valid NHS number: the check digit does not match (a digit may be mistyped)."),
])
def test_each_refusal_says_what_is_wrong_on_the_nhs_number_field(raw, message):
    with pytest.raises(ValidationError) as err:
        nhs_number.validate(raw)
    assert str(err.value) == message
    assert err.value.field == "nhs_number"


def test_only_spaces_hyphens_and_tabs_are_ignored_never_letters():
    assert nhs_number.validate("943-476\t5919") == "9434765919"
    # An X typed among the digits is a mistake to show, not noise to drop.
    for typed in ("X9434765919", "9434765919X", "943 476 5919 XX"):
        assert not nhs_number.is_valid(typed)


def test_display_groups_ten_digits_and_leaves_anything_else_as_it_is():
    assert nhs_number.display("9434765919") == "943 476 5919"
    assert nhs_number.display("94347") == "94347"
    assert nhs_number.display("") == ""


def test_synthetic_numbers_start_at_the_serial_asked_for():
    assert next(nhs_number.iter_synthetic()) == "9990000018"
    assert nhs_number.synthetic(0) == "9990000018"
    assert nhs_number.synthetic(500) == "9990005001"
    assert next(nhs_number.iter_synthetic(500)) == "9990005001"


def test_asking_for_more_synthetic_numbers_than_exist_is_refused():
    every = sum(1 for _ in nhs_number.iter_synthetic())
    assert len(nhs_number.synthetic_range(every)) == every
    for too_many in (every + 1, every + 2, every + 1000):
        with pytest.raises(ValueError) as err:
            nhs_number.synthetic_range(too_many)
        assert str(err.value) == "at most about 909,000 synthetic 999 numbers exist"
