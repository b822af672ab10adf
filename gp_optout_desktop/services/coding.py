"""The coding worklist: every code still to be added to (or removed from) a patient's record in
the clinical system, until a reconciliation finds it done (services/reconcile.py).

Practice manager exports or prints it; everyone at the desk may view it. A manual "coded" tick
does not take an event off the list: it shows as marked by NAME, not yet confirmed.
"""

from __future__ import annotations

import csv
import heapq
import io
from dataclasses import dataclass
from datetime import date, datetime
from operator import attrgetter
from pathlib import Path

from ..domain import coding as rules
from ..domain.codes import CodeTable
from ..domain.errors import ValidationError
from ..domain.nhs_number import display as nhs_display
from ..domain import practice_policy
from ..domain.practice_policy import PolicyChange
from ..store import atomic, coding as store, policy as policy_store, settings as settings_store
from .changes import ChangeSet
from .session import Session, WriteContext

CSV_COLUMNS = (
    "ref", "action", "source", "nhs_number", "surname", "forenames", "title", "date_of_birth",
    "snomed_concept", "term", "read_v2", "ctv3", "date_to_record", "task_since", "due", "overdue", "state",
    "marked_by",
)


@dataclass(frozen=True)
class Worklist:
    items: list[rules.WorkItem]
    today: date
    target_days: int

    @property
    def overdue(self) -> int:
        return sum(1 for i in self.items if i.overdue(self.today))

    def counts(self) -> dict[str, int]:
        out = {"total": len(self.items), "overdue": self.overdue, "marked": 0, "add": 0, "remove": 0,
               rules.INDIVIDUAL: 0, rules.PRACTICE_WIDE: 0}
        for item in self.items:
            out[item.op] += 1
            out[item.source] += 1
            out["marked"] += item.marked_by is not None
        return out

    def describe(self) -> str:
        c = self.counts()
        if not c["total"]:
            return "Nothing to code: every event in the register is confirmed in the clinical system."
        text = (f"{c['total']:,} code{'s' if c['total'] != 1 else ''} to key in the clinical system "
                f"({c['add']:,} to add, {c['remove']:,} to remove; {c[rules.PRACTICE_WIDE]:,} practice-wide). "
                f"{c['overdue']:,} past the coding target of {self.target_days} working days.")
        if c["marked"]:
            text += (f" {c['marked']:,} marked as coded by someone but not yet confirmed: the next reconciliation "
                     "checks them.")
        return text


# ---- the coding target (a practice setting) ---------------------------------------------------

def target_days(session: Session) -> int:
    """On either engine (store/backend.py)."""
    with session.read_store("view_coding") as register:
        return target_of(register.coding_target())


def _target(conn) -> int:
    return target_of(settings_store.coding_target_working_days(conn))


def target_of(stored: int | None) -> int:
    """The coding target in working days: the practice's saved one, else the default."""
    return rules.DEFAULT_TARGET_WORKING_DAYS if stored is None else stored


def set_target_days(session: Session, days: int) -> ChangeSet:
    if not isinstance(days, int) or not 1 <= days <= rules.MAX_TARGET_WORKING_DAYS:
        raise ValidationError(f"The coding target is 1 to {rules.MAX_TARGET_WORKING_DAYS} working days.", "coding_target")
    with session.write("settings", changes_register=False) as ctx:
        ctx.store.set_coding_target(days)
        ctx.audit("settings.coding_target", detail=f"working_days={days}")
    return ChangeSet(f"Codes are now due in the clinical system within {days} working days.", ctx.revision,
                     areas=frozenset({"settings", "coding"}), data={"coding_target": days})


# ---- the worklist -----------------------------------------------------------------------------

def worklist(session: Session) -> Worklist:
    today = session.today()
    with session.read_store("view_coding") as register:
        return build(register, session.codes, today)


def build(register, codes: CodeTable, today: date) -> Worklist:
    """The worklist from either engine's store (store/backend.py RegisterStore)."""
    stored = register.coding_target()
    target = rules.DEFAULT_TARGET_WORKING_DAYS if stored is None else stored
    latest = register.practice_latest()
    individual: list[rules.WorkItem] = []
    iso = date.fromisoformat
    code_of = {(c.objection, c.action): c for c in codes.codes}
    Item, INDIVIDUAL, ADD = rules.WorkItem, rules.INDIVIDUAL, rules.ADD
    seen: dict[str, tuple[date, date]] = {}

    def since_due(stamp: str) -> tuple[date, date]:
        """(UK day, due day) of a stored timestamp; its date and hour decide both, and a list
        holds few distinct ones, so each is worked out once."""
        key = stamp[:13]
        found = seen.get(key)
        if found is None:
            day = rules.uk_day(stamp)
            found = seen[key] = (day, rules.add_working_days(day, target))
        return found

    for (event_id, patient_id, kind, action, effective, recorded_at, coded_by,
         nhs, title, forenames, surname, dob) in register.unconfirmed_events():
        since, due = since_due(recorded_at)
        individual.append(Item(f"E{event_id}", INDIVIDUAL, ADD, patient_id, nhs, title, forenames, surname, iso(dob),
                               code_of[(kind, action)], iso(effective), since, due, coded_by))
    practice: list[rules.WorkItem] = []
    pw_code = rules.practice_wide_code(codes)
    for (row_id, patient_id, op, effective, queued_at, confirmed, opted_in, objects,
         nhs, title, forenames, surname, dob) in latest:
        task = rules.practice_wide(op, bool(confirmed), bool(opted_in), bool(objects)).task
        if task is None:
            continue
        since, due = since_due(queued_at)
        # An opt-in after a confirmed add asks for a removal dated the day it was noticed.
        record = iso(effective) if task == op else today
        practice.append(Item(f"P{row_id}", rules.PRACTICE_WIDE, task, patient_id, nhs, title, forenames, surname,
                             iso(dob), pw_code, record, since, due))
    newcomers: list[rules.WorkItem] = []
    on = _on(register.policy_history(), today)
    if on is not None:
        # Added to the register since it was turned on: asked for the code like everyone else.
        for patient_id, created_at, nhs, title, forenames, surname, dob in register.practice_newcomers():
            since, due = since_due(created_at)
            newcomers.append(Item(f"N{patient_id}", rules.PRACTICE_WIDE, ADD, patient_id, nhs, title, forenames,
                                  surname, iso(dob), pw_code, max(since, on.effective), since, due))
    # Each list comes from the store oldest first, so already in due order: merge, not sort.
    items = list(heapq.merge(individual, practice, newcomers, key=attrgetter("due")))
    return Worklist(items, today, target)


