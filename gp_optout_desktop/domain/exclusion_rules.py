"""Who the exclusion file lists, from current states and the practice-wide policy.

Normal mode ("exclude-listed"): every patient with an active Type 1 or (legacy)
Type 2 objection is listed; the consumer extracts everyone else.
Practice-wide mode ("exclude-all-except-listed"): the consumer extracts nobody except
the listed patients, who asked to be included and have no active objection of their own
(an individual objection always beats an include-me request).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Mapping, Sequence

from .codes import CodeTable, REGISTER, TYPE1, TYPE2, WITHDRAW
from .events import INCLUDE, Event, current_status

EXCLUDE_LISTED = "exclude-listed"
EXCLUDE_ALL_EXCEPT_LISTED = "exclude-all-except-listed"
MODES = (EXCLUDE_LISTED, EXCLUDE_ALL_EXCEPT_LISTED)


@dataclass(frozen=True, order=True)
class ExclusionRow:
    nhs_number: str
    snomed: str
    effective: date


def row_for(events: Sequence[Event], mode: str, codes: CodeTable, as_of: date | None = None) -> ExclusionRow | None:
    """The one row (if any) a patient contributes, without the NHS number filled in."""
    t1 = current_status(events, TYPE1, as_of)
    t2 = current_status(events, TYPE2, as_of)
    if mode == EXCLUDE_LISTED:
        if t1.active:
            return ExclusionRow("", codes.lookup(TYPE1, REGISTER).snomed, t1.since)
        if t2.active:
            return ExclusionRow("", codes.lookup(TYPE2, REGISTER).snomed, t2.since)
        return None
    if mode == EXCLUDE_ALL_EXCEPT_LISTED:
        inc = current_status(events, INCLUDE, as_of)
        if inc.active and not t1.active and not t2.active:
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
