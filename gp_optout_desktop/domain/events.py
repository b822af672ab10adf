"""Objection events and the rule that turns a history into a current state.

Current status = the latest event wins, ordered by effective date and then by
entry order. A withdrawal after a dissent means *not objecting* (a real NHS
analytics model once counted withdrawals as opt-outs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable, Sequence

from .codes import OBJECTION_TYPES, REGISTER, TYPE1, TYPE2, WITHDRAW, ACTIONS
from .errors import ValidationError

# "include me": a patient's request to be extracted while a practice-wide opt-out is in force.
INCLUDE = "include"
EVENT_KINDS = OBJECTION_TYPES + (INCLUDE,)

HOW_RECEIVED = {
    "desk": "in person at the desk",
    "post": "by post",
    "email": "by email",
    "phone": "by phone (verbal)",
}

# Events brought in from the clinical system's codes (services/importer.py): never offered
# at the desk, so not in HOW_RECEIVED, but shown in histories.
IMPORTED = "import"
VIA_LABELS = {**HOW_RECEIVED, IMPORTED: "imported from the clinical system"}

PROXY_ROLES = {
    "parental_responsibility": "Parental responsibility",
    "legal_guardian": "Legal guardian",
    "lpa_health_welfare": "Lasting power of attorney (health and welfare)",
    "lpa_property_financial": "Lasting power of attorney (property and financial affairs)",
    "court_deputy": "Court-appointed deputy",
}

# Whether an event's code is in the clinical system (Event.coding_state). Only CONFIRMED
# is in force for national extractions: they read the code in the record, nothing else.
PENDING = "pending"
MARKED = "marked"
CONFIRMED = "confirmed"

NDOO_SIGNPOST = (
    "The National Data Opt-out is set by the patient, not the practice: "
    "nhs.uk/your-nhs-data-matters, the NHS App, phone 0300 303 5678, or by post."
)


@dataclass(frozen=True)
class Proxy:
    """Someone acting for the patient, with the evidence that was seen."""

    role: str
    name: str
    evidence: str
    verified_by: str

    def __post_init__(self):
        if self.role not in PROXY_ROLES:
            raise ValidationError(
                f"Unknown proxy role '{self.role}'. Choose one of: {', '.join(PROXY_ROLES)}.", "proxy_role"
            )
        if not self.name.strip():
            raise ValidationError("A proxy must be named.", "proxy_name")
        if not self.evidence.strip():
            raise ValidationError(
                "Record the evidence seen for the proxy (e.g. an OPG 'VALIDATED-OPG' stamp or access code).",
                "proxy_evidence",
            )
        if not self.verified_by.strip():
            raise ValidationError("Record who verified the proxy's evidence.", "proxy_verified_by")


@dataclass(frozen=True)
class Event:
    """One objection, withdrawal or include-me request, as recorded."""

    kind: str  # type1 | type2 | include
    action: str  # register | withdraw
    effective: date
    received: date
    via: str
    recorded_by: str
    recorded_at: datetime
    seq: int = 0  # entry order in the register; breaks effective-date ties
    proxy: Proxy | None = None
    submitted_by: int | None = None  # patient id of the adult whose form covered this dependant
    event_id: int | None = None
    coded_at: datetime | None = None  # someone ticked "coded": a claim, not yet a proof
    coded_by: str | None = None
    confirmed_at: datetime | None = None  # the code was found in the clinical system's export
    confirmed_by: str | None = None  # what confirmed it: a reconciliation run, or an import

    @property
    def coding_state(self) -> str:
        """PENDING (not coded), MARKED (ticked by someone, not yet proved) or CONFIRMED."""
        if self.confirmed_at is not None:
            return CONFIRMED
        if self.coded_at is not None:
            return MARKED
        return PENDING

    @property
    def added_on(self) -> date:
        """The day the code was added to the record, which the Type 2 cut-off is about (not the
        effective date: a form signed in 2017 and keyed today was added today). An import keeps
        the clinical system's date (held in ``received``); anything keyed here was added when
        it was recorded."""
        return self.received if self.via == IMPORTED else self.recorded_at.date()


@dataclass(frozen=True)
class Status:
    kind: str
    active: bool
    since: date | None
    event: Event | None

    def describe(self) -> str:
        """Plain words for the front desk."""
        when = _fmt(self.since) if self.since else None
        if self.kind == INCLUDE:
            if self.active:
                return f"Asked to be included despite the practice-wide opt-out, since {when}"
            return "Has not asked to be included"
        if self.kind == TYPE1:
            if self.active:
                return f"Objects to their GP data leaving the practice, since {when}"
            if self.event is not None:
                return f"Does not object (Type 1 objection withdrawn {when})"
            return "No Type 1 objection recorded"
        if self.active:
            return f"Legacy Type 2 objection recorded, since {when}"
        if self.event is not None:
            return f"No Type 2 objection (withdrawn {when})"
        return "No Type 2 objection recorded"


def _fmt(d: date) -> str:
    return f"{d.day} {d:%b %Y}"


def order_key(event: Event) -> tuple[date, int]:
    return (event.effective, event.seq)


def current_status(events: Iterable[Event], kind: str, as_of: date | None = None) -> Status:
    """The latest event of ``kind`` (effective date, then entry order) decides."""
    relevant = [e for e in events if e.kind == kind and (as_of is None or e.effective <= as_of)]
    if not relevant:
        return Status(kind, False, None, None)
    latest = max(relevant, key=order_key)
    return Status(kind, latest.action == REGISTER, latest.effective, latest)


def all_statuses(events: Sequence[Event], as_of: date | None = None) -> dict[str, Status]:
    return {kind: current_status(events, kind, as_of) for kind in EVENT_KINDS}


def check_new_event(
    kind: str,
    action: str,
    effective: date,
    received: date,
    via: str,
    today: date,
    existing: Sequence[Event],
    type2_cutoff: date,
) -> None:
    """Refuse an event the rules do not allow; say why in words a receptionist can act on."""
    if kind not in EVENT_KINDS:
        raise ValidationError(f"Unknown objection type '{kind}'.", "type")
    if action not in ACTIONS:
        raise ValidationError(f"Unknown action '{action}' (register or withdraw).", "action")
    if via not in HOW_RECEIVED:
        raise ValidationError(f"How was it received? One of: {', '.join(HOW_RECEIVED)}.", "via")
    if effective > today:
        raise ValidationError("The effective date cannot be in the future.", "effective")
    if received > today:
        raise ValidationError("The date received cannot be in the future.", "received")
    if kind == TYPE2 and action == REGISTER and today > type2_cutoff:
        # The cut-off is on the date the code is added (today, when keyed here), not the date the
        # patient signed: an old paper form keyed now was never converted to the NDOO.
        raise ValidationError(
            "A new Type 2 objection cannot be recorded: Type 2 codes added to the record after "
            f"{_fmt(type2_cutoff)} are not processed, whatever date the form was signed, and Type 2 never "
            "stopped GP data leaving the practice. Tell the patient it cannot be recorded and that the "
            "National Data Opt-out replaced it (or record a Type 1 objection if that is what they want). "
            + NDOO_SIGNPOST,
            "type",
        )
    # The state just before the new event in order (it sorts after ties on its date).
    before = current_status(existing, kind, as_of=effective)
    if action == REGISTER and before.active:
        raise ValidationError(f"Already recorded: {before.describe()}.", "action")
    if action == WITHDRAW and not before.active:
        raise ValidationError(f"Nothing to withdraw: {before.describe()}.", "action")


def check_type2_in_error(existing: Sequence[Event], type2_cutoff: date) -> None:
    """The 'Type 2 recorded in error' letter is for a Type 2 added after the cut-off (or one the
    desk just refused). A Type 2 added on or before the cut-off was converted to the National
    Data Opt-out: telling that patient it was 'recorded in error' would be untrue."""
    status = current_status(existing, TYPE2)
    if status.active and status.event is not None and status.event.added_on <= type2_cutoff:
        raise ValidationError(
            f"This patient's Type 2 objection was added to the record on {_fmt(status.event.added_on)}, on or before "
            f"{_fmt(type2_cutoff)}, so it was converted to the National Data Opt-out: it was not recorded in error. "
            + NDOO_SIGNPOST,
            "type",
        )