def to_csv(worklist: Worklist) -> str:
    """The worklist as CSV (columns in docs/clinical-system.md), one row per code."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for i in worklist.items:
        writer.writerow([
            i.ref, i.op, i.source, nhs_display(i.nhs_number) if i.nhs_number else "", i.surname, i.forenames,
            i.title, i.dob.strftime("%d/%m/%Y"), i.code.snomed, i.code.meaning, i.code.read_v2, i.code.ctv3,
            i.record_date.strftime("%d/%m/%Y"), i.since.isoformat(), i.due.isoformat(),
            "yes" if i.overdue(worklist.today) else "no", i.state, i.marked_by or "",
        ])
    return out.getvalue()


def _export(session: Session, what: str, out: Path, render) -> tuple[Worklist, int]:
    """The export is a read of every listed patient: one audit row with the count (as the
    exclusion file's export does), never the identifiers. The file is written inside the
    transaction, so a failed write leaves no audit row claiming it (and no half-written file)."""
    with session.write("coding_worklist", changes_register=False) as ctx:
        wl = build(ctx.store, session.codes, session.today())
        ctx.audit(f"coding.worklist.{what}", detail=f"rows={len(wl.items)} overdue={wl.overdue}")
        atomic.write_bytes(Path(out), render(wl, ctx.store))
    return wl, ctx.revision


def export_csv(session: Session, out: Path) -> ChangeSet:
    wl, revision = _export(session, "csv", out, lambda wl, _store: to_csv(wl).encode("utf-8-sig"))
    return ChangeSet(f"Coding worklist written: {wl.describe()}", revision, areas=frozenset({"coding"}),
                     data={"path": str(out), "rows": len(wl.items)})


def export_checklist(session: Session, out: Path) -> ChangeSet:
    from ..reports import checklist

    # The letterhead from the same transaction's store: either engine (ADR 0015).
    wl, revision = _export(session, "checklist", out, lambda wl, store: checklist.render(wl, store.practice_details()))
    return ChangeSet(f"Coding checklist written ({len(wl.items):,} rows).", revision, areas=frozenset({"coding"}),
                     data={"path": str(out), "rows": len(wl.items)})


# ---- the practice-wide opt-out, as GPs applied it ---------------------------------------------

def practice_wide_on(conn, today: date) -> PolicyChange | None:
    """The change that turned the practice-wide opt-out on, if it is on today."""
    return _on(policy_store.history(conn), today)


def _on(history: list[PolicyChange], today: date) -> PolicyChange | None:
    return practice_policy.current_policy(history, as_of=today) if practice_policy.is_on(history, today) else None


def on_policy_change(ctx: WriteContext, state: str, policy_id: int, effective: date, now: datetime) -> int:
    """In the same transaction as the policy change (either engine's write): list the
    practice-wide adds (on) or removals (off). Returns how many were listed; audited with the count."""
    if state == "on":
        n = ctx.store.list_practice_adds(policy_id, effective, now)
    else:
        # It was on until now (policy.check_change refuses "off" twice), so the unlisted were asked too.
        n = ctx.store.list_practice_removals(policy_id, effective, now, unlisted=True)
    ctx.audit(f"coding.practice_wide.{'add' if state == 'on' else 'remove'}", detail=f"policy={policy_id} rows={n}")
    return n


@dataclass(frozen=True)
class PracticeWideSummary:
    to_add: int
    to_remove: int
    in_place: int  # confirmed adds standing (the code is in the clinical system)
    spared: int  # patients with a practice-wide add who object individually: their code stays


def practice_wide_summary(session: Session) -> PracticeWideSummary:
    """On either engine (store/backend.py)."""
    with session.read_store("view_coding") as register:
        rows = register.practice_latest(with_patient=False)
        newcomers = len(register.practice_newcomers(with_patient=False)) if _on(
            register.policy_history(), session.today()) else 0
    add, remove, in_place, spared = newcomers, 0, 0, 0
    for _id, _pid, op, _eff, _q, confirmed, opted_in, objects in rows:
        if objects and op == rules.ADD:
            spared += 1
            continue
        pw = rules.practice_wide(op, bool(confirmed), bool(opted_in), bool(objects))
        add += pw.task == rules.ADD
        remove += pw.task == rules.REMOVE
        in_place += pw.task is None and pw.expect is True
    return PracticeWideSummary(add, remove, in_place, spared)
