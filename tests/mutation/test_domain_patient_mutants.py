"""A patient typed at the desk: every problem reported at once, in form order, each on its
own field with the sentence the form shows; what is stored is trimmed; the name and NHS
number read as the desk shows them."""
from __future__ import annotations

from datetime import date

import pytest

from gp_optout_desktop.domain.errors import ValidationProblems
from gp_optout_desktop.domain.patient import Patient, validate_patient, with_id

TODAY = date(2026, 12, 1)
GOOD = dict(surname="Test", forenames="Bo", dob=date(1980, 1, 1), postcode_raw="LS1 4AP", today=TODAY)


def problems(**changes) -> dict[str, str]:
    with pytest.raises(ValidationProblems) as err:
        validate_patient(**dict(GOOD, **changes))
    first_field, first = next(iter(err.value.problems.items()))
    assert (err.value.field, str(err.value)) == (first_field, first)   # the error reads as the first
    return err.value.problems


def test_everything_wrong_at_once_is_reported_in_form_order():
    found = problems(nhs="123", title="Dr\x07", surname=" ", forenames="", dob="1980-13-01",
                     postcode_raw="", email="bo.example.com")
    assert found == {
        "nhs": "An NHS number has 10 digits; this has 3.",
        "title": "The title contains control characters.",
        "surname": "Enter the patient's surname.",
        "forenames": "Enter the patient's forename(s).",
        "dob": "Date of birth must be a date (YYYY-MM-DD).",
        "postcode": "Enter a postcode.",
        "email": "An email address needs an @.",
    }


@pytest.mark.parametrize("field", ["surname", "forenames", "title"])
def test_a_name_field_of_more_than_100_characters_is_refused_and_100_is_not(field):
    assert problems(**{field: "A" * 101}) == {field: f"The {field} is too long (100 characters at most)."}
    validate_patient(**dict(GOOD, **{field: "A" * 100}))


@pytest.mark.parametrize("field", ["surname", "forenames"])
def test_control_characters_in_a_name_are_refused(field):
    assert problems(**{field: "Bo\tJo"}) == {field: f"The {field} contains control characters."}


def test_a_missing_name_is_asked_for_not_called_control_characters():
    assert problems(surname=None) == {"surname": "Enter the patient's surname."}
    assert problems(forenames=None) == {"forenames": "Enter the patient's forename(s)."}


@pytest.mark.parametrize("dob, message", [
    ("2026-12-02", "The date of birth cannot be in the future."),
    (date(1879, 12, 31), "The date of birth is implausibly early."),
])
def test_an_impossible_date_of_birth_is_refused(dob, message):
    assert problems(dob=dob) == {"dob": message}


def test_a_date_of_birth_on_the_limits_is_accepted():
    assert validate_patient(**dict(GOOD, dob=" 2026-12-01 ")).dob == TODAY
    assert validate_patient(**dict(GOOD, dob=date(1880, 1, 1))).dob == date(1880, 1, 1)


def test_what_is_stored_is_trimmed_and_checked():
    p = validate_patient(surname=" Test ", forenames=" Bo ", dob="1980-01-01", postcode_raw="ls14ap",
                         nhs=" 943 476 5919 ", title=" Dr ", address=[" 1 Park Row ", "", "  ", " Leeds"],
                         phone=" 0113 ", email=" bo@example.com ", today=TODAY)
    assert p == Patient(surname="Test", forenames="Bo", dob=date(1980, 1, 1), postcode="LS1 4AP",
                        nhs_number="9434765919", title="Dr", address=("1 Park Row", "Leeds"), phone="0113",
                        email="bo@example.com")
    assert p.postcode_warning is None


def test_an_unknown_nhs_number_and_empty_optional_fields_are_stored_empty():
    for nhs in (None, "", "   "):
        p = validate_patient(**dict(GOOD, nhs=nhs, title="", phone=None, email=None))
        assert (p.nhs_number, p.title, p.phone, p.email) == (None, "", "", "")
        assert p.nhs_display == "not known"


def test_a_pseudo_postcode_is_stored_with_its_warning():
    p = validate_patient(**dict(GOOD, postcode_raw="zz99 3vz"))
    assert p.postcode == "ZZ99 3VZ"
    assert p.postcode_warning == ("NHS pseudo-postcode (ZZ99) accepted: the patient has no fixed or known UK "
                                  "address.")


def test_the_name_and_number_as_the_desk_shows_them():
    p = validate_patient(**dict(GOOD, nhs="9434765919", title="Mrs"))
    assert p.display_name == "Mrs Bo Test" and p.nhs_display == "943 476 5919"
    assert validate_patient(**GOOD).display_name == "Bo Test"
    stored = with_id(p, 7)
    assert stored.patient_id == 7 and stored.nhs_number == p.nhs_number and p.patient_id is None
