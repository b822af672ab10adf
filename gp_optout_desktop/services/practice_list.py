"""Import the practice's patient list (practice manager): the register follows the practice.

All rows or none, in one transaction, re-runnable (a second run of the same file changes
nothing). Each row's patient is matched by NHS number (another date of birth under the same
number is refused: not the same person) or added; details are brought up to date; the
registration status is set (registered, deducted, deceased, temporary); a deducted patient
who appears registered again is flagged as re-registered. A row naming a previous (superseded)
NHS number moves that record's history onto this one, audited. Patients in the register but
not in the file are counted, never changed: a partial export must not deduct anyone.

Deducted, deceased and merged patients get no letters or notices (store.letters_repo) and stay
in the history. The exclusion file keeps listing a deducted objector (fail safe): see
docs/exclusion-file.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..domain.import_rows import ImportRefused, Problem
from ..domain.practice_list import (DECEASED, DEDUCTED, INACTIVE, LABELS, MERGED, REGISTERED, TEMPORARY, ListRow,
                                    read_list)
from ..store import registration as reg_store
from .changes import ChangeSet
from .session import Session

_IDENTITY = ("title", "surname", "forenames", "address", "postcode")


@dataclass
class ListPlan:
    rows: int = 0
    patients_new: int = 0
    details_updated: int = 0
    status_changed: dict[str, int] = field(default_factory=dict)  # new status -> count
    reregistered: int = 0
    merged: int = 0  # histories moved from a superseded NHS number
    renumbered: int = 0  # a superseded number replaced on the only record
    not_in_list: int = 0  # registered in the register, absent from the file: reported, not changed
    actions: list = field(default_factory=list, repr=False)

    def describe(self, done: bool) -> str:
        def n(count: int, word: str) -> str:
            return f"{count:,} {word}{'s' if count != 1 else ''}"

        verb = "" if done else "would be "
        parts = [f"{n(self.rows, 'row')}: {n(self.patients_new, 'new patient')} {verb}added",
                 f"{n(self.details_updated, 'patient')}' details {verb}brought up to date"]
        for status, count in sorted(self.status_changed.items()):
            parts.append(f"{count:,} {verb}now {LABELS[status]}")
        if self.reregistered:
            parts.append(f"{n(self.reregistered, 'returning patient')} flagged as re-registered")
        if self.merged or self.renumbered:
            parts.append(f"{n(self.merged + self.renumbered, 'superseded NHS number')} {verb}moved to the new number")
        text = "; ".join(parts) + "."
        if self.not_in_list:
            text += (f" {n(self.not_in_list, 'registered patient')} in the register {'is' if self.not_in_list == 1 else 'are'}"
                     " not in this file and stayed as they were: check whether they left the practice.")
        return text


def check(session: Session, text: str) -> ListPlan:
    """What importing ``text`` would do, with nothing written. On either engine (store/backend.py)."""
    rows = read_list(text, session.today())
    with session.read_store("import_practice_list") as register:
        return _plan(register, rows, session)


def import_list(session: Session, text: str) -> ChangeSet:
    rows = read_list(text, session.today())
    with session.write("import_practice_list") as ctx:
        plan = _plan(ctx.store, rows, session)
        _apply(ctx, ctx.store, session, plan)
        changed = " ".join(f"{k}={v}" for k, v in sorted(plan.status_changed.items()))
        ctx.audit("import.practice_list", detail=f"rows={plan.rows} patients_new={plan.patients_new} "
                                                 f"updated={plan.details_updated} merged={plan.merged + plan.renumbered} "
                                                 f"reregistered={plan.reregistered} {changed}".strip())
    return ChangeSet(f"Imported the practice list. {plan.describe(done=True)}", ctx.revision,
                     areas=frozenset({"patients", "letters"}), data={"plan": plan})


def _plan(register, rows: list[ListRow], session: Session) -> ListPlan:
    """Match every row and decide every change; nothing is written here."""
    by_nhs = register.all_patients_by_nhs()
    states = register.registration_states()
    plan = ListPlan(rows=len(rows))
    problems: list[Problem] = []
    today = session.today()
    listed: set[int] = set()
    for row in rows:
        new = row.patient
        existing = by_nhs.get(new.nhs_number)
        old = by_nhs.get(row.previous_nhs) if row.previous_nhs else None
        if old is not None and states.get(old.patient_id, _registered()).status == MERGED:
            old = None  # merged by an earlier run: nothing more to move
        for who in (existing, old):
            if who is not None and who.dob != new.dob:
                problems.append(Problem(row.row, "the register has this NHS number with another date of birth: "
                                                 "check which is right before importing"))
                break
        else:
            if old is not None and existing is not None:
                plan.merged += 1
                plan.actions.append(("merge", old, existing))
                listed.add(old.patient_id)
            elif old is not None:
                plan.renumbered += 1
                plan.actions.append(("renumber", old, new.nhs_number))
                existing = replace(old, nhs_number=new.nhs_number)
                listed.add(old.patient_id)
            if existing is None:
                plan.patients_new += 1
                plan.actions.append(("add", row))
                continue
            listed.add(existing.patient_id)
            current = states.get(existing.patient_id, _registered())
            if current.status == DECEASED and row.status != DECEASED:
                problems.append(Problem(row.row, "the register has this patient as deceased but the file does not: "
                                                 "check the clinical system's record before importing"))
                continue
            updated = existing
            if any(getattr(new, k) != getattr(existing, k) for k in _IDENTITY):
                updated = replace(existing, **{k: getattr(new, k) for k in _IDENTITY})
                plan.details_updated += 1
                plan.actions.append(("update", updated))
            target = reg_store.Registration(
                row.status, row.since or current.since, row.died_on,
                today if current.status == DEDUCTED and row.status in (REGISTERED, TEMPORARY) else current.reregistered_on,
                None)
            if target != current:
                if target.status != current.status:
                    plan.status_changed[target.status] = plan.status_changed.get(target.status, 0) + 1
                if target.reregistered_on != current.reregistered_on:
                    plan.reregistered += 1
                plan.actions.append(("status", updated, current.status, target))
    if problems:
        raise ImportRefused(f"{len(problems):,} row{'s' if len(problems) != 1 else ''} cannot be imported, so "
                            "nothing was imported. Correct the file and try again.",
                            tuple(sorted(problems, key=lambda p: p.row)))
    plan.not_in_list = sum(1 for p in by_nhs.values() if p.patient_id not in listed
                           and states.get(p.patient_id, _registered()).status not in INACTIVE)
    return plan


def _registered() -> reg_store.Registration:
    return reg_store.Registration(REGISTERED, None, None, None, None)


def _apply(ctx, register, session, plan: ListPlan) -> None:
    """The plan's changes through either engine's store; the audit entries in the plan's order.
    Registrations are written together at the end (one call: one statement on the server)."""
    by, at = session.user, session.now()
    added_rows, regs = [], {}
    for action, *args in plan.actions:
        if action == "add":
            (row,) = args
            added_rows.append(row)
        elif action == "update":
            (patient,) = args
            register.update_patient(patient)
            ctx.audit("patient.update", register.audit_ref(patient), detail="from the practice list")
        elif action == "renumber":
            old, number = args
            register.update_patient(replace(old, nhs_number=number))
            ctx.audit("patient.merge", register.audit_ref(replace(old, nhs_number=number)),
                      detail=f"superseded NHS number replaced; previous={old.nhs_number}")
        elif action == "merge":
            old, into = args
            moved = register.move_history(old.patient_id, into.patient_id)
            regs[old.patient_id] = reg_store.Registration(MERGED, None, None, None, into.patient_id)
            ctx.audit("patient.merge", register.audit_ref(into),
                      detail=f"history moved from previous={old.nhs_number} events={moved}")
        elif action == "status":
            patient, was, target = args
            regs[patient.patient_id] = target
            ctx.audit("patient.registration", register.audit_ref(patient),
                      detail=f"status={target.status} was={was}" + (" reregistered" if target.reregistered_on else ""))
    if added_rows:
        ids = register.insert_patients([row.patient for row in added_rows], by=by, at=at)
        for row, patient_id in zip(added_rows, ids):
            regs[patient_id] = reg_store.Registration(row.status, row.since, row.died_on, None, None)
        # A first import adds the whole list: one entry naming the rows, not 15,000 (each is in the file).
        ctx.audit("patient.create", detail=f"practice list patients={len(ids)} rows={added_rows[0].row}-"
                                           f"{added_rows[-1].row}")
    register.put_registrations(list(regs.items()), by=by, at=at)
