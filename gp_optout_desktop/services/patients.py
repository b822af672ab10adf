"""Patients: add, edit, search, and the audited read of one patient's record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..domain import codes, events as ev, in_force
from ..domain.errors import ValidationError
from ..domain.patient import Patient, validate_patient, with_id
from ..store import events as events_store, patients as patients_store
from .changes import ChangeSet
from .session import Session


def audit_ref(patient: Patient) -> str:
    """How the audit trail names a patient: NHS number, else the register's own id."""
    return patient.nhs_number or f"id:{patient.patient_id}"


def add(session: Session, **fields) -> ChangeSet:
    patient = validate_patient(today=session.today(), **fields)
    with session.write("add_patient") as ctx:
        patient_id = patients_store.insert(ctx.conn, patient, by=session.user, at=session.now())
        ctx.audit("patient.create", patient.nhs_number or f"id:{patient_id}")
    warnings = (patient.postcode_warning,) if patient.postcode_warning else ()
    return ChangeSet(f"Added {patient.display_name}.", ctx.revision, frozenset({patient_id}),
                     areas=frozenset({"patients"}), warnings=warnings, data={"patient_id": patient_id})


def edit(session: Session, patient_id: int, **fields) -> ChangeSet:
    patient = validate_patient(today=session.today(), **fields)
    with session.write("edit_patient") as ctx:
        before = patients_store.get(ctx.conn, patient_id)  # NotFound if absent
        after = with_id(patient, patient_id)
        changed = [f for f in _EDITABLE if getattr(before, f) != getattr(after, f)]
        if not changed:
            raise ValidationError("Nothing was changed.", None)
        patients_store.update(ctx.conn, after)
        # The NHS number decides who the exclusion file lists: keep the old one in the trail.
        previous = f" previous_nhs={before.nhs_number or 'none'}" if "nhs_number" in changed else ""
        ctx.audit("patient.update", patient.nhs_number or f"id:{patient_id}",
                  detail=f"changed={','.join(changed)}{previous}")
    summary = f"Updated {patient.display_name}'s {_words(changed)}."
    warnings = (patient.postcode_warning,) if patient.postcode_warning else ()
    return ChangeSet(summary, ctx.revision, frozenset({patient_id}), areas=frozenset({"patients", "export"}),
                     warnings=warnings, data={"patient_id": patient_id, "changed": tuple(changed)})


_EDITABLE = ("nhs_number", "title", "surname", "forenames", "dob", "address", "postcode", "phone", "email")
_FIELD_WORDS = {"nhs_number": "NHS number", "dob": "date of birth", "forenames": "forenames"}


def _words(changed: list[str]) -> str:
    names = [_FIELD_WORDS.get(f, f) for f in changed]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def find(session: Session, text: str, limit: int = 200) -> list[patients_store.ResultRow]:
    """The front-desk search: NHS number (any spacing), surname prefix ('Smith, J'), DOB or postcode."""
    query = patients_store.parse_query(text)
    with session.read_committed("search") as conn:
        ids = patients_store.search_ids(conn, query, limit)
        return patients_store.result_rows(conn, ids)


def find_ids(session: Session, text: str, limit: int = 500) -> list[int]:
    query = patients_store.parse_query(text)
    with session.read_committed("search") as conn:
        return patients_store.search_ids(conn, query, limit)


def result_rows(session: Session, ids: list[int]) -> list[patients_store.ResultRow]:
    with session.read_committed("search") as conn:
        return patients_store.result_rows(conn, ids)


def by_nhs(session: Session, nhs: str) -> Patient:
    from ..domain import nhs_number

    with session.read("search") as conn:
        return patients_store.by_nhs(conn, nhs_number.validate(nhs))


@dataclass(frozen=True)
class PatientRecord:
    patient: Patient
    history: list[ev.Event]
    statuses: dict[str, ev.Status]
    letters: list[dict]
    signposts: list[date]
    submitted_by: dict[int, str]  # patient id -> display name of adults who submitted forms for them

    @property
    def standing(self) -> in_force.Standing:
        """Received or in force: whether the Type 1 code is confirmed in the clinical system."""
        return in_force.type1_standing(self.statuses[codes.TYPE1])


def view(session: Session, patient_id: int) -> PatientRecord:
    """One patient's full record; the read is audited."""
    with session.write("view_patient", changes_register=False) as ctx:
        patient = patients_store.get(ctx.conn, patient_id)
        history = events_store.history(ctx.conn, patient_id)
        letters = events_store.letters_for(ctx.conn, patient_id)
        _worded_as_printed(ctx.conn, letters)
        signposts = events_store.signposts(ctx.conn, patient_id)
        adult_ids = sorted({e.submitted_by for e in history if e.submitted_by})
        adults = patients_store.get_many(ctx.conn, adult_ids)
        ctx.audit("patient.read", audit_ref(patient))
    return PatientRecord(
        patient, history, ev.all_statuses(history), letters, signposts,
        {pid: p.display_name for pid, p in adults.items()},
    )


def _worded_as_printed(conn, letters: list[dict]) -> None:
    """A letter not yet sent is worded when it is printed (an acknowledgement while a code is
    pending, the confirmation once in force): say which it would be today, and whether it is
    a confirmation still waiting for its codes (``prints_as``, ``held``)."""
    from ..store import letters_repo
    from .letters import plan

    for letter in letters:
        letter["prints_as"], letter["held"] = letter["kind"], False
        if letter["sent_at"] is None and letter["kind"] in letters_repo.RECEIVED_KINDS:
            decided = plan(conn, letters_repo.get(conn, letter["letter_id"]))
            letter["prints_as"], letter["held"] = decided.kind, decided.held
