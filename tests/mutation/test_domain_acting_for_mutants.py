"""Who may act for whom, as the desk shows it: the exact sentences a receptionist reads when
a dependant or a proxy is refused, on the field the form highlights, and the notes shown
for a child who may set their own opt-out or lives elsewhere."""
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


def test_the_age_shown_beside_a_name_is_whole_years_and_the_birth_date():
    assert acting_for.describe_age(date(2010, 12, 2), TODAY) == "15, born 2 Dec 2010"
    assert acting_for.describe_age(date(1935, 6, 1), TODAY) == "91, born 1 Jun 1935"


def test_a_sixteen_year_old_dependant_is_refused_in_full_on_the_dependants_field():
    with pytest.raises(ValidationError) as err:
        acting_for.check_dependant(person("2010-12-01"), ADULT, TODAY)
    assert str(err.value) == (
        "Bo Test is 16: nobody aged 16 or over can be added as a dependant. They can object themselves, "
        "or someone with a lasting power of attorney for health and welfare or a court deputy can act for them.")
    assert err.value.field == "dependants"


def test_the_own_opt_out_note_starts_on_the_thirteenth_birthday():
    check = acting_for.check_dependant(person("2013-12-01"), ADULT, TODAY)
    assert check.age == 13
    assert check.notes == ("Bo Test is 13: from 13 they can set their own National Data Opt-out "
                           "(by post or phone, or the NHS App).",)
    assert acting_for.check_dependant(person("2013-12-02"), ADULT, TODAY).notes == ()


def test_the_check_carries_the_child_it_was_made_for():
    child = person("2014-01-01")
    assert acting_for.check_dependant(child, ADULT, TODAY).patient is child


def test_a_lower_case_postcode_on_one_record_is_still_the_same_address():
    child = person("2014-01-01", postcode="ls1 4ap", address=("1 PARK ROW ",))
    check = acting_for.check_dependant(child, ADULT, TODAY)
    assert not check.other_address and check.notes == ()


@pytest.mark.parametrize("role, age, message", [
    ("lpa_health_welfare", 15, "Lasting power of attorney (health and welfare) cannot act for a patient aged 15: "
                               "use parental responsibility or legal guardian."),
    ("parental_responsibility", 16, "Parental responsibility cannot act for an adult (aged 16): use lasting power "
                                    "of attorney (health and welfare) or court-appointed deputy."),
    ("legal_guardian", 40, "Legal guardian cannot act for an adult (aged 40): use lasting power of attorney "
                           "(health and welfare) or court-appointed deputy."),
    ("lpa_property_financial", 40, "Lasting power of attorney (property and financial affairs) cannot act for an "
                                   "adult (aged 40): use lasting power of attorney (health and welfare) or "
                                   "court-appointed deputy."),
    ("next_of_kin", 40, "next_of_kin cannot act for an adult (aged 40): use lasting power of attorney "
                        "(health and welfare) or court-appointed deputy."),
])
def test_a_proxy_role_refused_for_the_age_says_which_roles_can_act(role, age, message):
    with pytest.raises(ValidationError) as err:
        acting_for.check_proxy_role(role, age)
    assert str(err.value) == message
    assert err.value.field == "proxy_role"


def test_a_welfare_lpa_without_lack_of_capacity_is_refused_in_full():
    with pytest.raises(ValidationError) as err:
        acting_for.check_proxy_role("lpa_health_welfare", 70)
    assert str(err.value) == (
        "A lasting power of attorney for health and welfare can be used only when the patient lacks capacity "
        "to make this decision. Confirm that they do, or ask the patient themselves.")
    assert err.value.field == "proxy_role"
    acting_for.check_proxy_role("lpa_health_welfare", 70, donor_lacks_capacity=True)
