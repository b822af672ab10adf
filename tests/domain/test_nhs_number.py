import pytest
from hypothesis import given, strategies as st

from gp_optout_desktop.domain import nhs_number
from gp_optout_desktop.domain.errors import ValidationError

nine_digits = st.text(alphabet="0123456789", min_size=9, max_size=9)


def with_check(first: str) -> str | None:
    check = nhs_number.check_digit(first)
    return None if check is None else f"{first}{check}"


def test_published_example_is_valid_and_displayed_3_3_4():
    assert nhs_number.validate("943 476 5919") == "9434765919"
    assert nhs_number.validate("943-476-5919") == "9434765919"
    assert nhs_number.display("9434765919") == "943 476 5919"


@given(nine_digits)
def test_every_number_with_its_check_digit_validates_unless_repeated(first):
    number = with_check(first)
    if number is None:
        # remainder gives 10: never issued
        with pytest.raises(ValidationError, match="never issued"):
            nhs_number.validate(first + "0")
    elif len(set(number)) == 1:
        with pytest.raises(ValidationError, match="repeated digit"):
            nhs_number.validate(number)
    else:
        assert nhs_number.validate(number) == number
        spaced = f"{number[:3]} {number[3:6]}-{number[6:]}"
        assert nhs_number.validate(spaced) == number


@given(nine_digits, st.integers(min_value=0, max_value=9), st.integers(min_value=1, max_value=9))
def test_any_single_digit_error_is_caught(first, position, delta):
    number = with_check(first)
    if number is None or len(set(number)) == 1:
        return
    wrong_digit = (int(number[position]) + delta) % 10
    mistyped = number[:position] + str(wrong_digit) + number[position + 1 :]
    assert not nhs_number.is_valid(mistyped)


@pytest.mark.parametrize("digit", "0123456789")
def test_repeated_digit_numbers_are_refused_even_when_the_check_passes(digit):
    with pytest.raises(ValidationError):
        nhs_number.validate(digit * 10)


@pytest.mark.parametrize(
    "raw, message",
    [("", "Enter"), ("94347659", "has 10 digits; this has 8"), ("943476591911", "this has 12"),
     ("94347659l9", "digits only"), ("9434765918", "check digit")],
)
def test_errors_say_what_is_wrong(raw, message):
    with pytest.raises(ValidationError, match=message):
        nhs_number.validate(raw)


def test_synthetic_numbers_are_valid_distinct_and_start_999():
    numbers = nhs_number.synthetic_range(2000)
    assert len(set(numbers)) == 2000
    assert all(n.startswith("999") and nhs_number.is_valid(n) for n in numbers)


def test_synthetic_range_is_the_same_numbers_as_iter_synthetic():
    from itertools import islice

    from gp_optout_desktop.domain.nhs_number import iter_synthetic, synthetic_range, validate

    every = list(iter_synthetic(0))
    assert len(every) == len(set(every)) and "9999999999" not in every
    for count in (0, 1, 999, 1000, 12_345, len(every)):
        assert synthetic_range(count) == every[:count]
    assert all(validate(n) == n for n in islice(every, 0, None, 997))
    with pytest.raises(ValueError):
        synthetic_range(len(every) + 1)
