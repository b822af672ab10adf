"""What a letter is about: plain frozen inputs, no Qt, no SQL, no files.

The services layer builds these from the register; rendering only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..domain import nhs_number
from ..domain.codes import ACTIONS, REGISTER, TYPE1, TYPE2, WITHDRAW, Code
from ..domain.errors import ValidationError
from ..domain.events import CONFIRMED, EVENT_KINDS, INCLUDE, PENDING, PROXY_ROLES

OBJECTION = "objection"
WITHDRAWAL = "withdrawal"
TYPE2_IN_ERROR = "type2_in_error"
PRACTICE_WIDE_NOTICE = "practice_wide_notice"
INCLUDE_CONFIRMATION = "include"  # the register queues this kind for an include-me request
# Acknowledgements: the request is received, its code not yet confirmed in the clinical system
# (docs/adr/0010-letters-received-and-in-force.md). The kinds above confirm codes in force.
OBJECTION_RECEIVED = "objection_received"
WITHDRAWAL_RECEIVED = "withdrawal_received"
INCLUDE_RECEIVED = "include_received"
POLICY_CHANGE = "policy_change"  # to every patient whose objection is in force, when Type 1 policy changes
TRANSFERRED = "transferred"  # to an objector who left the practice: it travels by GP2GP, check it there
KINDS = (OBJECTION, WITHDRAWAL, TYPE2_IN_ERROR, PRACTICE_WIDE_NOTICE, INCLUDE_CONFIRMATION,
         OBJECTION_RECEIVED, WITHDRAWAL_RECEIVED, INCLUDE_RECEIVED, POLICY_CHANGE, TRANSFERRED)
KIND_LABELS = {
    OBJECTION: "Confirmation of an objection",
    WITHDRAWAL: "Confirmation of a withdrawal",
    TYPE2_IN_ERROR: "Type 2 objection recorded in error",
    PRACTICE_WIDE_NOTICE: "Practice-wide opt-out notice",
    INCLUDE_CONFIRMATION: "Confirmation of a request to be included",
    OBJECTION_RECEIVED: "Acknowledgement of an objection (code pending)",
    WITHDRAWAL_RECEIVED: "Acknowledgement of a withdrawal (code pending)",
    INCLUDE_RECEIVED: "Acknowledgement of a request to be included (code pending)",
    POLICY_CHANGE: "Type 1 policy change",
    TRANSFERRED: "Moving practice: your objection travels with your record",
}
# A confirmation kind -> the acknowledgement printed instead while any of its codes is pending.
RECEIVED_KIND = {OBJECTION: OBJECTION_RECEIVED, WITHDRAWAL: WITHDRAWAL_RECEIVED,
                 INCLUDE_CONFIRMATION: INCLUDE_RECEIVED}
CONFIRMS = {v: k for k, v in RECEIVED_KIND.items()}
# Letter kinds that confirm recorded events and so must list at least one.
ITEM_KINDS = (OBJECTION, WITHDRAWAL, INCLUDE_CONFIRMATION, OBJECTION_RECEIVED, WITHDRAWAL_RECEIVED, INCLUDE_RECEIVED)
# A late Type 2 may never have been recorded here (the register refuses it): its list may be empty.
LISTING_KINDS = ITEM_KINDS + (TYPE2_IN_ERROR,)


# An include request withdrawn puts the patient back under the practice-wide opt-out: no code of its own.
NO_CODE = "No code: the practice-wide opt-out applies"


def long_date(d: date) -> str:
    """'3 March 2025': unambiguous on paper, unlike 03/03/2025 to a US-trained reader."""
    return f"{d.day} {d:%B %Y}"


UNDER = 13  # from 13 a child sets their own National Data Opt-out; below it, a parent by post or phone


def age_on(dob: date, day: date) -> int:
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


@dataclass(frozen=True)
class PracticeDetails:
    name: str
    address: tuple[str, ...]
    phone: str
    email: str
    ods_code: str

    def __post_init__(self):
        if not self.name.strip():
            raise ValidationError("The practice name is needed for the letterhead.", "practice_name")


@dataclass(frozen=True)
class LetterRecipient:
    title: str
    forenames: str
    surname: str
    address: tuple[str, ...]
    postcode: str
    nhs_number: str | None = None
    dob: date | None = None

    def __post_init__(self):
        if not (self.forenames.strip() or self.surname.strip()):
            raise ValidationError("A letter needs the recipient's name.", "recipient")
        if self.nhs_number is not None:
            object.__setattr__(self, "nhs_number", nhs_number.validate(self.nhs_number))

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.title, self.forenames, self.surname) if p.strip())

    @property
    def salutation(self) -> str:
        """'Mr O'Brien' with a title, else the full name (never 'Dear Patient')."""
        if self.title.strip() and self.surname.strip():
            return f"{self.title.strip()} {self.surname.strip()}"
        return " ".join(p for p in (self.forenames, self.surname) if p.strip())

    @property
    def address_lines(self) -> tuple[str, ...]:
        return tuple(line for line in (*self.address, self.postcode) if line and line.strip())


