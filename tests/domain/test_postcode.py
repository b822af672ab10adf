import pytest

from gp_optout_desktop.domain import ods, postcode
from gp_optout_desktop.domain.errors import ValidationError


@pytest.mark.parametrize(
    "raw, expected",
    [("sw1a1aa", "SW1A 1AA"), ("  m1   1ae ", "M1 1AE"), ("B33 8TH", "B33 8TH"), ("CR2 6XH", "CR2 6XH"),
     ("DN55 1PT", "DN55 1PT"), ("W1A 0AX", "W1A 0AX"), ("EC1A 1BB", "EC1A 1BB"), ("gir0aa", "GIR 0AA")],
)
def test_each_bs7666_shape_is_normalised_and_accepted(raw, expected):
    result = postcode.validate(raw)
    assert result.value == expected and result.warning is None


@pytest.mark.parametrize(
    "raw",
    ["Q1 1AA", "V1 1AA", "X1 1AA",  # first letter not Q V X
     "AI1 1AA", "AJ1 1AA", "AZ1 1AA",  # second letter not I J Z
     "A1I 1AA",  # third (ANA) restricted
     "AA1C 1AA",  # fourth (AANA) restricted
     "M1 1CA", "M1 1AI", "M1 1KM", "M1 1OV",  # inward letters never C I K M O V
     "M1", "12345", "M1 1A", "SW1A 1AAA"],
)
def test_impossible_postcodes_are_refused(raw):
    with pytest.raises(ValidationError):
        postcode.validate(raw)


def test_bfpo_and_pseudo_postcodes_are_accepted_with_a_warning():
    assert "BFPO" in postcode.validate("bfpo 105").warning
    pseudo = postcode.validate("zz99 3vz")
    assert pseudo.value == "ZZ99 3VZ" and "pseudo" in pseudo.warning


def test_ods_code_is_one_letter_five_digits():
    assert ods.validate(" f84003 ") == "F84003"
    for bad in ("F8400", "84003F", "FF4003", ""):
        with pytest.raises(ValidationError):
            ods.validate(bad)
