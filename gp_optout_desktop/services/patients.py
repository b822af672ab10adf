"""Patients: add, edit, search, and the audited read of one patient's record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..domain import codes, events as ev, in_force
from ..domain.errors import ValidationError
from ..domain.patient import Patient, validate_patient, with_id
from ..store import patients as patients_store
from .changes import ChangeSet
from .session import Session


def audit_ref(patient: Patient) -> str:
    """How the register file's audit trail names a patient: NHS number, else its own id. The
    services ported to both engines ask their store instead (``ctx.store.audit_ref``): the
    server's trail names a patient by a blind index, never the number."""
    return patient.nhs_number or f"id:{patient.patient_id}"


def add(session: Session, **fields) -> ChangeSet:
    patient = validate_patient(today=session.today(), **fields)
    with session.write("add_patient") as ctx:
        patient_id = ctx.store.insert_patient(patient, by=session.user, at=session.now())
        ctx.audit("patient.create", ctx.store.audit_ref(with_id(patient, patient_id)))
    warnings = (patient.postcode_warning,) if patient.postcode_warning else ()
    return ChangeSet(f"Added {patient.display_name}.", ctx.revision, frozenset({patient_id}),
                     areas=frozenset({"patients"}), warnings=warnings, data={"patient_id": patient_id})


def edit(session: Session, patient_id: int, **fields) -> ChangeSet:
    patient = validate_patient(today=session.today(), **fields)
    with session.write("edit_patient") as ctx:
        before = ctx.store.get_patient(patient_id)  # NotFound if absent
        after = with_id(patient, patient_id)
        changed = [f for f in _EDITABLE if getattr(before, f) != getattr(after, f)]
        if not changed:
            raise ValidationError("Nothing was changed.", None)
        ctx.store.update_patient(after)
        # The NHS number decides who the exclusion file lists: keep the old one in the trail.
        previous = f" previous_nhs={before.nhs_number or 'none'}" if "nhs_number" in changed else ""
        ctx.audit("patient.update", ctx.store.audit_ref(after),
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
    with session.search_store("search") as store:
        return store.result_rows(store.search_ids(query, limit))


def find_ids(session: Session, text: str, limit: int = 500) -> list[int]:
    query = patients_store.parse_query(text)
    with session.search_store("search") as store:
        return store.search_ids(query, limit)


def find_ids_and_rows(session: Session, text: str, limit: int) -> tuple[list[int], list[patients_store.ResultRow]]:
    """The front desk's search: up to ``limit`` ids, and the rows of the first ``limit - 1``
    (one more id than shown tells whether there are more), read together: on the server from
    one snapshot, so a row never shows a patient as another desk left them after the search."""
    query = patients_store.parse_query(text)
    with session.search_store("search") as store:
        ids = store.search_ids(query, limit)
        return ids, store.result_rows(ids[:limit - 1]) if ids else []


def result_rows(session: Session, ids: list[int]) -> list[patients_store.ResultRow]:
    with session.search_store("search") as store:
        return store.result_rows(ids)


def by_nhs(session: Session, nhs: str) -> Patient:
    from ..domain import nhs_number

    with session.read_store("search") as store:
        return store.by_nhs(nhs_number.validate(nhs))


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
        store = ctx.store
        patient = store.get_patient(patient_id)
        history = store.history(patient_id)
        letters = store.letters_for(patient_id)
        _worded_as_printed(store, letters)
        signposts = store.signposts(patient_id)
        adult_ids = sorted({e.submitted_by for e in history if e.submitted_by})
        adults = store.get_patients(adult_ids)
        ctx.audit("patient.read", store.audit_ref(patient))
    return PatientRecord(
        patient, history, ev.all_statuses(history), letters, signposts,
        {pid: p.display_name for pid, p in adults.items()},
    )


def _worded_as_printed(store, letters: list[dict]) -> None:
    """A letter not yet sent is worded when it is printed (an acknowledgement while a code is
    pending, the confirmation once in force): say which it would be today, and whether it is
    a confirmation still waiting for its codes (``prints_as``, ``held``)."""
    from ..store import letters_repo
    from .letters import plan_on

    for letter in letters:
        letter["prints_as"], letter["held"] = letter["kind"], False
        if letter["sent_at"] is None and letter["kind"] in letters_repo.RECEIVED_KINDS:
            decided = plan_on(store, store.letter(letter["letter_id"]))
            letter["prints_as"], letter["held"] = decided.kind, decided.held