@dataclass(frozen=True)
class LetterItem:
    """One person's recorded event that the letter confirms."""

    name: str
    nhs_number: str | None
    dob: date | None
    kind: str  # type1 | type2 | include
    action: str  # register | withdraw
    effective: date
    snomed: str
    read_v2: str
    ctv3: str
    coding_state: str = PENDING  # Event.coding_state: only CONFIRMED is in force
    confirmed_on: date | None = None

    def __post_init__(self):
        if self.coding_state == CONFIRMED and self.confirmed_on is None:
            raise ValidationError("A confirmed code needs the date it was confirmed.", "confirmed_on")
        if self.kind not in EVENT_KINDS:
            raise ValidationError(f"Unknown objection type '{self.kind}'.", "kind")
        if self.action not in ACTIONS:
            raise ValidationError(f"Unknown action '{self.action}'.", "action")
        if self.nhs_number is not None:
            object.__setattr__(self, "nhs_number", nhs_number.validate(self.nhs_number))

    @classmethod
    def from_code(cls, *, name: str, nhs: str | None, dob: date | None, kind: str, action: str,
                  effective: date, code: Code, coding_state: str = PENDING,
                  confirmed_on: date | None = None) -> "LetterItem":
        return cls(name, nhs, dob, kind, action, effective, code.snomed, code.read_v2, code.ctv3,
                   coding_state, confirmed_on)

    @property
    def in_force(self) -> bool:
        return self.coding_state == CONFIRMED

    @property
    def code_status(self) -> str:
        """For the letter's table: whether the code is in the clinical system yet."""
        if self.in_force:
            return "in your GP record"
        return "not yet in your GP record"

    @property
    def nhs_display(self) -> str:
        return nhs_number.display(self.nhs_number) if self.nhs_number else "not known"

    @property
    def codes_text(self) -> str:
        if not self.snomed:
            return NO_CODE
        return f"SNOMED CT {self.snomed}; Read v2 {self.read_v2}; CTV3 {self.ctv3}"

    @property
    def description(self) -> str:
        """What was recorded, in words a patient can follow."""
        if self.kind == INCLUDE:
            return "Asked to be included" if self.action == REGISTER else "Include request withdrawn"
        label = {TYPE1: "Type 1 objection", TYPE2: "Type 2 objection"}[self.kind]
        return label if self.action == REGISTER else f"{label} withdrawn"


@dataclass(frozen=True)
class LetterRequest:
    kind: str
    reference: str
    letter_date: date
    recipient: LetterRecipient
    items: tuple[LetterItem, ...] = ()
    proxy_name: str | None = None
    proxy_role: str | None = None  # a key of domain.events.PROXY_ROLES
    policy_effective: date | None = None  # practice-wide notice only
    policy_reason: str | None = None  # practice-wide notice only: the GPs' recorded reason

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValidationError(f"Unknown letter kind '{self.kind}': one of {', '.join(KINDS)}.", "kind")
        if not self.reference.strip():
            raise ValidationError("Every letter needs a reference.", "reference")
        object.__setattr__(self, "items", tuple(self.items))
        if self.kind in ITEM_KINDS and not self.items:
            raise ValidationError("This letter confirms a recorded event: list at least one.", "items")
        if self.kind == PRACTICE_WIDE_NOTICE and self.policy_effective is None:
            raise ValidationError("A practice-wide notice needs the date the opt-out applies from.", "policy_effective")
        if (self.proxy_name is None) != (self.proxy_role is None):
            raise ValidationError("A proxy needs both a name and a role.", "proxy")
        if self.proxy_role is not None and self.proxy_role not in PROXY_ROLES:
            raise ValidationError(f"Unknown proxy role '{self.proxy_role}'.", "proxy_role")
        includes = [i.kind == INCLUDE for i in self.items]
        if any(includes) != (self.base_kind == INCLUDE_CONFIRMATION) or (any(includes) and not all(includes)):
            raise ValidationError("Include requests are confirmed in their own letter, and only there.", "items")
        if self.base_kind == WITHDRAWAL and any(i.action != WITHDRAW for i in self.items):
            raise ValidationError("A withdrawal letter lists withdrawals only.", "items")
        if self.base_kind == OBJECTION and any(i.action != REGISTER for i in self.items):
            raise ValidationError("An objection letter lists objections only.", "items")
        # The promise a confirmation makes ("in your GP record") must be true of every code in it.
        if self.kind in RECEIVED_KIND and not all(i.in_force for i in self.items):
            raise ValidationError("A confirmation says the code is in the patient's GP record: it can be printed "
                                  "only once every code it lists is confirmed in the clinical system. Print the "
                                  "acknowledgement instead.", "items")

    @property
    def base_kind(self) -> str:
        """The confirmation kind an acknowledgement stands in for (else the kind itself)."""
        return CONFIRMS.get(self.kind, self.kind)

    @property
    def under_13(self) -> bool:
        """The letter is about a child under 13 on its date (their NDOO is set by post or phone)."""
        people = [i.dob for i in self.items] if self.items else [self.recipient.dob]
        return any(d is not None and age_on(d, self.letter_date) < UNDER for d in people)

    @property
    def has_proxy(self) -> bool:
        return self.proxy_name is not None

    @property
    def proxy_role_label(self) -> str:
        return PROXY_ROLES[self.proxy_role] if self.proxy_role else ""
