"""The practice-wide opt-out: a practice-level setting with its own history (latest wins).

NHS England did not recognise practice-level objection and called mass opt-outs a
breach of the GP contract (a remediation notice, later called a "misunderstanding");
the ICO said data protection law did not prevent it but patients must be told.
Only a GP may change it; the confirmation shows this position first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable

from .errors import ValidationError

ON = "on"
OFF = "off"

NHSE_POSITION = (
    "NHS England did not recognise practice-level objection: in 2014 it said mass opt-outs "
    "breached the GP contract and issued a remediation notice (later called a 'misunderstanding'). "
    "The ICO said data protection law did not prevent it, but every patient must be told. "
    "While it is on, the exclusion file tells the clinical system to extract nobody except "
    "patients who have asked to be included."
)


@dataclass(frozen=True)
class PolicyChange:
    state: str  # on | off
    effective: date
    reason: str
    recorded_by: str
    recorded_at: datetime
    seq: int = 0


def current_policy(changes: Iterable[PolicyChange], as_of: date | None = None) -> PolicyChange | None:
    relevant = [c for c in changes if as_of is None or c.effective <= as_of]
    if not relevant:
        return None
    return max(relevant, key=lambda c: (c.effective, c.seq))


def is_on(changes: Iterable[PolicyChange], as_of: date | None = None) -> bool:
    latest = current_policy(changes, as_of)
    return latest is not None and latest.state == ON


def check_change(state: str, reason: str, effective: date, today: date, history: Iterable[PolicyChange]) -> None:
    if state not in (ON, OFF):
        raise ValidationError("The practice-wide opt-out is either 'on' or 'off'.", "state")
    if not reason.strip():
        raise ValidationError("Give a reason for changing the practice-wide opt-out.", "reason")
    if effective > today:
        raise ValidationError("The effective date cannot be in the future.", "effective")
    if is_on(history) == (state == ON):
        raise ValidationError(f"The practice-wide opt-out is already {state}.", "state")
