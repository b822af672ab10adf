"""Who may act for whom: dependants under 16 only, proxies by age, an LPA only when the donor
lacks capacity (domain rules, without Qt or a register)."""

from __future__ import annotations

from datetime import date

import pytest

from gp_optout_desktop.domain import acting_for
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.patient import Patient

TODAY = date(2026, 12, 1)


def person(dob: str, postcode: str = "LS1 4AP", address=("1 Park Row",), forenames="Bo") -> Patient:
    return Patient(surname="Test", forenames=forenames, dob=date.fromisoformat(dob), postcode=postcode,
                   address=tuple(address))


ADULT = person("1980-01-01", forenames="Alex")


@pytest.mark.parametrize("dob, age", [("2010-12-01", 16), ("2010-12-02", 15), ("2008-02-29", 18),
                                      ("2026-12-01", 0), ("2013-12-01", 13), ("2013-12-02", 12)])
def test_age_in_whole_years_on_the_birthday(dob, age):
    assert acting_for.age_on(date.fromisoformat(dob), TODAY) == age


def test_a_leap_day_birthday_turns_over_on_the_first_of_march():
    dob = date(2008, 2, 29)
    assert acting_for.age_on(dob, date(2026, 2, 28)) == 17 and acting_for.age_on(dob, date(2026, 3, 1)) == 18


def test_sixteen_or_over_is_nobodys_dependant_and_the_message_says_why():
    with pytest.raises(ValidationError, match=r"Bo Test is 16: nobody aged 16 or over can be added as a dependant"):
        acting_for.check_dependant(person("2010-12-01"), ADULT, TODAY)
    with pytest.raises(ValidationError, match="is 91"):
        acting_for.check_dependant(person("1935-06-01"), ADULT, TODAY)


def test_a_fifteen_year_old_is_a_dependant_with_the_ndoo_note():
    check = acting_for.check_dependant(person("2010-12-02"), ADULT, TODAY)
    assert check.age == 15 and not check.other_address
    assert any("set their own National Data Opt-out" in n for n in check.notes)


def test_a_twelve_year_old_gets_no_ndoo_note():
    assert acting_for.check_dependant(person("2014-01-01"), ADULT, TODAY).notes == ()


def test_a_child_at_another_address_needs_confirmation():
    check = acting_for.check_dependant(person("2015-01-01", postcode="M1 1AE"), ADULT, TODAY)
    assert check.other_address and "different address" in check.notes[-1]
    same = acting_for.check_dependant(person("2015-01-01", postcode="ls14ap", address=("1 PARK ROW",)), ADULT, TODAY)
    assert not same.other_address  # spacing and case do not make a different address


@pytest.mark.parametrize("age, allowed, refused", [
    (15, ("parental_responsibility", "legal_guardian"), ("lpa_health_welfare", "court_deputy", "lpa_property_financial")),
    (16, ("court_deputy",), ("parental_responsibility", "legal_guardian", "lpa_property_financial")),
    (82, ("court_deputy",), ("parental_responsibility", "legal_guardian", "lpa_property_financial")),
])
def test_proxy_roles_by_age(age, allowed, refused):
    for role in allowed:
        acting_for.check_proxy_role(role, age)
    for role in refused:
        with pytest.raises(ValidationError, match="cannot act for"):
            acting_for.check_proxy_role(role, age)


def test_a_health_and_welfare_lpa_needs_the_donor_to_lack_capacity():
    with pytest.raises(ValidationError, match="lacks capacity"):
        acting_for.check_proxy_role("lpa_health_welfare", 82)
    acting_for.check_proxy_role("lpa_health_welfare", 82, donor_lacks_capacity=True)
    with pytest.raises(ValidationError, match="cannot act for"):  # never for a child, capacity or not
        acting_for.check_proxy_role("lpa_health_welfare", 10, donor_lacks_capacity=True)
