"""Who the exclusion file lists, from current states and the practice-wide policy.

Normal mode ("exclude-listed"): every patient with an active Type 1 objection is listed;
the consumer extracts everyone else.
Practice-wide mode ("exclude-all-except-listed"): the consumer extracts nobody except
the listed patients, who asked to be included and have no active Type 1 objection of their
own (an individual objection always beats an include-me request).

Type 2 (legacy) never controlled extraction from the practice: it stopped HSCIC/NHS Digital
passing data on, and codes added on or before 2018-10-11 became the National Data Opt-out.
A Type 2-only patient is therefore never listed as blocked (exclusion file format version
2, docs/adr/0008-exclusion-file-v-next.md); the register keeps their history and the desk
signposts the National Data Opt-out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Mapping, NamedTuple, Sequence

from .codes import CodeTable, REGISTER, TYPE1, WITHDRAW
from .events import INCLUDE, Event, current_status

EXCLUDE_LISTED = "exclude-listed"
EXCLUDE_ALL_EXCEPT_LISTED = "exclude-all-except-listed"
MODES = (EXCLUDE_LISTED, EXCLUDE_ALL_EXCEPT_LISTED)


class ExclusionRow(NamedTuple):
    """One listed patient. A named tuple, not a dataclass: an export builds ~100,000 of them
    twice (from the register, and again re-reading the file written), and a frozen dataclass
    took 2.5x as long to build (issue 13). Immutable and ordered field by field all the same."""

    nhs_number: str
    snomed: str
    effective: date


def row_for(events: Sequence[Event], mode: str, codes: CodeTable, as_of: date | None = None) -> ExclusionRow | None:
    """The one row (if any) a patient contributes, without the NHS number filled in."""
    t1 = current_status(events, TYPE1, as_of)
    if mode == EXCLUDE_LISTED:
        if t1.active:
            return ExclusionRow("", codes.lookup(TYPE1, REGISTER).snomed, t1.since)
        return None  # a Type 2-only patient is not listed: Type 2 never governed GP extraction
    if mode == EXCLUDE_ALL_EXCEPT_LISTED:
        inc = current_status(events, INCLUDE, as_of)
        if inc.active and not t1.active:
            # Coded in practice as Type 1 withdrawn: the patient opted back in.
            return ExclusionRow("", codes.lookup(TYPE1, WITHDRAW).snomed, inc.since)
        return None
    raise ValueError(f"unknown mode {mode!r}")


def expected_rows(
    histories: Mapping[str, Sequence[Event]], mode: str, codes: CodeTable, as_of: date | None = None
) -> list[ExclusionRow]:
    """Reference computation over whole histories keyed by NHS number (used by tests and checks)."""
    rows = []
    for nhs, events in histories.items():
        row = row_for(events, mode, codes, as_of)
        if row is not None:
            rows.append(ExclusionRow(nhs, row.snomed, row.effective))
    return sorted(rows)


@dataclass(frozen=True)
class Effect:
    """What the exclusion file does with one patient now, for the front desk. The file serves
    the practice's own extracts and disclosures only: national extractions read the code in
    the clinical record (domain/in_force.py says whether that is in force), so these words
    never promise that the data stays in the practice."""

    kept_in_practice: bool
    words: str
    warning: bool = False  # staff should act: the register cannot say what the patient asked for


TYPE2_ONLY_WORDS = ("Legacy Type 2 objection only: Type 2 never stopped GP data leaving the practice, so the "
                    "exclusion file does not list them. Type 2 codes added by 11 Oct 2018 became the National Data "
                    "Opt-out; tell the patient to check or set it themselves.")


def extraction_effect(*, objects: bool, included: bool, practice_wide_on: bool, has_nhs_number: bool,
                      type2_only: bool = False) -> Effect:
    """The same rule as row_for, in words. ``objects`` means an active Type 1 objection. The
    file lists NHS numbers only, so a patient without one can never be listed: an objector
    without one is not protected. ``type2_only``: an active legacy Type 2 and no Type 1.
    ``kept_in_practice`` means kept out of the practice's own extracts."""
    if practice_wide_on:
        if included and not objects:
            if not has_nhs_number:
                return Effect(True, "Asked to be included, but no NHS number is recorded, so the exclusion file "
                                    "cannot list them and the practice's own extracts leave them out. "
                                    "Add their NHS number.",
                              warning=True)
            return Effect(False, "The practice's own extracts may include them: they asked to be included "
                                 "despite the practice-wide opt-out.")
        why = "their own objection and the practice-wide opt-out" if objects else "the practice-wide opt-out"
        return Effect(True, f"The practice's own extracts leave them out: the exclusion file applies {why}.")
    if objects:
        if not has_nhs_number:
            return Effect(False, "Objects, but no NHS number is recorded, so the exclusion file cannot list them "
                                 "and the practice's own extracts could include them. Add their NHS number now.", warning=True)
        return Effect(True, "The practice's own extracts leave them out: the exclusion file lists them.")
    if type2_only:
        return Effect(False, "The practice's own extracts may include them. " + TYPE2_ONLY_WORDS, warning=True)
    return Effect(False, "The practice's own extracts may include them: the exclusion file does not list them.")
