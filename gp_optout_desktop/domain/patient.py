"""A patient as the register holds them, and validation of what is typed at the desk."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date

from . import nhs_number, postcode
from .errors import ValidationError


_CONTROL = re.compile(r"[\x00-\x1f]")  # control characters, refused in names


@dataclass(frozen=True)
class Patient:
    surname: str
    forenames: str
    dob: date
    postcode: str
    nhs_number: str | None = None  # may be unknown at the desk
    title: str = ""
    address: tuple[str, ...] = ()
    phone: str = ""
    email: str = ""
    patient_id: int | None = None
    postcode_warning: str | None = field(default=None, compare=False)

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.title, self.forenames, self.surname) if p)

    @property
    def nhs_display(self) -> str:
        return nhs_number.display(self.nhs_number) if self.nhs_number else "not known"


def validate_patient(
    *,
    surname: str,
    forenames: str,
    dob: date | str,
    postcode_raw: str,
    nhs: str | None = None,
    title: str = "",
    address: tuple[str, ...] | list[str] = (),
    phone: str = "",
    email: str = "",
    today: date,
) -> Patient:
    surname = (surname or "").strip()
    forenames = (forenames or "").strip()
    if not surname:
        raise ValidationError("Enter the patient's surname.", "surname")
    if not forenames:
        raise ValidationError("Enter the patient's forename(s).", "forenames")
    for label, value in (("surname", surname), ("forenames", forenames), ("title", title)):
        if _CONTROL.search(value):
            raise ValidationError(f"The {label} contains control characters.", label)
        if len(value) > 100:
            raise ValidationError(f"The {label} is too long (100 characters at most).", label)
    if isinstance(dob, str):
        try:
            dob = date.fromisoformat(dob.strip())
        except ValueError:
            raise ValidationError("Date of birth must be a date (YYYY-MM-DD).", "dob") from None
    if dob > today:
        raise ValidationError("The date of birth cannot be in the future.", "dob")
    if dob.year < 1880:
        raise ValidationError("The date of birth is implausibly early.", "dob")
    pc = postcode.validate(postcode_raw)
    nhs_clean = nhs_number.validate(nhs) if nhs and nhs.strip() else None
    if email and "@" not in email:
        raise ValidationError("An email address needs an @.", "email")
    lines = tuple(line.strip() for line in address if line and line.strip())
    return Patient(
        surname=surname,
        forenames=forenames,
        dob=dob,
        postcode=pc.value,
        nhs_number=nhs_clean,
        title=(title or "").strip(),
        address=lines,
        phone=(phone or "").strip(),
        email=(email or "").strip(),
        postcode_warning=pc.warning,
    )


def with_id(patient: Patient, patient_id: int) -> Patient:
    return replace(patient, patient_id=patient_id)
