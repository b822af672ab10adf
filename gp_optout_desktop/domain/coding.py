"""Getting each objection coded in the clinical system, and proving it (issue 10).

National extractions run inside the clinical system and honour only the code in the patient's
record, so every event the register holds is a coding task until a reconciliation finds the
code in the clinical system's own export (domain brief, section 8). Two sources of tasks:

- an individual event (an objection or withdrawal, Type 1 or legacy Type 2): add its code;
- the practice-wide opt-out as GPs applied it in 2014: add the Type 1 code for every patient
  not opted in while it is on, and remove those codes when it is lifted, sparing every patient
  who objects individually.

Pure rules here; the register's rows are read in store/coding.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from .codes import REGISTER, TYPE1, Code, CodeTable
from .uk_time import uk_date

ADD = "add"
REMOVE = "remove"
INDIVIDUAL = "individual"
PRACTICE_WIDE = "practice-wide"
DEFAULT_TARGET_WORKING_DAYS = 5
MAX_TARGET_WORKING_DAYS = 30


@lru_cache(maxsize=4096)
def add_working_days(start: date, days: int) -> date:
    """``days`` working days (Monday to Friday) after ``start``. Bank holidays are not known
    here, so around them the target is a day or two stricter than the calendar says."""
    day = start
    left = days
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def uk_day(stamp: str) -> date:
    """The UK date of a stored UTC timestamp (ISO text). UK time is UTC or one hour ahead, so
    only a stamp from 23:00 UTC on can fall on the next UK day: the rest are read as they are
    (a 100,000-row worklist would otherwise spend a fifth of a second converting zones)."""
    if stamp[11:13] < "23":
        return date.fromisoformat(stamp[:10])
    return uk_date(datetime.fromisoformat(stamp))


@dataclass(slots=True)
class WorkItem:
    """One code to add to (or remove from) one patient's record in the clinical system.
    (slots, not frozen: a 100,000-row worklist is built in well under a second that way.)"""

    ref: str  # "E<event id>" for an individual event, "P<practice code id>" for a practice-wide one
    source: str  # INDIVIDUAL | PRACTICE_WIDE
    op: str  # ADD | REMOVE
    patient_id: int
    nhs_number: str | None
    title: str
    forenames: str
    surname: str
    dob: date
    code: Code
    record_date: date  # the date to give the code in the clinical system
    since: date  # the day the task arose (recorded, or the opt-out turned on or lifted)
    due: date  # since + the practice's coding target in working days
    marked_by: str | None = None  # someone ticked "coded": a claim the next reconciliation checks

    @property
    def state(self) -> str:
        return "marked" if self.marked_by else "pending"

    def overdue(self, today: date) -> bool:
        return today > self.due

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.title, self.forenames, self.surname) if p)


@dataclass(frozen=True)
class PracticeWide:
    """What the practice-wide opt-out asks of one patient's record now.

    ``task``: ADD or REMOVE still to be done (None: nothing to do). ``expect``: whether the
    clinical system should show the practice-wide Type 1 code (None: no expectation, e.g. an
    add never confirmed for someone who then opted in)."""

    task: str | None
    expect: bool | None


def practice_wide(latest_op: str | None, latest_confirmed: bool, opted_in: bool, objects: bool) -> PracticeWide:
    """The rule for one patient, from their latest practice-wide code row and their own state.

    ``objects``: an individual Type 1 objection in force. Such a patient is spared: their own
    code stands whatever the practice does, so no practice-wide add or removal is asked for.
    ``opted_in``: an include-me request in force: they asked for no practice-wide code."""
    if latest_op is None or objects:
        return PracticeWide(None, None)
    if latest_op == ADD:
        if opted_in:
            # Opted in after the add was listed: if the code went in, it must come out again.
            return PracticeWide(REMOVE, False) if latest_confirmed else PracticeWide(None, None)
        return PracticeWide(None if latest_confirmed else ADD, True)
    return PracticeWide(None if latest_confirmed else REMOVE, False)


def practice_wide_code(codes: CodeTable) -> Code:
    """The code a practice-wide opt-out adds (and later removes): Type 1 dissent."""
    return codes.lookup(TYPE1, REGISTER)
