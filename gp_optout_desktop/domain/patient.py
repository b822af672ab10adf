"""A patient as the register holds them, and validation of what is typed at the desk."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date

from . import nhs_number, postcode
from .errors import ValidationError, ValidationProblems

_CONTROL = re.compile(r"[\x00-\x1f]")


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
    # Every field is checked and every problem reported at once (the form shows them all).
    problems: dict[str, str] = {}
    surname = (surname or "").strip()
    forenames = (forenames or "").strip()
    if not surname:
        problems["surname"] = "Enter the patient's surname."
    if not forenames:
        problems["forenames"] = "Enter the patient's forename(s)."
    for label, value in (("surname", surname), ("forenames", forenames), ("title", title)):
        if _CONTROL.search(value):
            problems.setdefault(label, f"The {label} contains control characters.")
        elif len(value) > 100:
            problems.setdefault(label, f"The {label} is too long (100 characters at most).")
    if isinstance(dob, str):
        try:
            dob = date.fromisoformat(dob.strip())
        except ValueError:
            problems["dob"] = "Date of birth must be a date (YYYY-MM-DD)."
    if isinstance(dob, date):
        if dob > today:
            problems["dob"] = "The date of birth cannot be in the future."
        elif dob.year < 1880:
            problems["dob"] = "The date of birth is implausibly early."
    pc = nhs_clean = None
    try:
        pc = postcode.validate(postcode_raw)
    except ValidationError as exc:
        problems["postcode"] = str(exc)
    try:
        nhs_clean = nhs_number.validate(nhs) if nhs and nhs.strip() else None
    except ValidationError as exc:
        problems["nhs"] = str(exc)
    if email and "@" not in email:
        problems["email"] = "An email address needs an @."
    if problems:
        order = ("nhs", "title", "surname", "forenames", "dob", "postcode", "email")
        raise ValidationProblems({f: problems[f] for f in sorted(problems, key=order.index)})
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
