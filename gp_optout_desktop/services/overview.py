"""The overview (everyone may see it). Reads only aggregates, so nothing here is audited
per patient; no identifier is returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from ..domain import codes, coding as rules
from ..domain.events import CONFIRMED, INCLUDE, MARKED, PENDING
from ..domain.practice_policy import PolicyChange, current_policy
from .reconcile import LastRun, summarise_run
from .session import Session

DUE_SOON_DAYS = 7
OBJECTION_KINDS = (codes.TYPE1, codes.TYPE2)


@dataclass(frozen=True)
class Period:
    label: str  # "2019" or "Mar 2026"
    objections: int  # new objections (Type 1 and legacy Type 2) effective in the period
    withdrawals: int
    objecting_at_end: int  # objections in force at the end of the period (running total)


@dataclass(frozen=True)
class Overview:
    patients: int
    objecting: dict[str, int]  # kind -> patients whose latest event is an objection
    withdrawn: dict[str, int]  # kind -> patients whose latest event is a withdrawal
    included: int  # "include me" requests in force (opt-ins during a practice-wide opt-out)
    objecting_without_nhs: int  # the exclusion file cannot list these: staff must add the number
    letters_pending: int
    letters_overdue: int
    letters_due_soon: int
    timeline: list[Period] = field(default_factory=list)
    policy: PolicyChange | None = None
    # Type 1 objections by whether the code is in the clinical system (domain/in_force.py):
    # only confirmed ones are in force for national extractions.
    type1_in_force: int = 0
    type1_received: int = 0  # not yet confirmed, marked ones included
    type1_marked: int = 0  # ticked "coded" by someone, not yet confirmed by a reconciliation
    withdrawals_not_confirmed: int = 0  # a Type 1 code may still be in the record
    letters_held: int = 0  # confirmations promised in an acknowledgement, waiting for their codes
    reconciliation: LastRun | None = None  # the last run against the clinical system's export
    coding_pending: int = 0  # codes on the coding worklist: individual and practice-wide, not yet confirmed

    @property
    def policy_on(self) -> bool:
        return self.policy is not None and self.policy.state == "on"


def _month_label(month: str) -> str:
    year, mon = month.split("-")
    return f"{date(int(year), int(mon), 1):%b %Y}"


def timeline(monthly: list[tuple[str, str, int]], today: date) -> list[Period]:
    """Per year when the history spans more than three years, else per month; empty
    periods are kept so the chart's spacing is true to time."""
    if not monthly:
        return []
    per_month: dict[str, list[int]] = {}
    for month, action, n in monthly:
        per_month.setdefault(month, [0, 0])[0 if action == codes.REGISTER else 1] += n
    first = min(per_month)
    last = max(max(per_month), f"{today:%Y-%m}")
    yearly = int(last[:4]) - int(first[:4]) >= 3
    keys: list[str] = []
    if yearly:
        keys = [str(y) for y in range(int(first[:4]), int(last[:4]) + 1)]
    else:
        y, m = int(first[:4]), int(first[5:])
        while f"{y:04d}-{m:02d}" <= last:
            keys.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    buckets = {k: [0, 0] for k in keys}
    for month, (reg, wd) in per_month.items():
        key = month[:4] if yearly else month
        buckets[key][0] += reg
        buckets[key][1] += wd
    periods, running = [], 0
    for key in keys:
        reg, wd = buckets[key]
        running += reg - wd
        periods.append(Period(key if yearly else _month_label(key), reg, wd, running))
    return periods


def overview(session: Session) -> Overview:
    """Every tile's figure, read through the engine seam (store/backend.py) in one snapshot
    apart from the desk's own connection: the same figures from a register file and a server."""
    today = session.today()
    with session.apart_store("search") as store:  # seconds at 1,000,000 patients: not on the register's connection
        patients = store.patient_count()
        current = store.current_counts()
        unlisted = store.objecting_without_nhs_number()
        letters = store.letter_counts(today, today + timedelta(days=DUE_SOON_DAYS))
        monthly = store.monthly_events(OBJECTION_KINDS)
        policy = current_policy(store.policy_history(), as_of=today)
        coding = store.type1_coding_counts()
        target = store.coding_target()
        reconciled = summarise_run(store.last_reconciliation(),
                                   rules.DEFAULT_TARGET_WORKING_DAYS if target is None else target, today)
        practice_tasks = store.practice_task_count(policy is not None and policy.state == "on")
        coding_pending = store.unconfirmed_count() + practice_tasks
    return Overview(
        patients=patients,
        objecting={k: current.get((k, True), 0) for k in OBJECTION_KINDS},
        withdrawn={k: current.get((k, False), 0) for k in OBJECTION_KINDS},
        included=current.get((INCLUDE, True), 0),
        objecting_without_nhs=unlisted,
        letters_pending=letters["pending"],
        letters_overdue=letters["overdue"],
        letters_due_soon=letters["due_soon"],
        timeline=timeline(monthly, today),
        policy=policy,
        type1_in_force=coding.get((True, CONFIRMED), 0),
        type1_received=coding.get((True, PENDING), 0) + coding.get((True, MARKED), 0),
        type1_marked=coding.get((True, MARKED), 0),
        withdrawals_not_confirmed=coding.get((False, PENDING), 0) + coding.get((False, MARKED), 0),
        letters_held=letters.get("held", 0),
        reconciliation=reconciled,
        coding_pending=coding_pending,
    )

