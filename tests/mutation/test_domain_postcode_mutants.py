"""Postcodes typed at the desk: how they are spaced and stored, the warning shown for the
special ones, and the exact sentence (on the postcode field) for each kind of mistake."""
from __future__ import annotations

import pytest

from gp_optout_desktop.domain import postcode
from gp_optout_desktop.domain.errors import ValidationError


@pytest.mark.parametrize("raw, stored", [
    ("ls14ap", "LS1 4AP"), (" l s 1 4 a p ", "LS1 4AP"), ("bfpo105", "BFPO 105"), ("BFPO", "BFPO"),
    ("m1", "M1"), ("abc", "ABC"), ("m11a", "M 11A"), ("", ""),
])
def test_normalised_in_upper_case_with_one_space_before_the_last_three(raw, stored):
    assert postcode.normalise(raw) == stored


def test_the_search_key_ignores_spacing_and_case():
    assert postcode.search_key(" ls1 4ap ") == "LS14AP" == postcode.search_key("LS14AP")


@pytest.mark.parametrize("raw, stored, warning", [
    ("bfpo 105", "BFPO 105", "BFPO address accepted: check the forces address lines are complete."),
    ("BFPO1234", "BFPO 1234", "BFPO address accepted: check the forces address lines are complete."),
    ("zz99 3vz", "ZZ99 3VZ", "NHS pseudo-postcode (ZZ99) accepted: the patient has no fixed or known UK address."),
    ("gir 0aa", "GIR 0AA", None),
    ("EC1A 1BB", "EC1A 1BB", None),
])
def test_special_postcodes_are_accepted_with_the_warning_the_desk_shows(raw, stored, warning):
    result = postcode.validate(raw)
    assert (result.value, result.warning) == (stored, warning)


@pytest.mark.parametrize("raw, message", [
    ("", "Enter a postcode."),
    ("  ", "Enter a postcode."),
    ("M1 1A", "A postcode has 5 to 7 letters and digits; 'M 11A' does not."),
    ("SW1A 1AAA", "A postcode has 5 to 7 letters and digits; 'SW1A1 AAA' does not."),
    ("BFPO 12345", "A postcode has 5 to 7 letters and digits; 'BFPO 12345' does not."),
    ("M1! 1AA", "A postcode has letters and digits only."),
    ("M1 1CA", "'M1 1CA' is not a UK postcode: the last part must be a digit and two letters "
               "(not C, I, K, M, O or V)."),
    ("M1 AAA", "'M1 AAA' is not a UK postcode: the last part must be a digit and two letters "
               "(not C, I, K, M, O or V)."),
    ("SW1A 1CA", "'SW1A 1CA' is not a UK postcode: the last part must be a digit and two letters "
                 "(not C, I, K, M, O or V)."),   # seven characters: the length is right, the shape is not
    ("Q1 1AA", "'Q1 1AA' is not a UK postcode: the first part does not match any UK format."),
    ("12345", "'12 345' is not a UK postcode: the last part must be a digit and two letters "
              "(not C, I, K, M, O or V)."),
])
def test_each_mistake_is_named_on_the_postcode_field(raw, message):
    with pytest.raises(ValidationError) as err:
        postcode.validate(raw)
    assert str(err.value) == message
    assert err.value.field == "postcode"


@pytest.mark.parametrize("raw", ["M1 1AA", "M11 1AA", "CR2 6XH", "DN55 1PT", "W1A 0AX", "EC1A 1BB"])
def test_five_to_seven_characters_in_every_shape_are_accepted(raw):
    assert postcode.validate(raw).value == raw
