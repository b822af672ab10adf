"""Received or in force: what the register may promise a patient about their GP data.

National extractions (GPES, GDPPR, OpenSAFELY) run inside the clinical system and honour
only the Type 1 code in the patient's record. So an objection in this register is
*received*; it is *in force* only once its code was found in the clinical system's own
export (Event.coding_state CONFIRMED: a reconciliation or an import). A "coded" tick is a
claim (MARKED), shown with the name of whoever ticked it, and counted as not in force.
The same holds in reverse for a withdrawal: until its code is confirmed, whatever Type 1
code is in the record still applies. No Qt, no SQL: screens, letters and the CLI read this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from .codes import REGISTER, TYPE1, TYPE2
from .events import CONFIRMED, INCLUDE, MARKED, Event, Status

# Standing of a patient's current Type 1 state.
NONE = "none"  # no Type 1 objection ever recorded
RECEIVED = "received"  # objection in the register, code not yet in the clinical system
IN_FORCE = "in_force"  # objection's code confirmed in the clinical system
WITHDRAWAL_RECEIVED = "withdrawal_received"  # withdrawal in the register, its code not yet confirmed
WITHDRAWN = "withdrawn"  # withdrawal's code confirmed

# Who does what next: the same words on every screen, letter note and CLI line.
WHO_CODES = ("the practice manager adds the code in the clinical system (from the coding worklist), "
             "then a reconciliation against the clinical system's export confirms it")
WHO_CONFIRMS = "the next reconciliation against the clinical system's export confirms it (practice manager)"

STAYS = "Their GP data stays in the practice"


def _day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    return f"{value.day} {value:%b %Y}"


@dataclass(frozen=True)
class Standing:
    """One patient's Type 1 standing, in words for the desk."""

    state: str  # NONE | RECEIVED | IN_FORCE | WITHDRAWAL_RECEIVED | WITHDRAWN
    coding: str | None  # the deciding event's coding_state (PENDING | MARKED | CONFIRMED), None if no event
    label: str  # short: "Received, not yet in force"
    words: str  # what happens to their GP data in national extractions
    pending: str = ""  # what is still to do and who does it ("" when nothing is)

    @property
    def in_force(self) -> bool:
        return self.state == IN_FORCE

    @property
    def awaiting_code(self) -> bool:
        return self.state in (RECEIVED, WITHDRAWAL_RECEIVED)


def marked_words(event: Event) -> str:
    return f"marked coded by {event.coded_by or 'someone'} on {_day(event.coded_at)}, not yet confirmed"


def coding_words(event: Event) -> str:
    """The one-cell description of an event's code, for history tables and the CLI."""
    state = event.coding_state
    if state == CONFIRMED:
        how = "an import from the clinical system" if event.confirmed_by == "import" else (event.confirmed_by or "")
        return f"Confirmed {_day(event.confirmed_at)}" + (f" ({how})" if how else "")
    if state == MARKED:
        return marked_words(event)[0].upper() + marked_words(event)[1:]
    return "Not yet coded"


def type1_standing(status: Status) -> Standing:
    """From the patient's current Type 1 status (latest event wins) and that event's code."""
    event = status.event
    if event is None:
        return Standing(NONE, None, "No Type 1 objection",
                        "Their GP data may be extracted: no Type 1 objection is recorded.")
    state = event.coding_state
    if event.action == REGISTER:
        if state == CONFIRMED:
            return Standing(IN_FORCE, state, "In force",
                            f"{STAYS}: the Type 1 code was confirmed in the clinical system on "
                            f"{_day(event.confirmed_at)}, so national extractions leave them out "
                            "(except for direct care and what Type 1 does not stop).")
        claim = f"; {marked_words(event)}" if state == MARKED else ""
        pending = WHO_CONFIRMS if state == MARKED else WHO_CODES
        return Standing(RECEIVED, state, "Received, not yet in force" + (" (marked coded, not confirmed)" if claim else ""),
                        f"Objection received{claim}. Not yet in force: national extractions read the code in the "
                        "clinical record, and it is not confirmed there, so until then their GP data can still be "
                        "extracted.", f"Pending: {pending}.")
    if state == CONFIRMED:
        return Standing(WITHDRAWN, state, "Withdrawn",
                        f"Their GP data may be extracted: the withdrawal was confirmed in the clinical system on "
                        f"{_day(event.confirmed_at)}.")
    claim = f"; {marked_words(event)}" if state == MARKED else ""
    pending = WHO_CONFIRMS if state == MARKED else WHO_CODES
    return Standing(WITHDRAWAL_RECEIVED, state, "Withdrawal received, not yet in force",
                    f"Withdrawal received{claim}. Not yet in force: any Type 1 code already in their clinical record "
                    "still keeps their GP data out of national extractions until the withdrawal code is confirmed.",
                    f"Pending: {pending}.")


def gp_data_words(statuses: dict[str, Status], *, practice_wide_on: bool) -> Standing:
    """The desk's line about national extractions. An individual Type 1 decides when there
    is one; a legacy Type 2 alone never kept data in the practice; the practice-wide opt-out
    is honoured nationally only where its code is confirmed in each record."""
    standing = type1_standing(statuses[TYPE1])
    if standing.state != NONE and standing.state != WITHDRAWN:
        return standing
    if practice_wide_on and not statuses[INCLUDE].active:
        return Standing(standing.state, standing.coding, "Practice-wide opt-out",
                        "The practice-wide opt-out is on. National extractions leave them out only once the "
                        "practice-wide code is confirmed in their clinical record; the practice's own extracts "
                        "leave them out now.", f"Pending, unless already done: {WHO_CODES}.")
    if practice_wide_on:
        return Standing(standing.state, standing.coding, "Asked to be included",
                        "Their GP data may be extracted: they asked to be included despite the practice-wide "
                        "opt-out.")
    if statuses[TYPE2].active:
        return Standing(standing.state, standing.coding, "Legacy Type 2 only",
                        "Their GP data may be extracted from the practice: a legacy Type 2 objection never stopped "
                        "that (it asked NHS Digital not to pass data on). For more, a Type 1 objection, or the "
                        "National Data Opt-out set by the patient.")
    return standing


def received_words(kind: str, action: str) -> str:
    """What the desk says straight after recording: received, not in force, and who does what."""
    if kind == TYPE2:
        return ("Received: a legacy Type 2 objection never stopped extraction from the practice; "
                "signpost the National Data Opt-out.")
    what = "the withdrawal" if action != REGISTER else ("the request" if kind == INCLUDE else "the objection")
    return (f"Received, not yet in force: {what} takes effect in national extractions only once its code is "
            f"confirmed in the clinical system. Next: {WHO_CODES}.")


def letter_words(due: date) -> str:
    return (f"A letter is queued (due by {_day(due)}): it acknowledges receipt while the code is pending and "
            "confirms once the code is in force.")
