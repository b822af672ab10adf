"""Recording objections, withdrawals and include-me requests; coding; NDOO signposting."""

from __future__ import annotations

import calendar
from datetime import date

from dataclasses import replace

from ..domain import acting_for, codes
from ..domain.errors import ValidationError
from ..domain.events import INCLUDE, Event, Proxy, check_new_event, check_type2_in_error
from ..domain.in_force import letter_words, received_words
from .changes import ChangeSet
from .session import Session

LETTER_KIND = {codes.REGISTER: "objection", codes.WITHDRAW: "withdrawal"}
DEPENDANT_EVIDENCE = "Named on the submitting adult's form"


def one_calendar_month_after(day: date) -> date:
    """The ICO's deadline: the same day next month, or that month's last day if it is shorter."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def record(
    session: Session,
    patient_id: int,
    kind: str = codes.TYPE1,
    action: str = codes.REGISTER,
    *,
    effective: date | None = None,
    received: date | None = None,
    via: str = "desk",
    proxy: Proxy | None = None,
    dependants: list[int] | tuple[int, ...] = (),
    for_self: bool = True,
    confirm_other_address: bool = False,
    donor_lacks_capacity: bool = False,
) -> ChangeSet:
    """One form: the patient's own event (unless ``for_self`` is False) and one event per
    dependant, linked to the submitting adult, in one transaction, with one letter queued.

    Dependants must be under 16; one living elsewhere needs ``confirm_other_address``. A proxy's
    role must suit the patient's age; a health-and-welfare LPA needs ``donor_lacks_capacity``."""
    today = session.today()
    effective = effective or today
    received = received or today
    permission = {
        (codes.REGISTER, False): "record_objection",
        (codes.WITHDRAW, False): "record_withdrawal",
    }.get((action, kind == INCLUDE), "record_include")
    if not for_self and not dependants:
        raise ValidationError("Choose who the form is for: the patient, their dependants, or both.", "dependants")
    if patient_id in dependants:
        raise ValidationError("The submitting patient cannot also be their own dependant.", "dependants")
    if len(set(dependants)) != len(dependants):
        raise ValidationError("A dependant is listed twice.", "dependants")
    with session.write(permission) as ctx:
        store = ctx.store
        adult = store.get_patient(patient_id)
        if proxy is not None and for_self:
            acting_for.check_proxy_role(proxy.role, acting_for.age_on(adult.dob, today),
                                        donor_lacks_capacity=donor_lacks_capacity)
            if proxy.role in acting_for.NEEDS_LACK_OF_CAPACITY:
                proxy = replace(proxy, evidence=f"{proxy.evidence}; {acting_for.LACKS_CAPACITY_NOTE}")
        checks = [acting_for.check_dependant(store.get_patient(dep_id), adult, today) for dep_id in dependants]
        elsewhere = [c.patient.display_name for c in checks if c.other_address]
        if elsewhere and not confirm_other_address:
            raise ValidationError(
                f"{', '.join(elsewhere)} {'lives' if len(elsewhere) == 1 else 'live'} at a different address from "
                f"{adult.display_name}. Check that they have parental responsibility, then confirm.", "dependants")
        targets = ([(adult, proxy, None)] if for_self else []) + [
            (check.patient,
             Proxy("parental_responsibility", adult.display_name, DEPENDANT_EVIDENCE, session.user), patient_id)
            for check in checks
        ]
        # Everyone on the form is validated before anything is written, each against a history
        # no other desk can add to meanwhile (rows locked in id order, so two forms sharing
        # people cannot deadlock); the form id is drawn only then, so a refused form uses none.
        for person_id in sorted(t[0].patient_id for t in targets):
            store.lock_patient(person_id)
        cutoff = session.codes.type2_cutoff
        for person, _proxy, _by in targets:
            try:
                check_new_event(kind, action, effective, received, via, today, store.history(person.patient_id),
                                cutoff)
            except ValidationError as exc:
                if person.patient_id != patient_id:
                    raise ValidationError(f"For {person.display_name}: {exc}", exc.field) from None
                raise
        form_id = store.next_form_id()
        event_ids = []
        for person, acting_proxy, submitted_by in targets:
            event = Event(kind=kind, action=action, effective=effective, received=received, via=via,
                          recorded_by=session.user, recorded_at=session.now(), proxy=acting_proxy,
                          submitted_by=submitted_by)
            event_ids.append(store.insert_event(person.patient_id, event, form_id))
            store.refresh_current_state(person.patient_id)
            ctx.audit(f"{kind}.{action}", store.audit_ref(person), detail=f"form={form_id}")
        letter_kind = "include" if kind == INCLUDE else LETTER_KIND[action]
        letter_id = store.queue_letter(patient_id, form_id, letter_kind, session.now(),
                                       one_calendar_month_after(received))
        ctx.audit("letter.queue", store.audit_ref(adult), detail=f"letter={letter_id}")
    names = ", ".join(t[0].display_name for t in targets)
    label = "Request to be included" if kind == INCLUDE else f"{codes.SHORT_LABELS[kind]} objection"
    done = "recorded" if action == codes.REGISTER else "withdrawn"
    due = one_calendar_month_after(received)
    summary = f"{label} {done} for {names}. {received_words(kind, action)} {letter_words(due)}"
    notes = tuple(note for check in checks for note in check.notes if "different address" not in note)
    return ChangeSet(summary, ctx.revision, frozenset(t[0].patient_id for t in targets), tuple(event_ids), (letter_id,),
                     areas=frozenset({"patients", "letters"}), warnings=notes, data={"form_id": form_id})


