"""Who may act for whom: dependants on an adult's form, and proxies by the patient's age.

Rules (shared/domain-brief.md section 8): a parent or guardian acts for a child; nobody aged
16 or over is anyone's "dependant"; from 13 a child sets their own National Data Opt-out;
a lasting power of attorney for health and welfare is used only when the donor lacks
capacity. Enforced in services (so the CLI and any other caller obey them), shown in the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .errors import ValidationError
from .patient import Patient

ADULT_AGE = 16  # from 16 a person decides for themselves (Mental Capacity Act 2005 applies)
OWN_NDOO_AGE = 13  # from 13 a child can set their own National Data Opt-out

CHILD_PROXY_ROLES = ("parental_responsibility", "legal_guardian")
# A property-and-financial LPA gives no authority over health data, so it is not offered.
ADULT_PROXY_ROLES = ("lpa_health_welfare", "court_deputy")
NEEDS_LACK_OF_CAPACITY = ("lpa_health_welfare",)
LACKS_CAPACITY_NOTE = "donor lacks capacity to decide (confirmed at the desk)"


def age_on(dob: date, today: date) -> int:
    """Whole years; someone born on 29 February turns a year older on 1 March in other years."""
    return today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))


def describe_age(dob: date, today: date) -> str:
    age = age_on(dob, today)
    return f"{age}, born {dob.day} {dob:%b %Y}"


@dataclass(frozen=True)
class DependantCheck:
    """A dependant the rules allow, with what the desk must see or confirm."""

    patient: Patient
    age: int
    other_address: bool  # needs the user's explicit confirmation before saving
    notes: tuple[str, ...]


def _same_address(a: Patient, b: Patient) -> bool:
    def norm(p: Patient) -> tuple:
        return (p.postcode.replace(" ", "").upper(), tuple(line.casefold().strip() for line in p.address))

    return norm(a) == norm(b)


def check_dependant(child: Patient, adult: Patient, today: date) -> DependantCheck:
    """Refuse anyone aged 16 or over, saying why; flag a different address; note the NDOO age."""
    age = age_on(child.dob, today)
    if age >= ADULT_AGE:
        raise ValidationError(
            f"{child.display_name} is {age}: nobody aged {ADULT_AGE} or over can be added as a dependant. "
            "They can object themselves, or someone with a lasting power of attorney for health and "
            "welfare or a court deputy can act for them.",
            "dependants",
        )
    notes = []
    if age >= OWN_NDOO_AGE:
        notes.append(f"{child.display_name} is {age}: from {OWN_NDOO_AGE} they can set their own National Data "
                     "Opt-out (by post or phone, or the NHS App).")
    other = not _same_address(child, adult)
    if other:
        notes.append(f"{child.display_name} lives at a different address ({child.postcode}) from "
                     f"{adult.display_name}: check that the adult has parental responsibility.")
    return DependantCheck(child, age, other, tuple(notes))


def proxy_roles_for(age: int) -> tuple[str, ...]:
    """The proxy roles that can act for a patient of this age."""
    return CHILD_PROXY_ROLES if age < ADULT_AGE else ADULT_PROXY_ROLES


def check_proxy_role(role: str, patient_age: int, *, donor_lacks_capacity: bool = False) -> None:
    allowed = proxy_roles_for(patient_age)
    if role not in allowed:
        from .events import PROXY_ROLES  # events imports nothing from here; avoid a cycle at import time

        names = " or ".join(PROXY_ROLES[r].lower() for r in allowed)
        who = f"a patient aged {patient_age}" if patient_age < ADULT_AGE else f"an adult (aged {patient_age})"
        raise ValidationError(f"{PROXY_ROLES.get(role, role)} cannot act for {who}: use {names}.", "proxy_role")
    if role in NEEDS_LACK_OF_CAPACITY and not donor_lacks_capacity:
        raise ValidationError(
            "A lasting power of attorney for health and welfare can be used only when the patient lacks "
            "capacity to make this decision. Confirm that they do, or ask the patient themselves.",
            "proxy_role",
        )
