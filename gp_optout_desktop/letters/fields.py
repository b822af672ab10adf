"""The named fields a template may use, what each means, and their values for one letter.

A field that is not listed here, or not available for the template's kind, is refused
when the template is loaded or saved: a letter never goes out with a blank where a
name or date should be.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..domain import nhs_number
from .model import ITEM_KINDS, KINDS, LISTING_KINDS, PRACTICE_WIDE_NOTICE, LetterRequest, PracticeDetails, long_date

# Paragraph conditions: "[if proxy]" keeps a paragraph only when a proxy acted;
# "[if dependants]" only when the letter covers more than one person; "[if under13]" only
# when it is about a child under 13.
CONDITIONS = {
    "proxy": "someone acted for the patient (a proxy)",
    "dependants": "the letter covers more than one person",
    "recorded": "the register holds the event(s) the letter is about",
    "under13": "the letter is about a child under 13 (their National Data Opt-out is set by post or phone)",
}


@dataclass(frozen=True)
class Field:
    description: str
    kinds: tuple[str, ...] = KINDS
    needs: str | None = None  # a condition the paragraph must carry


FIELDS: dict[str, Field] = {
    "practice_name": Field("The practice's name"),
    "practice_address": Field("The practice's address on one line"),
    "practice_phone": Field("The practice's phone number"),
    "practice_email": Field("The practice's email address"),
    "ods_code": Field("The practice's ODS code, e.g. F84003"),
    "letter_date": Field("The date of the letter, e.g. 3 March 2025"),
    "reference": Field("The letter's reference"),
    "patient_name": Field("The recipient's full name with title, exactly as recorded"),
    "salutation": Field("Title and surname (e.g. Ms O'Brien), or full name if no title: for 'Dear ...'"),
    "nhs_number": Field("The recipient's NHS number as 999 000 0018, or 'not known'"),
    "date_of_birth": Field("The recipient's date of birth, or 'not known'"),
    "objection_type": Field("What was recorded for the first person listed, e.g. 'Type 1 objection'", ITEM_KINDS),
    "effective_date": Field("The date it took effect for the first person listed", ITEM_KINDS),
    "codes": Field("The clinical codes recorded for the first person listed (SNOMED CT, Read v2, CTV3)", ITEM_KINDS),
    "people_covered": Field("The names of everyone this letter covers, e.g. 'A, B and C'", ITEM_KINDS),
    "people_count": Field("How many people this letter covers, as a number", ITEM_KINDS),
    "recorded_table": Field(
        "A table of each person covered: name, NHS number, date of birth, what was recorded, codes and date. "
        "Must stand alone as its own paragraph",
        LISTING_KINDS,
    ),
    "proxy_name": Field("The name of the person who acted for the patient", KINDS, needs="proxy"),
    "proxy_role": Field("Their role, e.g. 'Lasting power of attorney (health and welfare)'", KINDS, needs="proxy"),
    "policy_effective_date": Field("The date the practice-wide opt-out applies from", (PRACTICE_WIDE_NOTICE,)),
    "policy_reason": Field("The GPs' reason for the practice-wide opt-out, as recorded when it was turned on",
                           (PRACTICE_WIDE_NOTICE,)),
    "template_version": Field("This template's version number"),
}

# Fields rendered as a block (a table), not as text inside a sentence.
BLOCK_FIELDS = frozenset({"recorded_table"})


def allowed_fields(kind: str) -> list[str]:
    return [name for name, f in FIELDS.items() if kind in f.kinds]


def describe_fields(kind: str) -> list[tuple[str, str]]:
    """(field, description) pairs for the template editor's help panel."""
    out = []
    for name in allowed_fields(kind):
        f = FIELDS[name]
        note = f" (only in an [if {f.needs}] paragraph)" if f.needs else ""
        out.append((name, f.description + note))
    return out


def _join_names(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def conditions_met(request: LetterRequest) -> set[str]:
    met = set()
    if request.has_proxy:
        met.add("proxy")
    if len(request.items) > 1:
        met.add("dependants")
    if request.items:
        met.add("recorded")
    if request.under_13:
        met.add("under13")
    return met


def values_for(request: LetterRequest, practice: PracticeDetails, template_version: int) -> dict[str, str]:
    """Plain-text values of every inline field that applies to this letter (never markup)."""
    r = request.recipient
    v = {
        "practice_name": practice.name,
        "practice_address": ", ".join(line for line in practice.address if line.strip()),
        "practice_phone": practice.phone,
        "practice_email": practice.email,
        "ods_code": practice.ods_code,
        "letter_date": long_date(request.letter_date),
        "reference": request.reference,
        "patient_name": r.full_name,
        "salutation": r.salutation,
        "nhs_number": nhs_number.display(r.nhs_number) if r.nhs_number else "not known",
        "date_of_birth": long_date(r.dob) if r.dob else "not known",
        "template_version": str(template_version),
    }
    if request.items:
        first = request.items[0]
        v.update(
            objection_type=first.description,
            effective_date=long_date(first.effective),
            codes=first.codes_text,
            people_covered=_join_names([i.name for i in request.items]),
            people_count=str(len(request.items)),
        )
    if request.has_proxy:
        v.update(proxy_name=request.proxy_name, proxy_role=request.proxy_role_label)
    if request.policy_effective is not None:
        v["policy_effective_date"] = long_date(request.policy_effective)
        v["policy_reason"] = request.policy_reason or "(the reason is available from the practice)"
    return v