def check_dependants(session: Session, patient_id: int, dependants: list[int] | tuple[int, ...]
                     ) -> list[acting_for.DependantCheck]:
    """What the form must show or confirm before saving (raises for anyone aged 16 or over)."""
    with session.read_store("view_patient") as store:
        adult = store.get_patient(patient_id)
        return [acting_for.check_dependant(store.get_patient(d), adult, session.today()) for d in dependants]


def people_on_form(session: Session, patient_id: int, dependants: list[int] | tuple[int, ...], for_self: bool = True
                   ) -> list[tuple[str, bool]]:
    """One line per person the form will be recorded for (name, age, date of birth, NHS number,
    postcode), and whether they live elsewhere: what the desk reads back before saving."""
    today = session.today()
    checks = check_dependants(session, patient_id, dependants)
    with session.read_store("view_patient") as store:
        adult = store.get_patient(patient_id)

    def line(p, note: str = "") -> str:
        return (f"{p.display_name}, {acting_for.describe_age(p.dob, today)}, NHS number {p.nhs_display}, "
                f"{p.postcode}{note}")

    out = [(line(adult), False)] if for_self else []
    return out + [(line(c.patient, " (a different address)" if c.other_address else ""), c.other_address)
                  for c in checks]


def mark_coded(session: Session, event_id: int) -> ChangeSet:
    """The event has been entered as a clinical code in the practice's clinical system."""
    with session.write("mark_coded") as ctx:
        store = ctx.store
        patient_id = store.patient_of_event(event_id)
        if patient_id is None:
            raise ValidationError("No such event.", "event")
        if store.mark_coded(event_id, by=session.user, at=session.now()) == 0:
            raise ValidationError("That event is already marked as coded.", "event")
        ctx.audit("event.coded", store.audit_ref(store.get_patient(patient_id)), detail=f"event={event_id}")
    return ChangeSet("Marked as coded; not yet confirmed: it counts as in force once a reconciliation finds the "
                     "code in the clinical system.", ctx.revision, frozenset({patient_id}), (event_id,),
                     areas=frozenset({"patients"}))


def signpost_ndoo(session: Session, patient_id: int, on: date | None = None) -> ChangeSet:
    """Record that the patient was told how to set the National Data Opt-out themselves.
    The practice cannot set it and must not store its result: only the signposting is kept."""
    with session.write("signpost_ndoo") as ctx:
        patient = ctx.store.get_patient(patient_id)
        ctx.store.add_signpost(patient_id, on or session.today(), by=session.user, at=session.now())
        ctx.audit("ndoo.signposted", ctx.store.audit_ref(patient))
    return ChangeSet("National Data Opt-out signposted.", ctx.revision, frozenset({patient_id}), areas=frozenset({"patients"}))


def type2_recorded_in_error(session: Session, patient_id: int) -> ChangeSet:
    """Queue the letter telling a patient their late Type 2 was recorded in error (NDOO signposted).
    Refused for a Type 2 added on or before the cut-off (it was converted, not in error)."""
    with session.write("queue_letter") as ctx:
        store = ctx.store
        patient = store.get_patient(patient_id)
        store.lock_patient(patient_id)
        check_type2_in_error(store.history(patient_id), session.codes.type2_cutoff)
        letter_id = store.queue_letter(patient_id, None, "type2_in_error", session.now(),
                                       one_calendar_month_after(session.today()))
        store.add_signpost(patient_id, session.today(), by=session.user, at=session.now())
        ctx.audit("letter.queue", store.audit_ref(patient), detail=f"letter={letter_id} kind=type2_in_error")
    return ChangeSet("Letter queued: Type 2 recorded in error, with National Data Opt-out signposting.", ctx.revision,
                     frozenset({patient_id}), letter_ids=(letter_id,), areas=frozenset({"patients", "letters"}))
